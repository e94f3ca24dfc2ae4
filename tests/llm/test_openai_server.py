"""The openai backend against the REAL local server (llama-cpp-python + embedded SmolLM2-135M).

The 135M model's answers are poor; these tests check structure: parsed tool calls, schema-valid
objects, counts, and errors. Generation is kept short so the suite stays fast on 2 cores.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import openai  # noqa: F401 - imported up front: timings below measure requests, not this import
import pytest
from pydantic import BaseModel, Field

from ise_trace.config import LLMConfig
from ise_trace.errors import LLMError
from ise_trace.llm import RequestRejected, SamplingParams, make_chat_model
from ise_trace.llm.server import ModelServer

pytestmark = pytest.mark.slow

SHORT = SamplingParams(temperature=0.2, max_tokens=24, seed=7)
EXEC = {
    "type": "function",
    "function": {
        "name": "exec",
        "description": "Run a shell command in the workspace.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string", "maxLength": 24}},
            "required": ["command"],
        },
    },
}
READ = {
    "type": "function",
    "function": {
        "name": "read",
        "description": "Read a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "maxLength": 24}},
            "required": ["path"],
        },
    },
}


class UserTurn(BaseModel):
    message: str = Field(max_length=60)
    done: bool
    mood: Literal["calm", "annoyed"]


def client(server, **options):
    return make_chat_model("openai", server.model, server.base_url, backoff_initial_s=0.1, **options)


def test_plain_chat(llm_server):
    reply = asyncio.run(client(llm_server).chat([{"role": "user", "content": "Say hello."}], sampling=SHORT))
    assert reply.content and reply.content.strip()
    assert reply.tool_calls == []
    assert reply.model == llm_server.model
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= SHORT.max_tokens
    assert reply.finish_reason in ("stop", "length")
    assert reply.latency_s > 0


def test_required_tool_call_comes_back_with_object_arguments(llm_server):
    messages = [{"role": "user", "content": "List the files in the current folder."}]
    sampling = SamplingParams(temperature=0.2, max_tokens=48, seed=1)
    reply = asyncio.run(client(llm_server).chat(messages, tools=[EXEC, READ], sampling=sampling, tool_choice="required"))
    assert reply.finish_reason == "tool_calls"
    assert 1 <= len(reply.tool_calls) <= 3
    for call in reply.tool_calls:
        assert call.function.name in ("exec", "read")
        assert isinstance(call.function.arguments, dict)
        key = "command" if call.function.name == "exec" else "path"
        assert isinstance(call.function.arguments[key], str)


def test_named_tool_choice_calls_that_tool(llm_server):
    messages = [{"role": "user", "content": "Show me notes.txt"}]
    choice = {"type": "function", "function": {"name": "read"}}
    reply = asyncio.run(client(llm_server).chat(messages, tools=[EXEC, READ], sampling=SamplingParams(max_tokens=80, seed=4), tool_choice=choice))
    assert [c.function.name for c in reply.tool_calls][:1] == ["read"]
    assert set(reply.tool_calls[0].function.arguments) == {"path"}


def test_auto_tool_choice_gives_text_or_well_formed_calls(llm_server):
    messages = [{"role": "user", "content": "Run ls."}]
    reply = asyncio.run(client(llm_server).chat(messages, tools=[EXEC], sampling=SamplingParams(max_tokens=40, seed=3)))
    if reply.tool_calls:
        assert all(c.function.name == "exec" and "command" in c.function.arguments for c in reply.tool_calls)
    else:
        assert reply.content and not reply.content.startswith("<tool_call>")


def test_multi_turn_history_with_tool_results_is_accepted(llm_server):
    messages = [
        {"role": "system", "content": "You are a shell assistant."},
        {"role": "user", "content": "What is in this folder?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "exec", "arguments": {"command": "ls"}}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "exec", "content": "notes.txt\nreport.md"},
    ]
    reply = asyncio.run(client(llm_server).chat(messages, tools=[EXEC], sampling=SHORT, tool_choice="none"))
    assert reply.content and reply.tool_calls == []


def test_structured_output_matches_the_schema(llm_server):
    messages = [{"role": "user", "content": "You asked the agent to list files and it did. Write your next message."}]
    model = client(llm_server)
    turn = asyncio.run(model.structured(messages, UserTurn, sampling=SamplingParams(temperature=0.3, max_tokens=80, seed=5)))
    assert isinstance(turn, UserTurn)
    assert len(turn.message) <= 60 and turn.mood in ("calm", "annoyed")
    assert model.stats.structured_failures == 0


class LongTurn(BaseModel):
    """The simulator's reply shape: free-length strings before a required flag."""

    query: str
    reason: str
    completed: bool


