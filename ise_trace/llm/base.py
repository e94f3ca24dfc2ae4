"""The one chat interface every stage uses to talk to a language model.

Messages (OpenAI chat format, plain dicts) and optional tools go in; a `ChatReply` comes out,
with tool-call arguments already parsed into objects. Backends implement `ChatModel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from ..schemas import ToolCall

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class ChatReply:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_content: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""
    finish_reason: str | None = None


class StructuredOutputError(Exception):
    """A structured reply still failed its schema after the bounded retries."""

    def __init__(self, message: str, attempts: int, last_text: str | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.last_text = last_text


@runtime_checkable
class ChatModel(Protocol):
    """What Stage I and Stage S depend on. Implementations must be safe to call concurrently."""

    model: str  # model name, recorded in provenance

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: SamplingParams | None = None,
    ) -> ChatReply: ...

    async def structured(
        self,
        messages: list[dict[str, Any]],
        schema: type[T],
        sampling: SamplingParams | None = None,
        max_attempts: int = 3,
    ) -> T:
        """Reply validated against `schema`; raises StructuredOutputError after max_attempts."""
        ...
