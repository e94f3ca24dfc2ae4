"""The execution digest: what really ran during one agent turn, as the simulator sees it.

The published reference showed its simulator only the agent's final text, so a user could
praise work that never happened. Here every user turn is written after reading this record:
each tool call with its command or path, exit code and an excerpt of any error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Argument names that say what a tool call acted on, in the order they are looked for.
_TARGET_KEYS = ("command", "pattern", "query", "path", "file_path", "directory")


def call_target(arguments: dict[str, Any]) -> str:
    """The command or path a tool call acted on, for display and for matching claims."""
    parts = []
    for key in _TARGET_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    if not parts:
        return ""
    # grep/glob name a pattern and a path: show both; others have exactly one.
    return parts[0] if len(parts) == 1 else f"{parts[0]} in {parts[1]}"


def excerpt(text: str, limit: int) -> str:
    """The tail of `text` on one line: errors are usually printed last."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else "..." + flat[-(limit - 3):]


@dataclass(frozen=True)
class ExecutedCall:
    tool: str
    target: str
    exit_code: int | None
    is_error: bool
    error_excerpt: str = ""

    def render(self) -> str:
        shown_target = self.target if len(self.target) <= 160 else self.target[:157] + "..."
        head = f"{self.tool} `{shown_target}`" if shown_target else self.tool
        if not self.is_error:
            return f"{head} -> ok" + (f" (exit {self.exit_code})" if self.tool == "exec" else "")
        code = f"exit {self.exit_code}" if self.exit_code is not None else "error"
        return f"{head} -> FAILED ({code})" + (f": {self.error_excerpt}" if self.error_excerpt else "")


@dataclass
class TurnDigest:
    """The tool calls of one agent turn, in order."""

    calls: list[ExecutedCall] = field(default_factory=list)

    @property
    def failed(self) -> list[ExecutedCall]:
        return [c for c in self.calls if c.is_error]

    @property
    def ends_in_failure(self) -> bool:
        return bool(self.calls) and self.calls[-1].is_error

    def render(self) -> str:
        if not self.calls:
            return "Record of what ran: the assistant ran no commands and touched no files in that reply."
        lines = [f"Record of what ran ({len(self.calls)} tool calls, {len(self.failed)} failed):"]
        lines += [f"{i}. {c.render()}" for i, c in enumerate(self.calls, 1)]
        return "\n".join(lines)
