"""The agent-side record of an episode: messages, execution records and digest entries.

An agent step (an assistant message with tool calls and their tool messages) is committed in
one go, so a step cut short by a time budget or a crash never leaves a call without its result.
The chat-format copy of the messages grows with the record instead of being rebuilt per call.
"""

from __future__ import annotations

from typing import Any

from ..schemas import AssistantMessage, ExecutionRecord, Message, SystemMessage, ToolMessage, UserMessage
from .digest import ExecutedCall


def chat_dict(message: Message) -> dict[str, Any]:
    data = message.model_dump(exclude_none=True)
    if isinstance(message, AssistantMessage) and not message.tool_calls:
        data.pop("tool_calls", None)
    return data


class Transcript:
    def __init__(self, system_prompt: str):
        self.messages: list[Message] = []
        self.chat: list[dict[str, Any]] = []
        self.executions: list[ExecutionRecord] = []
        self.calls: list[ExecutedCall] = []
        self._append(SystemMessage(content=system_prompt))

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        self.chat.append(chat_dict(message))

    def add_user(self, text: str) -> None:
        self._append(UserMessage(content=text))

    def add_answer(self, message: AssistantMessage) -> None:
        self._append(message)

    def add_step(
        self,
        message: AssistantMessage,
        results: list[ToolMessage],
        executions: list[ExecutionRecord],
        calls: list[ExecutedCall],
    ) -> None:
        self._append(message)
        for result in results:
            self._append(result)
        self.executions += executions
        self.calls += calls

    @property
    def tool_calls(self) -> int:
        return len(self.executions)

    @property
    def user_turns(self) -> int:
        return sum(isinstance(m, UserMessage) for m in self.messages)
