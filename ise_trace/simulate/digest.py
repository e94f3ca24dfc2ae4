"""The execution digest: what really ran during one agent turn, as the simulator sees it.

The published reference showed its simulator only the agent's final text, so a user could
praise work that never happened. Here every user turn is written after reading this record:
each tool call with its command or path, its exit code, and an excerpt (head and tail) of what it
printed or of the file text it read or wrote, so "show me the output" is answered by the output.
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
    """Head and tail of `text` within `limit` characters: a command's first lines say what it is
    doing, its last lines how it ended."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = max((limit - 40) // 2, 10)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters not shown ...]\n{text[-half:]}"


def call_excerpt(tool: str, arguments: dict[str, Any], result_text: str, limit: int) -> str:
    """What the simulator is shown of one call: the file text for a write, else what came back."""
    if tool == "write" and isinstance(arguments.get("content"), str):
        return excerpt(arguments["content"], limit)
    return excerpt(result_text, limit)


@dataclass(frozen=True)
class ExecutedCall:
    tool: str
    target: str
    exit_code: int | None
    is_error: bool
    output: str = ""  # excerpt of what it printed, read or wrote

    def render(self, with_output: bool = True) -> str:
        shown_target = self.target if len(self.target) <= 160 else self.target[:157] + "..."
        head = f"{self.tool} `{shown_target}`" if shown_target else self.tool
        if not self.is_error:
            line = f"{head} -> ok" + (f" (exit {self.exit_code})" if self.tool == "exec" else "")
        else:
            code = f"exit {self.exit_code}" if self.exit_code is not None else "error"
            line = f"{head} -> FAILED ({code})"
        if with_output and self.output:
            what = "content written" if self.tool == "write" and not self.is_error else "output"
            line += f"\n   {what}:\n" + "\n".join("   | " + l for l in self.output.splitlines())
        return line


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

    def render(self, max_chars: int = 4000) -> str:
        """The record, outputs included until `max_chars`; later calls then show only their outcome.
        The last call keeps its output when it can: it is the one the reply is about."""
        if not self.calls:
            return "Record of what ran: the assistant ran no commands and touched no files in that reply."
        lines = [f"Record of what ran ({len(self.calls)} tool calls, {len(self.failed)} failed):"]
        used = len(lines[0])
        rendered = [c.render() for c in self.calls]
        last_full = len(rendered[-1])
        for i, (call, full) in enumerate(zip(self.calls, rendered), 1):
            last = i == len(self.calls)  # always shown whole: it is bounded by the per-call excerpt
            room = max_chars - used - (0 if last else last_full)
            text = full if last or len(full) <= room else call.render(with_output=False) + " (output not shown: record too long)"
            lines.append(f"{i}. {text}")
            used += len(text)
        return "\n".join(lines)
