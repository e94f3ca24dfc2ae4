"""Between our messages and the OpenAI wire format, shared by every backend.

Our trajectories keep tool-call arguments as objects; the OpenAI API wants them as JSON
strings. Replies come back as chat.completion dicts (from the SDK's `model_dump()`, from
llama-cpp-python, or built by the vLLM backend) and become a `ChatReply` here.
"""

from __future__ import annotations

import json
from typing import Any

from ..schemas import FunctionCall, ToolCall
from .base import ChatReply, Usage
from .tool_markup import ToolMarkupError, has_tool_markup, parse_arguments, parse_tool_markup, split_reasoning


class MalformedReply(Exception):
    """A reply the server sent that cannot be used (no choices, empty, broken tool call)."""


def to_wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy messages into the OpenAI request shape (tool-call arguments as JSON strings)."""
    wire = []
    for message in messages:
        if hasattr(message, "model_dump"):
            message = message.model_dump(exclude_none=True)
        out = {k: v for k, v in message.items() if v is not None}
        if out.get("role") == "assistant":
            out.pop("reasoning_content", None)  # servers reject or re-render it differently
            calls = out.get("tool_calls")
            if calls:
                # content is left out rather than null: llama-cpp-python's server rejects null.
                out["tool_calls"] = [_call_to_wire(c) for c in calls]
            else:
                out.pop("tool_calls", None)
                out.setdefault("content", "")
        wire.append(out)
    return wire


def _call_to_wire(call: dict[str, Any]) -> dict[str, Any]:
    fn = call["function"]
    args = fn.get("arguments", {})
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": fn["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
    }


def reply_from_completion(
    data: dict[str, Any], tools: list[dict[str, Any]] | None, latency_s: float, calls_allowed: bool = True
) -> ChatReply:
    """Turn a chat.completion dict into a ChatReply; raise MalformedReply if it is unusable.

    With `calls_allowed` false (the request said tool_choice "none") the reply is its text only:
    a server that still sent calls, or tool markup a small model imitated from its history, must
    not run anything."""
    choices = data.get("choices") or []
    if not choices:
        raise MalformedReply("reply has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning is None:
        reasoning, content = split_reasoning(content)
    try:
        calls = [
            ToolCall(
                id=c.get("id") or f"call_{i}",
                function=FunctionCall(name=c["function"]["name"], arguments=parse_arguments(c["function"].get("arguments"))),
            )
            for i, c in enumerate(message.get("tool_calls") or [])
        ] if calls_allowed else []
        if not calls and tools and calls_allowed and has_tool_markup(content):
            content, calls = parse_tool_markup(content, tools)
    except ToolMarkupError as e:
        # Cut off by max_tokens, a call is not malformed but unfinished: the text is returned
        # as it is, with finish_reason "length" for the caller to judge. Otherwise it is retried.
        if choice.get("finish_reason") != "length":
            raise MalformedReply(str(e)) from None
        calls = []
    finish = choice.get("finish_reason")
    if calls and finish == "stop":
        finish = "tool_calls"
    if not calls and not (content and content.strip()):
        raise MalformedReply(f"empty reply (finish_reason={finish})")
    usage = data.get("usage") or {}
    return ChatReply(
        content=content,
        tool_calls=calls,
        reasoning_content=reasoning,
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        ),
        latency_s=latency_s,
        model=data.get("model") or "",
        finish_reason=finish,
    )


def reply_to_log(reply: ChatReply) -> dict[str, Any]:
    message = reply.to_message()
    message["usage"] = {"prompt_tokens": reply.usage.prompt_tokens, "completion_tokens": reply.usage.completion_tokens}
    message["finish_reason"] = reply.finish_reason
    message["model"] = reply.model
    return message
