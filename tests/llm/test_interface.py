"""Every backend satisfies the ChatModel protocol; replies become trajectory messages."""

from __future__ import annotations

from ise_trace.llm import ChatModel, ChatReply, make_chat_model
from ise_trace.schemas import AssistantMessage, FunctionCall, ToolCall


def test_backends_satisfy_the_chat_model_protocol():
    assert isinstance(make_chat_model("openai", "m", "http://127.0.0.1:1/v1"), ChatModel)
    embedded = make_chat_model("llama-cpp")  # the model file loads on first use, not here
    assert isinstance(embedded, ChatModel)
    assert embedded.model == "SmolLM2-135M-Instruct"


def test_reply_to_message_keeps_arguments_as_objects():
    reply = ChatReply(
        content=None,
        reasoning_content="look first",
        tool_calls=[ToolCall(id="c1", function=FunctionCall(name="exec", arguments={"command": "ls"}))],
    )
    message = reply.to_message()
    assert message["tool_calls"][0]["function"]["arguments"] == {"command": "ls"}
    assert AssistantMessage.model_validate(message).reasoning_content == "look first"
