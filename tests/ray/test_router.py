"""Model servers routed by load: least outstanding requests first, a failing server out and back.

Unit tests over in-process models (a fake clock decides when a server is due back), then the
real openai backend against two loopback stand-in servers, one of which is not there.
"""

from __future__ import annotations

import asyncio

import pytest

from ise_trace.errors import LLMError
from ise_trace.llm.base import ChatReply, RequestRejected
from ise_trace.llm.router import RoutedChatModel

from .standin import standin_server


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Server:
    """An in-process stand-in: answers after `gate` opens, or raises what `fail` holds."""

    def __init__(self, name: str) -> None:
        self.model = "m"
        self.name = name
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def chat(self, messages, tools=None, sampling=None, tool_choice=None):
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        if self.gate is not None:
            await self.gate.wait()
        return ChatReply(content=self.name)

    async def structured(self, messages, schema, sampling=None, max_attempts=3):
        return await self.chat(messages)


def test_requests_go_to_the_server_with_fewest_outstanding():
    async def main():
        a, b, c = Server("a"), Server("b"), Server("c")
        a.gate = asyncio.Event()  # a is slow: its requests stay outstanding
        router = RoutedChatModel([a, b, c], names=["a", "b", "c"])
        slow = [asyncio.create_task(router.chat([])) for _ in range(3)]  # one to each server, a's never ends
        await asyncio.sleep(0)
        replies = [(await router.chat([])).content for _ in range(6)]
        assert [s["outstanding"] for s in router.load()] == [1, 0, 0]
        assert set(replies) == {"b", "c"} and replies.count("b") == 3  # a is busy: b and c take turns
        a.gate.set()
        await asyncio.gather(*slow)

    asyncio.run(main())


def test_a_failing_server_is_taken_out_and_tried_again_later():
    async def main():
        clock = Clock()
        a, b = Server("a"), Server("b")
        a.fail = LLMError("cannot reach the model server at a")
        router = RoutedChatModel([a, b], names=["a", "b"], cooldown_s=10, clock=clock)
        assert {(await router.chat([])).content for _ in range(5)} == {"b"}  # the failed request went on to b
        assert a.calls == 1  # taken out after its failure: not asked again while out
        clock.now += 11
        a.fail = None
        replies = [(await router.chat([])).content for _ in range(4)]
        assert "a" in replies and a.calls >= 2  # back in service once its pause is over
        assert router.load()[0]["in_service"] and router.load()[0]["failed"] == 1

    asyncio.run(main())


def test_repeated_failures_lengthen_the_pause_and_all_out_still_tries_them():
    async def main():
        clock = Clock()
        a, b = Server("a"), Server("b")
        a.fail = b.fail = LLMError("down")
        router = RoutedChatModel([a, b], names=["a", "b"], cooldown_s=10, clock=clock)
        with pytest.raises(LLMError):
            await router.chat([])  # every server failed this request: both out for 10 s
        assert (a.calls, b.calls) == (1, 1)
        b.fail = None
        # Both out: the one due back first (a tie: a) is tried anyway, fails again, then b answers.
        assert (await router.chat([])).content == "b"
        assert a.calls == 2 and router.servers[0].down_until - clock.now == pytest.approx(20)  # a's second pause
        assert router.servers[1].down_until == 0  # b answered: back in service at once
        clock.now += 21
        a.fail = None
        assert "a" in {(await router.chat([])).content for _ in range(3)}

    asyncio.run(main())


def test_a_refused_request_is_raised_and_the_server_stays_in():
    async def main():
        a, b = Server("a"), Server("b")
        a.fail = RequestRejected("bad request", status=400)
        router = RoutedChatModel([a, b], names=["a", "b"])
        with pytest.raises(RequestRejected):
            for _ in range(2):
                await router.chat([])
        assert router.load()[0]["in_service"] and b.calls <= 1

    asyncio.run(main())


def test_openai_backend_over_a_live_and_a_dead_standin_server():
    from ise_trace.llm import make_chat_model

    from .cluster import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with standin_server() as server:
        async def main():
            models = [make_chat_model("openai", "standin-model", url, connect_retries=0) for url in (dead, server.base_url)]
            router = RoutedChatModel(models)
            replies = [await router.chat([{"role": "user", "content": "hi"}]) for _ in range(5)]
            await router.aclose()
            return replies, router.load()

        replies, load = asyncio.run(main())
    assert all(r.content for r in replies)
    assert load[0] == {"server": dead, "outstanding": 0, "served": 0, "failed": 1, "in_service": False}
    assert load[1]["served"] == 5 and len(server.requests) == 5
