"""The REAL embedded server (llama-cpp-python + SmolLM2-135M) under abandoned and uncapped
requests: a client that goes away stops the generation, and a request without max_tokens
gets the configured cap instead of writing until the context is full."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from ise_trace.config import LLMConfig
from ise_trace.llm.server import ModelServer

pytestmark = pytest.mark.slow

DEFAULT_CAP = 48


def endless_json_format() -> dict:
    """A reply format the model cannot finish early: one string of at least 6,000 characters."""
    schema = {"type": "object", "properties": {"story": {"type": "string", "minLength": 6000}}, "required": ["story"]}
    return {"type": "json_schema", "json_schema": {"name": "Story", "schema": schema}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = LLMConfig(n_ctx=4096, n_threads=1, default_max_tokens=DEFAULT_CAP)
    with ModelServer("llama-cpp", host="127.0.0.1", config=config,
                     log_path=tmp_path_factory.mktemp("server") / "server.log") as server:
        yield server


def post(server: ModelServer, body: dict, timeout: float = 120.0) -> dict:
    request = urllib.request.Request(f"{server.base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.load(reply)


def short_request(server: ModelServer) -> dict:
    return {"model": server.model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}


def send_and_drop(server: ModelServer, body: dict, after_s: float) -> None:
    """Send a request on a raw connection, then close it unanswered, as a timed-out client does."""
    data = json.dumps(body).encode()
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        time.sleep(after_s)


def test_abandoned_request_stops_generating_and_the_next_is_answered_promptly(server):
    """Without the disconnect check the dropped request would run its 1,500 tokens (tens of
    seconds on one thread) while the short one waits behind it."""
    started = time.monotonic()
    post(server, short_request(server))
    alone_s = time.monotonic() - started

    endless = {"model": server.model, "messages": [{"role": "user", "content": "Tell a long story."}],
               "max_tokens": 1500, "response_format": endless_json_format()}
    send_and_drop(server, endless, after_s=2.0)
    started = time.monotonic()
    reply = post(server, short_request(server))
    waited_s = time.monotonic() - started
    assert reply["choices"][0]["message"]["content"] is not None
    assert waited_s < alone_s + 8.0, f"short request waited {waited_s:.1f}s (alone: {alone_s:.1f}s)"


def test_request_without_max_tokens_gets_the_default_cap_and_still_closes_its_json(server):
    body = {"model": server.model, "messages": [{"role": "user", "content": "Tell a long story."}],
            "response_format": endless_json_format()}
    reply = post(server, body)
    choice = reply["choices"][0]
    assert reply["usage"]["completion_tokens"] == DEFAULT_CAP
    assert choice["finish_reason"] == "length"
    assert isinstance(json.loads(choice["message"]["content"])["story"], str)  # closed after the cut
