"""Fit a conversation into a model's context by eliding old message bodies, never the record.

Tool outputs run up to 64 KiB and an episode up to 120 calls: sent whole, a long episode overflows
any context, and the overflow would end the episode as a model error. What is sent is a copy in
which the oldest bodies (tool outputs first, then other turns) are cut to a short head with a
marker, until the estimate fits; the stored trajectory keeps everything. The system prompt and
the latest messages are never cut.
"""

from __future__ import annotations

import json
from typing import Any

# Characters per token, on the low side (code and JSON tokenize densely), so the estimate is safe.
CHARS_PER_TOKEN = 3.0
KEEP_HEAD_CHARS = 200
KEEP_LAST = 3  # the newest messages are what the model must answer: never elided


def estimate_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    size = len(json.dumps(messages, ensure_ascii=False)) + (len(json.dumps(tools, ensure_ascii=False)) if tools else 0)
    return int(size / CHARS_PER_TOKEN) + 8 * len(messages)


def _elided(content: str) -> str:
    return f"{content[:KEEP_HEAD_CHARS]}\n[... {len(content) - KEEP_HEAD_CHARS} characters elided to fit the context ...]"


def fit_to_context(
    messages: list[dict[str, Any]], budget_tokens: int, tools: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """`messages` when they fit `budget_tokens`, else a copy with the oldest bodies elided."""
    tokens = estimate_tokens(messages, tools)
    if tokens <= budget_tokens:
        return messages
    out = [dict(m) for m in messages]
    candidates = range(1, max(len(out) - KEEP_LAST, 1))
    # Two passes: tool outputs (the bulk) first, then any other old body.
    for roles in ({"tool"}, {"user", "assistant", "tool"}):
        for i in candidates:
            m = out[i]
            content = m.get("content")
            if m.get("role") in roles and isinstance(content, str) and len(content) > KEEP_HEAD_CHARS + 80:
                m["content"] = _elided(content)
                tokens -= int((len(content) - len(m["content"])) / CHARS_PER_TOKEN)  # escapes ignored: close enough
                if tokens <= budget_tokens:
                    return out
    return out  # as small as it gets without cutting the newest turns
