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


# Budgeting a structured reply so that it closes within max_tokens (see budget_schema).
# Measured on SmolLM2-135M made to write one long JSON string (200 tokens, five prompts): four
# ran 4.0-5.5 characters per token, one ran 1.0 (a token per character). 2.5 keeps typical
# replies roomy; after a reply was cut off anyway, the retry budgets the worst case, one.
CHARS_PER_TOKEN = 2.5
WORST_CHARS_PER_TOKEN = 1.0
# JSON punctuation and keys tokenize badly (a quote, a colon and a space are often a token each).
STRUCTURE_CHARS_PER_TOKEN = 1.5
# Share of max_tokens the budget hands out; the rest absorbs whitespace the grammar allows.
BUDGET_SHARE = 0.85
# An array without maxItems gets this many at most when its items are counted into the budget.
DEFAULT_MAX_ITEMS = 5
_MAX_DEPTH = 8  # recursive models: deeper levels count as one more slot


def budget_schema(
    schema: dict[str, Any], max_tokens: int | None, chars_per_token: float = CHARS_PER_TOKEN
) -> dict[str, Any]:
    """A copy of `schema` whose strings (maxLength) and arrays (maxItems) are bounded so that a
    reply following it fits in `max_tokens`.

    Grammar-constrained decoding makes a reply *valid while it lasts*, but max_tokens can stop
    it inside a long string, and the JSON never closes ("EOF while parsing a string"), attempt
    after attempt. Bounds in the schema become bounds in the grammar: the model must close each
    string early enough to leave room for the rest. Existing bounds are only ever lowered.
    """
    schema = json.loads(json.dumps(schema))  # a deep copy we may edit
    if not max_tokens or max_tokens <= 0:
        return schema
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}
    free, fixed_chars = _count_slots(schema, defs, 1, 0)
    budget_chars = (max_tokens * BUDGET_SHARE - fixed_chars / STRUCTURE_CHARS_PER_TOKEN) * chars_per_token
    cap = max(1, int(budget_chars / free)) if free else None
    _apply_bounds(schema, cap)
    return schema


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
        return defs.get(ref.rsplit("/", 1)[-1], {})
    return node


def _count_slots(node: Any, defs: dict[str, Any], times: float, depth: int) -> tuple[float, float]:
    """(free string slots, characters of fixed-size output) of one schema node, `times` over."""
    if not isinstance(node, dict):
        return 0.0, 0.0
    node = _resolve(node, defs)
    if depth > _MAX_DEPTH:
        return times, 0.0
    if "const" in node or "enum" in node:
        values = [node["const"]] if "const" in node else node["enum"]
        return 0.0, times * max((len(json.dumps(v)) for v in values), default=4)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:  # the widest branch decides
        counts = [_count_slots(b, defs, times, depth + 1) for b in branches]
        return max(c[0] for c in counts), max(c[1] for c in counts)
    kind = node.get("type")
    if kind == "string" or (kind is None and ("maxLength" in node or "pattern" in node)):
        if "pattern" in node or "format" in node or "maxLength" in node:
            return 0.0, times * (node.get("maxLength", 40) + 2)
        return times, times * 2.0  # the quotes
    if kind == "array" or "items" in node:
        items = node.get("items")
        if isinstance(items, list):
            parts = [_count_slots(i, defs, times, depth + 1) for i in items]
            return sum(p[0] for p in parts), sum(p[1] for p in parts) + times * 2
        n = node.get("maxItems", max(node.get("minItems", 0), DEFAULT_MAX_ITEMS))
        free, fixed = _count_slots(items or {}, defs, times * n, depth + 1)
        return free, fixed + times * (2 + 2 * n)
    if kind == "object" or "properties" in node:
        free, fixed = 0.0, times * 2.0
        for key, sub in (node.get("properties") or {}).items():
            f, c = _count_slots(sub, defs, times, depth + 1)
            free, fixed = free + f, fixed + c + times * (len(key) + 5)
        return free, fixed
    return 0.0, times * 8.0  # numbers, booleans, null


