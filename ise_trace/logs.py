"""Diagnostics through `logging`, configured once by the console script.

Modules log to `logging.getLogger(__name__)` (under `ise_trace`); progress lines and results are
not log records and keep their own streams. The console script picks the level:

    ise-trace -v simulate ...      # INFO: what each stage is doing and with which settings
    ise-trace -vv simulate ...     # DEBUG, other libraries' records too (httpx, datasets, ...)
    ise-trace --quiet build ...    # errors only
    ISE_TRACE_LOG_LEVEL=info ise-trace build ...   # the same, when no flag is given

Used as a library, ise-trace configures nothing: records go wherever the application sends them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from .config import LOG_LEVEL, LOG_LEVEL_ENV
from .errors import ConfigError

LEVELS = ("debug", "info", "warning", "error", "critical")


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests and callers swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.setStream assigns it; stderr is always current
        pass


class _Format(logging.Formatter):
    """'ise-trace warning: ...' at the default level; time and logger name when verbose."""

    def __init__(self, verbose: bool):
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "ise-trace %(levelname)s: %(message)s"
        super().__init__(fmt, datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


def level_from(verbose: int = 0, quiet: bool = False, env: dict[str, str] | None = None) -> int:
    """The level the flags (or, without flags, ISE_TRACE_LOG_LEVEL, or the default) ask for."""
    if quiet:
        return logging.ERROR
    if verbose:
        return logging.INFO if verbose == 1 else logging.DEBUG
    name = (env if env is not None else os.environ).get(LOG_LEVEL_ENV, "").strip() or LOG_LEVEL
    if name.lower() not in LEVELS:
        raise ConfigError(f"{LOG_LEVEL_ENV}={name}: not a log level; use one of {', '.join(LEVELS)}")
    return getattr(logging, name.upper())


@contextlib.contextmanager
def configured(level: int) -> Iterator[None]:
    """Send ise-trace's records at `level` and above to stderr (at DEBUG, every library's too)
    while the block runs; the loggers are as they were afterwards (the CLI runs in tests' processes too)."""
    ours, root = logging.getLogger("ise_trace"), logging.getLogger()
    before = (ours.level, root.level)
    handler = _Stderr()
    handler.setFormatter(_Format(verbose=level < logging.WARNING))
    target = root if level <= logging.DEBUG else ours  # at DEBUG ise_trace's records reach root by propagation
    ours.setLevel(level)
    if target is root:
        root.setLevel(level)
    target.addHandler(handler)
    try:
        yield
    finally:
        target.removeHandler(handler)
        ours.setLevel(before[0])
        root.setLevel(before[1])
