"""The in-process `llama-cpp` backend with the embedded model: grammars make replies parse."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, Field

from ise_trace.llm import SamplingParams, make_chat_model

pytestmark = pytest.mark.slow

WRITE = {
    "type": "function",
    "function": {
        "name": "write",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "maxLength": 16}, "lines": {"type": "integer"}},
            "required": ["path", "lines"],
        },
    },
}


class Step(BaseModel):
    command: str = Field(max_length=40)
    risky: bool


@pytest.fixture(scope="module")
def embedded():
    return make_chat_model("llama-cpp", n_ctx=2048, n_threads=1)


def test_embedded_chat_and_provenance(embedded, tmp_path):
    reply = asyncio.run(embedded.chat([{"role": "user", "content": "Say hi."}], sampling=SamplingParams(max_tokens=12, seed=1)))
    assert reply.content
    assert embedded.model == "SmolLM2-135M-Instruct"
    assert reply.usage.completion_tokens <= 12


def test_embedded_tool_call_matches_the_parameter_schema(embedded):
    messages = [{"role": "user", "content": "Create notes.txt with 3 lines."}]
    reply = asyncio.run(
        embedded.chat(messages, tools=[WRITE], sampling=SamplingParams(max_tokens=48, seed=2), tool_choice="required")
    )
    assert reply.finish_reason == "tool_calls"
    args = reply.tool_calls[0].function.arguments
    assert set(args) == {"path", "lines"}
    assert isinstance(args["path"], str) and isinstance(args["lines"], int)


def test_embedded_structured_reply_is_valid(embedded):
    step = asyncio.run(
        embedded.structured([{"role": "user", "content": "Next shell step?"}], Step, sampling=SamplingParams(max_tokens=60, seed=3))
    )
    assert isinstance(step, Step)


def test_embedded_concurrent_calls_take_turns_safely(embedded):
    sampling = SamplingParams(max_tokens=6, temperature=0.8)

    async def four():
        return await asyncio.gather(*(embedded.chat([{"role": "user", "content": f"Word {i}?"}], sampling=sampling) for i in range(4)))

    replies = asyncio.run(four())
    assert len(replies) == 4 and all(r.content for r in replies)


class Note(BaseModel):
    """Unbounded strings first, a required field after them: a reply cut off inside `body`
    would miss `done` even once closed."""

    title: str
    body: str
    done: bool


@pytest.mark.parametrize("max_tokens", [24, 48, 96])
def test_embedded_structured_reply_with_a_small_max_tokens_closes_its_json(embedded, max_tokens):
    """Three seeds each, one attempt each: the string bounds derived from max_tokens make the
    model close the object in time (without them it writes the body until the cap)."""
    ask = [{"role": "user", "content": "Write a very long and detailed note about the history of Unix, "
                                       "with many paragraphs."}]
    for seed in range(3):
        note = asyncio.run(embedded.structured(
            ask, Note, sampling=SamplingParams(max_tokens=max_tokens, temperature=0.8, seed=seed), max_attempts=1))
        assert isinstance(note.done, bool) and note.body is not None
