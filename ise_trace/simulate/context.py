"""Fit a conversation into a model's context by eliding old message bodies, never the record.

Tool outputs run up to 64 KiB and an episode up to 120 calls: sent whole, a long episode overflows
any context, and the overflow would end the episode as a model error. What is sent is a copy in
which the oldest bodies (tool outputs first, then other turns) are cut to a short head with a
marker, until the estimate fits; the stored trajectory keeps everything. The system prompt and
the latest messages are never cut. When cutting bodies is not enough, whole old agent steps (an
assistant message with its tool results) are left out, oldest first, so a call never arrives
without its result.
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


def _elided(content: str, head: int = KEEP_HEAD_CHARS) -> str:
    return f"{content[:head]}\n[... {len(content) - head} characters elided to fit the context ...]"


def fit_to_context(
    messages: list[dict[str, Any]], budget_tokens: int, tools: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """`messages` when they fit `budget_tokens`, else a copy with the oldest bodies elided."""
    tokens = estimate_tokens(messages, tools)
    if tokens <= budget_tokens:
        return messages
    out = [dict(m) for m in messages]
    # No single body may take more than a quarter of the budget, the newest included: a 64 KiB
    # output cannot be sent to an 8k model whole. Head and tail are kept.
    cap = int(budget_tokens * CHARS_PER_TOKEN / 4)
    for m in out[1:]:
        content = m.get("content")
        if isinstance(content, str) and len(content) > cap:
            half = cap // 2
            m["content"] = f"{content[:half]}\n[... {len(content) - 2 * half} characters elided to fit the context ...]\n{content[-half:]}"
            tokens -= int((len(content) - len(m["content"])) / CHARS_PER_TOKEN)
    if tokens <= budget_tokens:
        return out
    candidates = range(1, max(len(out) - KEEP_LAST, 1))
    # Passes from mild to severe: tool outputs (the bulk) cut to a head, then any old body, then
    # bodies cut to the marker alone.
    for roles, head in (({"tool"}, KEEP_HEAD_CHARS), ({"user", "assistant", "tool"}, KEEP_HEAD_CHARS),
                        ({"user", "assistant", "tool"}, 0)):
        for i in candidates:
            m = out[i]
            content = m.get("content")
            if m.get("role") in roles and isinstance(content, str) and len(content) > head + 80:
                m["content"] = _elided(content, head)
                tokens -= int((len(content) - len(m["content"])) / CHARS_PER_TOKEN)  # escapes ignored: close enough
                if tokens <= budget_tokens:
                    return out
    return _drop_old_steps(out, budget_tokens, tools)


def _drop_old_steps(out: list[dict[str, Any]], budget_tokens: int, tools) -> list[dict[str, Any]]:
    """Leave out the oldest assistant steps with their tool results (after the first user turn)."""
    first_user = next((i for i, m in enumerate(out) if m.get("role") == "user"), 0)
    head, body, tail = out[: first_user + 1], out[first_user + 1 : len(out) - KEEP_LAST], out[len(out) - KEEP_LAST :]
    while body and estimate_tokens(head + body + tail, tools) > budget_tokens:
        end = 1
        while end < len(body) and body[end].get("role") == "tool":
            end += 1
        body = body[end:]
    while tail and tail[0].get("role") == "tool" and not body:  # never a result without its call
        tail = tail[1:]
    return head + body + tail
