"""Structured replies: a JSON schema from a pydantic model, validation, bounded retries.

Every backend constrains decoding where it can (response_format, grammars, guided decoding),
and every reply is still validated here: constraints do not cover all of pydantic's rules
(and a reply cut off by max_tokens is not valid JSON). A failed reply is shown back to the
model with the validation error before the next attempt.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable, TypeVar

from pydantic import BaseModel, ValidationError

from .base import ClientStats, StructuredOutputError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    return schema.model_json_schema()


def schema_instruction(schema: type[BaseModel]) -> str:
    return (
        "Answer with a single JSON object and nothing else. It must follow this JSON schema:\n"
        + json.dumps(json_schema_of(schema), separators=(",", ":"))
    )


def with_schema_instruction(messages: list[dict[str, Any]], schema: type[BaseModel]) -> list[dict[str, Any]]:
    """Put the schema in the system prompt too: constrained decoding alone leaves the model guessing."""
    instruction = schema_instruction(schema)
    messages = [dict(m) for m in messages]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0].get('content') or ''}\n\n{instruction}".strip()
    else:
        messages.insert(0, {"role": "system", "content": instruction})
    return messages


def json_text(text: str) -> str:
    """The JSON part of a reply: unwraps a code fence, or takes the outermost {...}."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        return fenced.group(1)
    if not text.startswith("{"):
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return text[start : end + 1]
    return text


def validate(text: str | None, schema: type[T]) -> tuple[T | None, str]:
    """(instance, "") when the text is valid for the schema, else (None, why not)."""
    if not text or not text.strip():
        return None, "the reply was empty"
    try:
        return schema.model_validate_json(json_text(text)), ""
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()[:5]
        )
        return None, problems


async def structured_with_retries(
    ask: Callable[[list[dict[str, Any]]], Awaitable[str | None]],
    messages: list[dict[str, Any]],
    schema: type[T],
    max_attempts: int,
    stats: ClientStats,
) -> T:
    """Call `ask(messages)` until its text validates, at most `max_attempts` times."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    conversation = with_schema_instruction(messages, schema)
    last_text: str | None = None
    problem = ""
    for attempt in range(1, max_attempts + 1):
        stats.structured_attempts += 1
        last_text = await ask(conversation)
        instance, problem = validate(last_text, schema)
        if instance is not None:
            return instance
        if attempt < max_attempts:
            conversation = conversation + [
                {"role": "assistant", "content": last_text or ""},
                {
                    "role": "user",
                    "content": f"That reply does not match the schema ({problem}). "
                    "Send the corrected JSON object only.",
                },
            ]
    stats.structured_failures += 1
    raise StructuredOutputError(
        f"no reply matched {schema.__name__} after {max_attempts} attempts; last problem: {problem}",
        attempts=max_attempts,
        last_text=last_text,
    )
