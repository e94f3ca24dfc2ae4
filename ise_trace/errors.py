"""User-facing errors: the CLI prints the message alone and exits non-zero.

Raise `UserError` (or a subclass) for anything a user can fix: a bad file, a bad flag, a server
that is down. The message must say which file/line/field is wrong and what to do about it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input or environment, reported as one clear line, exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A bad configuration file or option."""


class SandboxError(UserError):
    """The Docker engine or the workspace image is not usable."""


class LLMError(UserError):
    """A model server is unreachable or keeps failing."""


def where(path: object, line: int | None = None, field: str | None = None) -> str:
    """Format a location prefix 'path:line: field' for error messages."""
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if field:
        loc += f": field '{field}'"
    return loc
