"""The openai backend's retries and errors, against a scripted stand-in server on loopback.

The stand-in (tests/llm/standin_server.py) replays canned HTTP replies so that 5xx, 429,
empty and malformed replies happen on demand; the real server is used in test_openai_server.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import openai  # noqa: F401 - imported up front: timings below measure requests, not this import
import pytest
from pydantic import BaseModel, Field

from ise_trace.errors import LLMError
from ise_trace.llm import RequestRejected, SamplingParams, StructuredOutputError, make_chat_model
from ise_trace.llm.server import free_port

from .standin_server import Scripted, StandinServer, completion

FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05}
USER = [{"role": "user", "content": "hi"}]


class Verdict(BaseModel):
    done: bool
    reason: str = Field(max_length=40)


def run(coro):
    return asyncio.run(coro)


def test_standin_malformed_structured_replies_raise_after_max_attempts():
    """A stand-in that never returns valid JSON: StructuredOutputError after exactly N requests."""
    with StandinServer([Scripted(completion('{"done": "maybe"'))]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        with pytest.raises(StructuredOutputError) as info:
            run(model.structured(USER, Verdict, max_attempts=3))
    assert info.value.attempts == 3
    assert info.value.last_text == '{"done": "maybe"'
    assert len(server.requests) == 3
    assert model.stats.structured_failures == 1
    # Each retry shows the model its invalid reply and what was wrong with it.
    last = server.requests[-1]["messages"]
    assert last[-2] == {"role": "assistant", "content": '{"done": "maybe"'}
    assert "does not match the schema" in last[-1]["content"]


def test_standin_structured_sends_json_schema_and_validates():
    with StandinServer([Scripted(completion('```json\n{"done": true, "reason": "tests pass"}\n```'))]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        verdict = run(model.structured(USER, Verdict))
    assert verdict == Verdict(done=True, reason="tests pass")
    response_format = server.requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["required"] == ["done", "reason"]


FASTAPI_422 = Scripted(
    {"detail": [{"loc": ["body", "response_format", "type"], "msg": "Input should be 'text' or 'json_object'"}]},
    status=422,
)
# What a stock llama-cpp-python server answers (its error handler turns validation errors into 500).
LLAMA_CPP_500 = Scripted(
    {
        "error": {
            "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
            "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
            "type": "internal_server_error",
        }
    },
    status=500,
)


@pytest.mark.parametrize("rejected", [FASTAPI_422, LLAMA_CPP_500], ids=["422", "llama-cpp-500"])
def test_standin_structured_falls_back_when_json_schema_is_rejected(rejected):
    """The stand-in rejects response_format json_schema as servers without it do."""
    ok = Scripted(completion('{"done": false, "reason": "no"}'))
    with StandinServer([rejected, ok]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        assert run(model.structured(USER, Verdict)).done is False
        run(model.structured(USER, Verdict))
    kinds = [r["response_format"]["type"] for r in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]  # the fallback is remembered
    assert "schema" in server.requests[1]["response_format"]


def test_standin_5xx_and_429_are_retried_then_succeed():
    script = [
        Scripted({"error": {"message": "overloaded"}}, status=503),
        Scripted({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0"}),
        Scripted(completion("hello")),
    ]
    with StandinServer(script) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        reply = run(model.chat(USER))
    assert reply.content == "hello"
    assert len(server.requests) == 3
    assert model.stats.retries == 2


def test_standin_empty_replies_are_retried_then_reported():
    with StandinServer([Scripted(completion(""))]) as server:
        model = make_chat_model("openai", None, server.base_url, max_retries=2, **FAST)
        with pytest.raises(LLMError, match="kept failing .*empty reply"):
            run(model.chat(USER))
    assert len(server.requests) == 3
    assert model.stats.empty_replies == 3
    assert model.stats.failures == 1


def test_standin_client_errors_are_not_retried():
    with StandinServer([Scripted({"error": {"message": "bad max_tokens"}}, status=400)]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        with pytest.raises(RequestRejected, match="HTTP 400"):
            run(model.chat(USER))
    assert len(server.requests) == 1


def test_standin_wrong_path_gives_a_404_hint():
    with StandinServer([Scripted(completion("x"))]) as server:
        model = make_chat_model("openai", "m", server.base_url.removesuffix("/v1") + "/api", **FAST)
        started = time.monotonic()
        with pytest.raises(RequestRejected, match="404.*base URL") as info:
            run(model.chat(USER))
    assert info.value.status == 404
    assert time.monotonic() - started < 2


def test_standin_text_tool_calls_are_parsed_into_objects():
    text = '<tool_call>\n{"name": "exec", "arguments": {"command": "ls"}}\n</tool_call>'
    tools = [{"type": "function", "function": {"name": "exec", "parameters": {"type": "object"}}}]
    with StandinServer([Scripted(completion(text))]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        reply = run(model.chat(USER, tools=tools))
    assert reply.content is None
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls[0].function.arguments == {"command": "ls"}


def test_standin_native_tool_call_with_broken_arguments_is_retried():
    broken = completion(None, [{"id": "c1", "type": "function", "function": {"name": "exec", "arguments": '{"command": '}}])
    good = completion(None, [{"id": "c2", "type": "function", "function": {"name": "exec", "arguments": '{"command": "ls"}'}}])
    with StandinServer([Scripted(broken), Scripted(good)]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        reply = run(model.chat(USER, tools=[{"type": "function", "function": {"name": "exec"}}]))
    assert reply.tool_calls[0].id == "c2"
    assert reply.tool_calls[0].function.arguments == {"command": "ls"}


def test_standin_request_carries_sampling_extra_body_and_string_arguments(tmp_path):
    history = USER + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "exec", "arguments": {"command": "ls"}}}],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "exec", "content": "a.txt"},
    ]
    log_path = tmp_path / "requests.jsonl"
    with StandinServer([Scripted(completion("done"))]) as server:
        model = make_chat_model(
            "openai", None, server.base_url, extra_body={"chat_template_kwargs": {"enable_thinking": False}},
            log_path=str(log_path), **FAST,
        )
        run(model.chat(history, sampling=SamplingParams(temperature=0.1, top_p=0.5, max_tokens=7, seed=3)))
    sent = server.requests[0]
    assert sent["model"] == "standin-model"  # asked from /v1/models when not given
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (0.1, 0.5, 7, 3)
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert sent["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"command": "ls"}'
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["reply"]["content"] == "done"
    assert records[0]["sampling"]["seed"] == 3


def test_wrong_base_url_fails_fast_with_a_clear_error():
    port = free_port()  # nothing listens there
    model = make_chat_model("openai", "m", f"http://127.0.0.1:{port}/v1", backoff_initial_s=0.25)
    started = time.monotonic()
    with pytest.raises(LLMError, match=f"cannot reach the model server at http://127.0.0.1:{port}/v1 .*refused"):
        run(model.chat(USER))
    assert time.monotonic() - started < 2.5
    assert model.stats.failures == 1


def test_model_listing_on_an_unreachable_server_fails_fast():
    model = make_chat_model("openai", None, f"http://127.0.0.1:{free_port()}/v1")
    started = time.monotonic()
    with pytest.raises(LLMError, match="cannot reach"):
        run(model.chat(USER))
    assert time.monotonic() - started < 2.5


def test_unknown_backend_and_option_are_config_errors():
    from ise_trace.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown LLM backend 'gpt'"):
        make_chat_model("gpt")
    with pytest.raises(ConfigError, match="timeout_sec"):
        make_chat_model("openai", "m", "http://127.0.0.1:1/v1", timeout_sec=3)


def test_standin_tool_choice_none_never_yields_a_call():
    """A small model imitates the tool markup of its history even when told not to call (and a
    server may send calls anyway): with tool_choice "none" the reply is text, nothing to run."""
    tool = {"type": "function", "function": {"name": "exec", "description": "run", "parameters": {
        "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}
    markup = '<tool_call>\n{"name": "exec", "arguments": {"command": "ls"}}\n</tool_call>'
    sent_call = [{"id": "c1", "type": "function", "function": {"name": "exec", "arguments": '{"command": "ls"}'}}]
    with StandinServer([Scripted(completion(markup)), Scripted(completion("Listed it.", sent_call)), Scripted(completion(markup))]) as server:
        model = make_chat_model("openai", None, server.base_url, **FAST)
        imitated = run(model.chat(USER, tools=[tool], tool_choice="none"))
        sent = run(model.chat(USER, tools=[tool], tool_choice="none"))
        free = run(model.chat(USER, tools=[tool]))
    assert imitated.tool_calls == [] and "<tool_call>" in imitated.content
    assert sent.tool_calls == [] and sent.content == "Listed it."
    assert [c.function.name for c in free.tool_calls] == ["exec"]  # without "none" the markup is a call
    assert [r.get("tool_choice") for r in server.requests] == ["none", "none", None]
