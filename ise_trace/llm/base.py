"""The one chat interface every stage uses to talk to a language model.

Messages (OpenAI chat format, plain dicts) and optional tools go in; a `ChatReply` comes out,
with tool-call arguments already parsed into objects. Backends implement `ChatModel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, Union, runtime_checkable

from pydantic import BaseModel

from ..errors import LLMError
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
class ClientStats:
    """Counters a caller can report: how often the model server needed retries or failed."""

    requests: int = 0  # calls to chat() (and one per structured attempt)
    retries: int = 0  # extra HTTP/engine attempts after a retryable failure
    failures: int = 0  # calls that ended in LLMError
    empty_replies: int = 0
    structured_attempts: int = 0
    structured_failures: int = 0  # structured() calls that raised StructuredOutputError
    prompt_tokens: int = 0
    completion_tokens: int = 0


# "auto" (model decides), "none", "required" (must call a tool), or
# {"type": "function", "function": {"name": ...}} (must call that tool).
ToolChoice = Union[str, dict[str, Any]]


@dataclass
class ChatReply:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_content: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""
    finish_reason: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The assistant message in our trajectory format (arguments stay objects)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning_content:
            message["reasoning_content"] = self.reasoning_content
        if self.tool_calls:
            message["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        return message


class StructuredOutputError(Exception):
    """A structured reply still failed its schema after the bounded retries."""

    def __init__(self, message: str, attempts: int, last_text: str | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.last_text = last_text


class RequestRejected(LLMError):
    """The server refused a request as invalid (HTTP 4xx other than 429): retrying will not help."""

    def __init__(self, message: str, status: int, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.detail = detail


@runtime_checkable
class ChatModel(Protocol):
    """What Stage I and Stage S depend on. Implementations must be safe to call concurrently."""

    model: str  # model name, recorded in provenance

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: SamplingParams | None = None,
        tool_choice: ToolChoice | None = None,
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
