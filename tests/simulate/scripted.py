"""Scripted stand-in chat models for deterministic unit tests of the episode loop.

They are NOT model servers and are never used where a real model is the point (those tests use
the `llm_server` fixture). `structured()` goes through the LLM layer's real validation and retry
path, so schema rules (strict booleans) are exercised exactly as with a server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ise_trace.llm.base import ChatReply, ClientStats
from ise_trace.llm.structured import structured_with_retries
from ise_trace.schemas import DomainSpec, FunctionCall, Intent, Persona, RendererInfo, TaskSpec, ToolCall

Step = ChatReply | str | Exception | Callable[[list[dict[str, Any]]], "ChatReply | str"]


class ScriptedChatModel:
    """Replays a fixed list of replies (or computes one from the messages), one per call."""

    def __init__(self, name: str, script: list[Step] | None = None, policy: Callable | None = None):
        self.model = name
        self.script = list(script or [])
        self.policy = policy  # stateless: used once the script is empty (safe for concurrent episodes)
        self.seen: list[list[dict[str, Any]]] = []  # every message list this model was called with
        self.tool_choices: list[Any] = []  # the tool_choice of every chat call
        self.stats = ClientStats()

    def _next(self, messages: list[dict[str, Any]]) -> ChatReply | str:
        self.seen.append([dict(m) for m in messages])
        if self.script:
            step = self.script.pop(0)
        elif self.policy is not None:
            step = self.policy
        else:
            raise RuntimeError(f"scripted model {self.model} ran out of replies")
        if isinstance(step, Exception):
            raise step
        return step(messages) if callable(step) else step

    async def chat(self, messages, tools=None, sampling=None, tool_choice=None) -> ChatReply:
        self.tool_choices.append(tool_choice)
        step = self._next(messages)
        return step if isinstance(step, ChatReply) else ChatReply(content=step)

    async def structured(self, messages, schema, sampling=None, max_attempts=3):
        async def ask(conversation):
            step = self._next(conversation)
            return step.content if isinstance(step, ChatReply) else step

        return await structured_with_retries(ask, messages, schema, max_attempts, self.stats)


_ids = iter(range(1, 1_000_000))


def calls(*pairs: tuple[str, dict[str, Any]], text: str | None = None) -> ChatReply:
    """An agent reply calling tools: calls(("exec", {"command": "ls"}), ...)."""
    return ChatReply(
        content=text,
        tool_calls=[ToolCall(id=f"call_{next(_ids)}", function=FunctionCall(name=n, arguments=a)) for n, a in pairs],
    )


def user(query: str, completed: bool = False, success: bool = False, reason: str = "scripted") -> str:
    """A simulator reply as the JSON text a server would send."""
    return json.dumps({"completed": completed, "query": query, "reason": reason, "is_success": success})


def make_intent(intent_id: str = "intent-0001", text: str = "Set up a notes file for my team.") -> Intent:
    return Intent(
        id=intent_id,
        text=text,
        persona=Persona(
            id="p-1",
            name="Dana Whitfield",
            role="data analyst",
            industry="logistics",
            experience_level="mid-level",
            communication_style="terse and practical",
            work_context="prepares weekly shipment reports",
            expertise=["spreadsheets", "basic shell"],
        ),
        domains=[DomainSpec(name="File-IO", tasks=[TaskSpec(name="create file", description="Write a text file.")])],
        complexity="simple",
        seed=7,
        renderer=RendererInfo(model="test-renderer", prompt_version="render-v1"),
    )
