"""Several servers of one model behind one ChatModel, routed by load.

    model = RoutedChatModel([make_chat_model("openai", "Qwen/Qwen3-8B", url) for url in urls])

Each request goes to the server with the fewest requests outstanding (ties rotate), so a slow
server gets less work instead of a fixed share, as `slot % len` pinning gave it. A server whose
request fails (unreachable, or still failing after the client's own retries: an `LLMError`
that is not a `RequestRejected`) is taken out for `cooldown_s` (doubled on each failure in a
row, up to `max_cooldown_s`) and the request goes to the next server. When every server is out,
the one due back first is tried anyway: a request fails only when no server answers it. A
refused request (HTTP 4xx) or a schema failure is the request's problem, not the server's: it
is raised as it is and the server stays in.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..errors import LLMError
from .base import ChatModel, ChatReply, ClientStats, RequestRejected, SamplingParams, T, ToolChoice

log = logging.getLogger(__name__)

COOLDOWN_S = 15.0
MAX_COOLDOWN_S = 300.0


@dataclass
class _Server:
    model: ChatModel
    name: str
    outstanding: int = 0
    failures_in_row: int = 0
    down_until: float = 0.0  # monotonic time; 0: in service
    served: int = 0
    failed: int = 0


class RoutedChatModel:
    """A ChatModel over several servers of the same model: least outstanding requests first."""

    def __init__(self, models: list[ChatModel], names: list[str] | None = None, cooldown_s: float = COOLDOWN_S,
                 max_cooldown_s: float = MAX_COOLDOWN_S, clock=time.monotonic):
        if not models:
            raise ValueError("RoutedChatModel needs at least one model")
        names = names or [getattr(m, "base_url", None) or f"server {i}" for i, m in enumerate(models)]
        self.servers = [_Server(m, n) for m, n in zip(models, names)]
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._turn = itertools.count()

    @property
    def model(self) -> str:
        return self.servers[0].model.model

    @property
    def stats(self) -> ClientStats:
        """The servers' client counters, added up."""
        total = ClientStats()
        for s in self.servers:
            inner = getattr(s.model, "stats", None)
            if inner is not None:
                for key, value in vars(inner).items():
                    setattr(total, key, getattr(total, key) + value)
        return total

    def load(self) -> list[dict[str, Any]]:
        """Per server: outstanding requests, served, failed, and whether it is in service now."""
        now = self._clock()
        return [{"server": s.name, "outstanding": s.outstanding, "served": s.served, "failed": s.failed,
                 "in_service": s.down_until <= now} for s in self.servers]

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: SamplingParams | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> ChatReply:
        return await self._route(lambda m: m.chat(messages, tools=tools, sampling=sampling, tool_choice=tool_choice))

    async def structured(self, messages: list[dict[str, Any]], schema: type[T], sampling: SamplingParams | None = None,
                         max_attempts: int = 3) -> T:
        return await self._route(lambda m: m.structured(messages, schema, sampling=sampling, max_attempts=max_attempts))

    async def aclose(self) -> None:
        for s in self.servers:
            close = getattr(s.model, "aclose", None)
            if close is not None:
                await close()

    # ------------------------------------------------------------------ routing

    def _pick(self, tried: set[int]) -> _Server | None:
        now = self._clock()
        left = [s for i, s in enumerate(self.servers) if i not in tried]
        if not left:
            return None
        up = [s for s in left if s.down_until <= now]
        if not up:  # every server left is out: try the one due back first rather than fail outright
            return min(left, key=lambda s: s.down_until)
        fewest = min(s.outstanding for s in up)
        tied = [s for s in up if s.outstanding == fewest]
        return tied[next(self._turn) % len(tied)]

    async def _route(self, call):
        tried: set[int] = set()
        last: LLMError | None = None
        while (server := self._pick(tried)) is not None:
            tried.add(self.servers.index(server))
            server.outstanding += 1
            try:
                result = await call(server.model)
            except RequestRejected:
                raise
            except LLMError as e:
                self._take_out(server, e)
                last = e
                continue
            finally:
                server.outstanding -= 1
            server.served += 1
            if server.failures_in_row:
                log.info("model server %s answers again; back in service", server.name)
            server.failures_in_row = 0
            server.down_until = 0.0
            return result
        assert last is not None
        raise last

    def _take_out(self, server: _Server, error: LLMError) -> None:
        server.failed += 1
        server.failures_in_row += 1
        pause = min(self.cooldown_s * 2 ** (server.failures_in_row - 1), self.max_cooldown_s)
        server.down_until = self._clock() + pause
        if len(self.servers) > 1:
            log.warning("model server %s failed (%s); out of service for %.0fs, requests go to the others",
                        server.name, error, pause)
