"""The agent's tools: OpenAI function schemas and their execution in a workspace.

The agent sees text (exec's includes the exit code); the trajectory keeps a structured record.
Nothing the agent sends can raise: an unknown tool, a bad or missing argument, a path outside
/workspace, a NUL byte or a lone surrogate ("\ud800" is valid JSON, not valid UTF-8) all come
back as an error result the agent can read and recover from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .workspace import Workspace

FILE_OP_TIMEOUT_S = 30.0


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecArgs(ToolArgs):
    command: str = Field(description="Shell command, run with bash -c in the workspace.")
    timeout: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Seconds before the command is killed (default 30)."
    )
    workdir: str | None = Field(None, description="Directory to run in, inside /workspace (default /workspace).")


class ReadArgs(ToolArgs):
    path: str = Field(description="File to read, relative to /workspace or absolute inside it.")
    offset: int | None = Field(None, ge=1, description="First line to return (1-based).")
    limit: int | None = Field(None, ge=1, description="Maximum number of lines to return.")


class WriteArgs(ToolArgs):
    path: str = Field(description="File to create or overwrite; parent folders are created.")
    content: str = Field(description="The complete new content of the file.")


class EditArgs(ToolArgs):
    path: str = Field(description="File to edit.")
    old_text: str = Field(description="Exact text to replace; it must occur exactly once.")
    new_text: str = Field(description="Replacement text.")


class ListArgs(ToolArgs):
    path: str | None = Field(None, description="Directory to list (default /workspace).")


class GlobArgs(ToolArgs):
    pattern: str = Field(description="Glob pattern such as '**/*.py' or '*.csv'.")
    path: str | None = Field(None, description="Directory to search under (default /workspace).")


class GrepArgs(ToolArgs):
    pattern: str = Field(description="Regular expression to search file contents for.")
    path: str | None = Field(None, description="File or directory to search (default /workspace).")
    include: str | None = Field(None, description="Only search files whose name matches this glob, e.g. '*.py'.")
    ignore_case: bool | None = Field(None, description="Match case-insensitively.")


# Arguments that name a path or hold a command: no NUL byte can pass through a system call.
NO_NUL_FIELDS = {"path", "command", "workdir"}


def unsendable(args: ToolArgs) -> str | None:
    """Why these arguments cannot reach the workspace (a NUL byte in a path or command, a lone
    surrogate anywhere), or None."""
    for field, value in args:
        if not isinstance(value, str):
            continue
        if field in NO_NUL_FIELDS and "\x00" in value:
            return f"'{field}' contains a NUL byte (\\x00), which no path or command can hold"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return (
                f"'{field}' contains an invalid Unicode code point U+{ord(value[e.start]):04X} (a lone surrogate) "
                f"at position {e.start}; send valid UTF-8 text"
            )
    return None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[ToolArgs]


TOOLS: dict[str, ToolSpec] = {
    t.name: t
    for t in [
        ToolSpec("exec", "Run a shell command in the workspace and return its output and exit code.", ExecArgs),
        ToolSpec("read", "Read a text file (optionally a range of lines).", ReadArgs),
        ToolSpec("write", "Create or overwrite a file with the given content.", WriteArgs),
        ToolSpec("edit", "Replace one exact, unique occurrence of old_text with new_text in a file.", EditArgs),
        ToolSpec("list", "List the entries of a directory.", ListArgs),
        ToolSpec("glob", "Find files whose paths match a glob pattern.", GlobArgs),
        ToolSpec("grep", "Search file contents for a regular expression; prints file:line: text.", GrepArgs),
    ]
}


def _schema(spec: ToolSpec) -> dict[str, Any]:
    params = spec.args.model_json_schema()
    props = {}
    for key, prop in params["properties"].items():
        prop = dict(prop)
        prop.pop("title", None)
        prop.pop("default", None)
        if "anyOf" in prop:  # Optional[X] -> X: a plain type is what function-calling models expect
            prop.update(next(p for p in prop.pop("anyOf") if p.get("type") != "null"))
        props[key] = prop
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": {"type": "object", "properties": props, "required": params.get("required", [])},
        },
    }


TOOL_SCHEMAS: list[dict[str, Any]] = [_schema(spec) for spec in TOOLS.values()]


@dataclass
class ToolResult:
    content: str  # exactly what the agent sees
    exit_code: int | None
    duration_ms: float
    is_error: bool
    truncated: bool = False
    recycled: bool = False


def _error(message: str) -> ToolResult:
    return ToolResult(content=f"error: {message}", exit_code=None, duration_ms=0.0, is_error=True)


def parse_arguments(name: str, arguments: dict[str, Any] | str | None) -> ToolArgs | str:
    """Validated arguments, or the error message to show the agent."""
    if name not in TOOLS:
        return f"unknown tool '{name}'; available tools: {', '.join(TOOLS)}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as e:
            return f"arguments for {name} are not valid JSON ({e.msg}); send a JSON object"
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return f"arguments for {name} must be a JSON object"
    try:
        return TOOLS[name].args(**arguments)
    except ValidationError as e:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in err['loc']) or name}': {err['msg'].lower()}" for err in e.errors()
        )
        return f"invalid arguments for {name}: {problems}"


async def run_tool(ws: Workspace, name: str, arguments: dict[str, Any] | str | None) -> ToolResult:
    """Execute one tool call in `ws`. Never raises for anything the agent sent."""
    args = parse_arguments(name, arguments)
    if isinstance(args, str):
        return _error(args)
    problem = unsendable(args)
    if problem:
        return _error(f"invalid arguments for {name}: {problem}")
    if isinstance(args, ExecArgs):
        r = await ws.exec(args.command, timeout_s=args.timeout, workdir=args.workdir)
        content = r.output if r.recycled else f"{r.output.rstrip()}\n[exit code: {r.exit_code}]".lstrip("\n")
    else:
        payload = args.model_dump(exclude_none=True)
        if isinstance(args, ReadArgs):
            payload["cap"] = ws.config.output_limit_bytes
        r = await ws.run_op(name, FILE_OP_TIMEOUT_S, **payload)
        content = r.output
    return ToolResult(
        content=content, exit_code=r.exit_code, duration_ms=r.duration_ms, is_error=r.is_error,
        truncated=r.truncated, recycled=r.recycled,
    )
