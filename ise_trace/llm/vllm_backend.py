"""The `vllm` backend: in-process `vllm.LLM` for batch generation on a GPU host (Stage I at scale).

Concurrent `chat()`/`structured()` calls are gathered into one `LLM.chat` batch, which is where
vLLM's throughput comes from. Tool calls come back as text (Hermes or Qwen3-Coder markup) and
are parsed; a required or named tool choice is enforced with guided JSON decoding.
vllm is an optional extra: importing it is deferred until this backend is built.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import LLMConfig
from ..errors import LLMError, UserError
from ..schemas import FunctionCall, ToolCall
from .base import ChatReply, ClientStats, SamplingParams, T, ToolChoice
from .request_log import open_log
from .structured import json_schema_of, structured_with_retries
from .tool_markup import new_call_id
from .wire import MalformedReply, reply_from_completion, reply_to_log, to_wire_messages

INSTALL_HINT = "pip install 'ise-trace[vllm]' on a Linux host with a CUDA GPU"


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise UserError(f"the vllm backend needs the vllm package ({e}); {INSTALL_HINT}") from None
    return vllm


@dataclass
class _Request:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    sampling: SamplingParams
    json_schema: dict[str, Any] | None
    forced_call: bool  # the reply is a bare {"name", "arguments"} object (required/named tool)
    future: asyncio.Future = field(repr=False)

    @property
    def batch_key(self) -> str:
        # One LLM.chat call takes one tools list, so requests batch only with the same tools.
        return json.dumps(self.tools, sort_keys=True)


class VLLMChatModel:
    """ChatModel over an in-process vllm.LLM; loads the model on first use."""

    backend = "vllm"

    def __init__(self, model: str | None, config: LLMConfig):
        self._vllm = import_vllm()
        self.config = config
        self.model = model or config.model or config.vllm_model
        self._llm: Any = None
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._drain_task: asyncio.Task | None = None
        self._log = open_log(config.log_path)
        self.stats = ClientStats()

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: SamplingParams | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> ChatReply:
        schema = _forced_call_schema(tools, tool_choice)
        return await self._submit(messages, tools if tool_choice != "none" else None, sampling, schema, schema is not None)

    async def structured(
        self,
        messages: list[dict[str, Any]],
        schema: type[T],
        sampling: SamplingParams | None = None,
        max_attempts: int = 3,
    ) -> T:
        json_schema = json_schema_of(schema)

        async def ask(conversation: list[dict[str, Any]]) -> str | None:
            return (await self._submit(conversation, None, sampling, json_schema, False)).content

        return await structured_with_retries(ask, messages, schema, max_attempts, self.stats)

    async def chat_batch(
        self, conversations: list[list[dict[str, Any]]], sampling: SamplingParams | None = None
    ) -> list[ChatReply]:
        """Replies for many conversations at once (one vLLM batch)."""
        return list(await asyncio.gather(*(self.chat(c, sampling=sampling) for c in conversations)))

    async def _submit(self, messages, tools, sampling, json_schema, forced_call) -> ChatReply:
        loop = asyncio.get_running_loop()
        request = _Request(to_wire_messages(messages), tools, sampling or SamplingParams(), json_schema, forced_call, loop.create_future())
        self.stats.requests += 1
        self._pending.append(request)
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = loop.create_task(self._drain())
        return await request.future

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let every caller that is ready join this batch
            batch, self._pending = self._pending, []
            groups: dict[str, list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.batch_key, []).append(request)
            for group in groups.values():
                await self._run_group(group)

    async def _run_group(self, group: list[_Request]) -> None:
        started = time.monotonic()
        try:
            outputs = await asyncio.to_thread(self._generate, group)
        except Exception as e:  # noqa: BLE001 - every waiting caller must hear about it
            self.stats.failures += len(group)
            for request in group:
                if not request.future.done():
                    request.future.set_exception(LLMError(f"vLLM generation with {self.model} failed: {e}"))
            return
        latency = time.monotonic() - started
        for request, output in zip(group, outputs):
            try:
                reply = _reply(output, request, self.model, latency)
            except MalformedReply as e:
                self.stats.failures += 1
                self._write_log(request, latency, error=str(e))
                request.future.set_exception(LLMError(f"{self.model} gave an unusable reply: {e}"))
                continue
            self._write_log(request, latency, reply=reply)
            self.stats.prompt_tokens += reply.usage.prompt_tokens
            self.stats.completion_tokens += reply.usage.completion_tokens
            request.future.set_result(reply)

    def _generate(self, group: list[_Request]) -> list[Any]:
        with self._lock:
            if self._llm is None:
                self._llm = self._vllm.LLM(model=self.model, **self.config.vllm_engine_kwargs)
            template_kwargs = self.config.extra_body.get("chat_template_kwargs")
            return self._llm.chat(
                [r.messages for r in group],
                sampling_params=[self._sampling_params(r) for r in group],
                tools=group[0].tools,
                use_tqdm=False,
                chat_template_kwargs=template_kwargs,
            )

    def _write_log(self, request: _Request, latency: float, reply: ChatReply | None = None, error: str | None = None) -> None:
        if self._log is None:
            return
        self._log.write(
            {
                "backend": self.backend,
                "model": self.model,
                "sampling": asdict(request.sampling),
                "request": {"messages": request.messages, "tools": request.tools, "json_schema": request.json_schema},
                "reply": reply_to_log(reply) if reply else None,
                "error": error,
                "latency_s": round(latency, 4),
            }
        )

    def _sampling_params(self, request: _Request) -> Any:
        s = request.sampling
        kwargs: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens, "seed": s.seed}
        if request.json_schema is not None:
            module = self._vllm.sampling_params
            if hasattr(module, "StructuredOutputsParams"):  # vllm >= 0.11
                kwargs["structured_outputs"] = module.StructuredOutputsParams(json=request.json_schema)
            else:
                kwargs["guided_decoding"] = module.GuidedDecodingParams(json=request.json_schema)
        return self._vllm.SamplingParams(**kwargs)


def _forced_call_schema(tools: list[dict[str, Any]] | None, tool_choice: ToolChoice | None) -> dict[str, Any] | None:
    if not tools or tool_choice in (None, "auto", "none"):
        return None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        tools = [t for t in tools if t["function"]["name"] == name]
        if not tools:
            raise UserError(f"tool_choice names '{name}', which is not among the tools offered")
    alternatives = [
        {
            "type": "object",
            "properties": {"name": {"const": t["function"]["name"]}, "arguments": t["function"].get("parameters") or {"type": "object"}},
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def _reply(output: Any, request: _Request, model: str, latency: float) -> ChatReply:
    completion = output.outputs[0]
    text = completion.text
    usage = {"prompt_tokens": len(output.prompt_token_ids or []), "completion_tokens": len(completion.token_ids)}
    if request.forced_call:
        try:
            call = json.loads(text)
        except json.JSONDecodeError as e:
            raise MalformedReply(f"forced tool call is not valid JSON ({e.msg})") from None
        reply = ChatReply(
            content=None,
            tool_calls=[ToolCall(id=new_call_id(), function=FunctionCall(name=call["name"], arguments=call.get("arguments") or {}))],
            finish_reason="tool_calls",
            model=model,
            latency_s=latency,
        )
        reply.usage.prompt_tokens, reply.usage.completion_tokens = usage["prompt_tokens"], usage["completion_tokens"]
        return reply
    data = {
        "model": model,
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": completion.finish_reason}],
        "usage": usage,
    }
    return reply_from_completion(data, request.tools, latency)
