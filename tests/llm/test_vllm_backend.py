"""The in-process vLLM backend: a clear message where vllm is absent; real generation on GPU hosts."""

from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest
from pydantic import BaseModel

from ise_trace.errors import UserError
from ise_trace.llm import SamplingParams, make_chat_model

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="checks the message shown where vllm is absent")
def test_vllm_backend_without_vllm_says_what_to_install():
    with pytest.raises(UserError, match=r"pip install 'ise-trace\[vllm\]'"):
        make_chat_model("vllm", "Qwen/Qwen3-0.6B")


class Answer(BaseModel):
    answer: str


def _vllm_skip_reason() -> str | None:
    if not HAS_VLLM:
        return "vllm is not installed (pip install 'ise-trace[vllm]' on a CUDA host)"
    if not os.environ.get("ISE_TRACE_VLLM_TEST_MODEL"):
        return "set ISE_TRACE_VLLM_TEST_MODEL to a model vLLM can load offline (a name in the HF cache or a folder)"
    return None


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(_vllm_skip_reason() is not None, reason=_vllm_skip_reason() or "")
def test_vllm_batch_chat_structured_and_tool_calls():
    model = make_chat_model("vllm", os.environ["ISE_TRACE_VLLM_TEST_MODEL"], vllm_engine_kwargs={"gpu_memory_utilization": 0.5})
    tools = [{"type": "function", "function": {"name": "exec", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
    sampling = SamplingParams(max_tokens=64, temperature=0.0)

    async def scenario():
        replies = await model.chat_batch([[{"role": "user", "content": f"Say {i}."}] for i in range(4)], sampling=sampling)
        answer = await model.structured([{"role": "user", "content": "Capital of France?"}], Answer, sampling=sampling)
        call = await model.chat([{"role": "user", "content": "List files."}], tools=tools, sampling=sampling, tool_choice="required")
        return replies, answer, call

    replies, answer, call = asyncio.run(scenario())
    assert len(replies) == 4 and all(r.content for r in replies)
    assert isinstance(answer, Answer)
    assert call.tool_calls[0].function.name == "exec" and isinstance(call.tool_calls[0].function.arguments, dict)