def test_structured_reply_with_a_small_max_tokens_parses_through_the_server(llm_server):
    """The server budgets string lengths from max_tokens, so the JSON closes before the cap:
    every one of three seeds parses at the first attempt."""
    messages = [{"role": "user", "content": "Write a very long, detailed message about everything that went wrong."}]
    model = client(llm_server)
    for seed in range(3):
        turn = asyncio.run(model.structured(messages, LongTurn, max_attempts=1,
                                            sampling=SamplingParams(temperature=0.8, max_tokens=32, seed=seed)))
        assert isinstance(turn.completed, bool)
    assert model.stats.structured_failures == 0


def test_eight_concurrent_requests_are_all_answered(llm_server):
    model = client(llm_server)
    sampling = SamplingParams(temperature=0.7, max_tokens=8)

    async def many():
        return await asyncio.gather(
            *(model.chat([{"role": "user", "content": f"Give me a word about the number {i}."}], sampling=sampling) for i in range(8))
        )

    replies = asyncio.run(many())
    assert len(replies) == 8
    assert all(r.content and r.content.strip() for r in replies)
    assert model.stats.requests == 8 and model.stats.failures == 0


def test_wrong_path_on_the_real_server_is_a_404_hint(llm_server):
    model = make_chat_model("openai", llm_server.model, llm_server.base_url.removesuffix("/v1"))
    started = time.monotonic()
    with pytest.raises(RequestRejected, match="404"):
        asyncio.run(model.chat([{"role": "user", "content": "hi"}], sampling=SHORT))
    assert time.monotonic() - started < 2


def test_server_killed_mid_run_is_retried_then_reported(tmp_path):
    """Kill the server while requests are in flight: retries, then one clear error, within seconds."""
    config = LLMConfig(n_ctx=2048, n_threads=1)
    with ModelServer("llama-cpp", host="127.0.0.1", config=config, log_path=tmp_path / "server.log") as server:
        model = client(server, max_retries=3, connect_retries=2)
        long_prompt = "Summarise this log. " + "worker ok; " * 300
        sampling = SamplingParams(max_tokens=64, temperature=0.7)

        async def in_flight_then_kill():
            tasks = [asyncio.create_task(model.chat([{"role": "user", "content": long_prompt}], sampling=sampling)) for _ in range(3)]
            await asyncio.sleep(0.5)
            server.process.kill()  # the server process dies, as on an OOM kill
            started = time.monotonic()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return results, time.monotonic() - started

        results, waited = asyncio.run(in_flight_then_kill())
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors, "all requests finished before the kill; the test needs a longer prompt"
    assert all(isinstance(e, LLMError) and "cannot reach the model server" in str(e) for e in errors)
    assert model.stats.retries >= len(errors)
    assert waited < 8


def test_client_waiting_on_a_restarting_server_recovers(tmp_path):
    """A patient client (many connect retries) gets its answer once the server is back."""
    config = LLMConfig(n_ctx=2048, n_threads=1)
    server = ModelServer("llama-cpp", host="127.0.0.1", config=config, log_path=tmp_path / "server.log")
    model = client(server, connect_retries=60, backoff_max_s=0.5)

    async def ask_while_down():
        task = asyncio.create_task(model.chat([{"role": "user", "content": "hi"}], sampling=SHORT))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)
        return await task

    try:
        reply = asyncio.run(ask_while_down())
    finally:
        server.stop()
    assert reply.content
    assert model.stats.retries >= 2
