"""Tool calls that a server returned as text instead of structured `tool_calls`.

Two markups are common when a server runs without a tool-call parser:
- Hermes (Qwen2.5, Qwen3, Hermes, SmolLM with our embedded handler):
  `<tool_call>{"name": "exec", "arguments": {"command": "ls"}}</tool_call>`
- Qwen3-Coder XML:
  `<tool_call><function=exec><parameter=command>ls</parameter></function></tool_call>`
Also splits `<think>...</think>` reasoning off the visible content.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from ..schemas import FunctionCall, ToolCall

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_FUNCTION_XML = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_PARAMETER_XML = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|(?=<parameter=)|$)", re.DOTALL)
_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


class ToolMarkupError(ValueError):
    """Text holds a `<tool_call>` block that is not a well-formed call."""


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def split_reasoning(text: str | None) -> tuple[str | None, str | None]:
    """Return (reasoning, content) for text that may open with a `<think>` block."""
    if not text:
        return None, text
    match = _THINK.match(text)
    if not match:
        return None, text
    reasoning = match.group(1).strip() or None
    rest = text[match.end():]
    return reasoning, rest if rest.strip() else None


def has_tool_markup(text: str | None) -> bool:
    return bool(text) and "<tool_call>" in text


def parse_tool_markup(
    text: str, tools: list[dict[str, Any]] | None = None
) -> tuple[str | None, list[ToolCall]]:
    """Split text into (content outside the calls, parsed calls).

    `tools` (OpenAI function schemas) lets Qwen3-Coder XML parameter values, which arrive as
    bare text, be converted to the declared types. Raises ToolMarkupError on a broken block.
    """
    param_types = _parameter_types(tools or [])
    calls: list[ToolCall] = []
    for block in _TOOL_CALL_BLOCK.findall(text):
        body = block.strip()
        if not body:
            raise ToolMarkupError("empty <tool_call> block")
        if body.startswith("<function="):
            calls.extend(_parse_xml_calls(body, param_types))
        else:
            calls.append(_parse_json_call(body))
    content = _TOOL_CALL_BLOCK.sub("", text).strip()
    return (content or None), calls


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as an object: accepts a dict, a JSON object string, or a doubly encoded one."""
    value = raw
    for _ in range(2):  # servers sometimes encode the arguments string twice
        if isinstance(value, dict):
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ToolMarkupError(f"tool-call arguments are not valid JSON ({e.msg}): {raw!r:.200}") from None
    if isinstance(value, dict):
        return value
    raise ToolMarkupError(f"tool-call arguments must be a JSON object, got {type(value).__name__}")


def _parse_json_call(body: str) -> ToolCall:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as e:
        raise ToolMarkupError(f"<tool_call> body is not valid JSON ({e.msg}): {body!r:.200}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise ToolMarkupError(f"<tool_call> body needs a string 'name': {body!r:.200}")
    args = obj.get("arguments", obj.get("parameters", {}))
    return ToolCall(id=new_call_id(), function=FunctionCall(name=obj["name"], arguments=parse_arguments(args)))


def _parse_xml_calls(body: str, param_types: dict[str, dict[str, str]]) -> list[ToolCall]:
    calls = []
    for name, inner in _FUNCTION_XML.findall(body):
        types = param_types.get(name, {})
        args = {
            key: _convert_xml_value(_strip_one_newline(value), types.get(key))
            for key, value in _PARAMETER_XML.findall(inner)
        }
        calls.append(ToolCall(id=new_call_id(), function=FunctionCall(name=name, arguments=args)))
    if not calls:
        raise ToolMarkupError(f"<tool_call> holds no <function=...> element: {body!r:.200}")
    return calls


def _strip_one_newline(value: str) -> str:
    # The format puts values on their own lines; only that framing newline is not part of it.
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value


def _convert_xml_value(value: str, declared: str | None) -> Any:
    if declared == "string":
        return value
    if declared in ("integer", "number", "boolean", "object", "array", "null"):
        try:
            return json.loads(value.strip())
        except json.JSONDecodeError:
            if declared == "boolean" and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            return value
    # Undeclared: keep text unless it is plainly a JSON object or array.
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
    return value


def _parameter_types(tools: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    for tool in tools:
        fn = tool.get("function", tool)
        props = (fn.get("parameters") or {}).get("properties") or {}
        types[fn.get("name", "")] = {
            key: spec.get("type") for key, spec in props.items() if isinstance(spec.get("type"), str)
        }
    return types
