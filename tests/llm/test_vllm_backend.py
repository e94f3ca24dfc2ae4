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


class _StandinVLLM:
    """A scripted stand-in for the `vllm` module: records each LLM.chat batch, replies from a script."""

    def __init__(self, replies):
        self.replies = replies
        self.batches = []
        outer = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class StructuredOutputsParams:
            def __init__(self, json):
                self.json = json

        class LLM:
            def __init__(self, model, **kwargs):
                self.model = model

            def chat(self, conversations, sampling_params, tools=None, use_tqdm=False, chat_template_kwargs=None):
                outer.batches.append({"size": len(conversations), "tools": tools, "params": [p.kwargs for p in sampling_params]})
                return [outer._output(c[-1]["content"]) for c in conversations]

        self.LLM, self.SamplingParams = LLM, SamplingParams
        self.sampling_params = type("module", (), {"StructuredOutputsParams": StructuredOutputsParams})

    def _output(self, prompt):
        completion = type("C", (), {"text": self.replies(prompt), "token_ids": [1, 2], "finish_reason": "stop"})
        return type("O", (), {"outputs": [completion], "prompt_token_ids": [1, 2, 3]})


def test_standin_vllm_batches_concurrent_calls_and_parses_replies(monkeypatch):
    """Scripted stand-in for vllm (absent here): concurrent calls share one LLM.chat batch per tool set."""
    import sys

    def replies(prompt):
        if prompt == "call":
            return '<tool_call>\n{"name": "exec", "arguments": {"command": "ls"}}\n</tool_call>'
        if prompt == "force":
            return '{"name": "exec", "arguments": {"command": "pwd"}}'
        if prompt == "json":
            return '{"answer": "Paris"}'
        return f"<think>hmm</think>reply to {prompt}"

    standin = _StandinVLLM(replies)
    monkeypatch.setitem(sys.modules, "vllm", standin)
    model = make_chat_model("vllm", "some/model")
    tools = [{"type": "function", "function": {"name": "exec", "parameters": {"type": "object"}}}]

    async def scenario():
        plain = [model.chat([{"role": "user", "content": f"q{i}"}], sampling=SamplingParams(max_tokens=5)) for i in range(3)]
        call = model.chat([{"role": "user", "content": "call"}], tools=tools)
        forced = model.chat([{"role": "user", "content": "force"}], tools=tools, tool_choice="required")
        answer = model.structured([{"role": "user", "content": "json"}], Answer)
        return await asyncio.gather(*plain, call, forced, answer)

    *plain, call, forced, answer = asyncio.run(scenario())
    assert [r.content for r in plain] == ["reply to q0", "reply to q1", "reply to q2"]
    assert plain[0].reasoning_content == "hmm"
    assert call.tool_calls[0].function.arguments == {"command": "ls"}
    assert forced.tool_calls[0].function.arguments == {"command": "pwd"} and forced.finish_reason == "tool_calls"
    assert answer == Answer(answer="Paris")
    # One batch without tools (3 plain + the structured request), one with them (2 requests).
    assert sorted(b["size"] for b in standin.batches) == [2, 4]
    no_tools = next(b for b in standin.batches if b["tools"] is None)
    assert sum("structured_outputs" in p for p in no_tools["params"]) == 1
    assert model.stats.requests == 6 and model.stats.failures == 0