def _apply_bounds(node: Any, cap: int | None) -> None:
    """Lower maxLength of unconstrained strings to `cap`, and bound arrays (in place, everywhere)."""
    if isinstance(node, list):
        for item in node:
            _apply_bounds(item, cap)
        return
    if not isinstance(node, dict):
        return
    is_string = node.get("type") == "string" and not ({"const", "enum", "pattern", "format"} & node.keys())
    if is_string and cap is not None:
        node["maxLength"] = max(min(node.get("maxLength", cap), cap), node.get("minLength", 0))
    if node.get("type") == "array" and isinstance(node.get("items"), dict) and "maxItems" not in node:
        node["maxItems"] = max(node.get("minItems", 0), DEFAULT_MAX_ITEMS)
    for key, value in node.items():
        if key not in ("const", "enum", "default", "examples"):
            _apply_bounds(value, cap)


def reply_schema(schema: type[BaseModel], max_tokens: int | None, after_cut_off: bool) -> dict[str, Any]:
    """The JSON schema to request: as declared, or, after a reply that max_tokens cut off,
    bounded for the worst case (a token per character) so that the retry closes in time."""
    declared = json_schema_of(schema)
    return budget_schema(declared, max_tokens, WORST_CHARS_PER_TOKEN) if after_cut_off else declared


def close_json(text: str) -> str:
    """`text` cut short inside a JSON object, completed into valid JSON where that is possible.

    An open string value is closed (its text kept); a dangling key, colon, comma or a cut-off
    number or literal is dropped; open arrays and objects are closed. Text that is not a cut-off
    JSON object comes back unchanged. The result may still miss required fields: validation
    decides whether it is usable.
    """
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("{"):
        return text
    stack: list[str] = []  # closers of the open containers, innermost last
    expect: list[str] = []  # per container: "key", "colon", "value" or "comma"
    safe = ""  # the longest prefix known to close into valid JSON, closers included
    in_string = escaped = False
    string_is_value = False
    scalar_start: int | None = None
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if string_is_value:
                    expect[-1] = "comma"
                    safe = text[: i + 1] + "".join(reversed(stack))
                else:
                    expect[-1] = "colon"
            continue
        if scalar_start is not None:
            if ch in ",}] \t\r\n":
                scalar_start = None
                expect[-1] = "comma"
                safe = text[:i] + "".join(reversed(stack))
            else:
                continue
        if ch in " \t\r\n":
            continue
        if ch in "{[":
            if expect:
                expect[-1] = "comma"  # once closed, this container is a complete value
            stack.append("}" if ch == "{" else "]")
            expect.append("key" if ch == "{" else "value")
            safe = text[: i + 1] + "".join(reversed(stack))
        elif ch in "}]":
            if not stack:
                return text
            stack.pop()
            expect.pop()
            safe = text[: i + 1] + "".join(reversed(stack))
            if not stack:
                return text  # complete: whatever the problem is, it is not a cut-off
        elif ch == '"':
            in_string = True
            string_is_value = expect[-1] == "value"
        elif ch == ":":
            expect[-1] = "value"
        elif ch == ",":
            expect[-1] = "key" if stack[-1] == "}" else "value"
        else:
            scalar_start = i
    if in_string and string_is_value:
        body = text
        if escaped:
            body = body[:-1]  # a lone backslash would escape the closing quote
        body = re.sub(r"\\u[0-9a-fA-F]{0,3}$", "", body)  # half a \uXXXX escape
        return body + '"' + "".join(reversed(stack))
    if scalar_start is not None:
        tail = text[scalar_start:]
        if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null", tail):
            return text + "".join(reversed(stack))
    return safe or text


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
    """(instance, "") when the text is valid for the schema, else (None, why not).

    A reply cut off inside its JSON (by max_tokens) is closed first (close_json): what it
    already holds may be all the schema needs.
    """
    if not text or not text.strip():
        return None, "the reply was empty"
    candidate = json_text(text)
    try:
        return schema.model_validate_json(candidate), ""
    except ValidationError as e:
        repaired = close_json(candidate)
        if repaired == candidate:
            return None, _problems(e)
    try:
        return schema.model_validate_json(repaired), ""
    except ValidationError as e:
        return None, f"it was cut off before its JSON closed, so keep the values shorter; closed, it has {_problems(e)}"


def _problems(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()[:5])


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
