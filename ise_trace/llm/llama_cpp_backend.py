"""The `llama-cpp` backend: a GGUF model in this process, on the CPU, offline.

The default model is the embedded SmolLM2-135M-Instruct. Grammars (see llama_chat_handler)
make structured replies and tool calls parse. A llama.cpp context is not re-entrant, so calls
take turns behind a lock and run in a worker thread to keep the event loop free.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict
from typing import Any

from ..config import LLMConfig
from ..errors import LLMError
from .base import ChatReply, ClientStats, SamplingParams, T, ToolChoice
from .embedded import resolve_gguf
from .request_log import open_log
from .structured import reply_schema, structured_with_retries
from .wire import MalformedReply, reply_from_completion, reply_to_log, to_wire_messages


class LlamaCppChatModel:
    """ChatModel over llama-cpp-python in process. Loads the model on first use."""

    backend = "llama-cpp"

    def __init__(self, model: str | None, config: LLMConfig):
        self.config = config
        self.model_path, self.model = resolve_gguf(model or config.model)
        self._llama: Any = None
        self._lock = threading.Lock()
        self._log = open_log(config.log_path)
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"LlamaCppChatModel(model={self.model!r}, path={str(self.model_path)!r})"

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: SamplingParams | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> ChatReply:
        return await self._chat(messages, tools, sampling, tool_choice, None)

    async def structured(
        self,
        messages: list[dict[str, Any]],
        schema: type[T],
        sampling: SamplingParams | None = None,
        max_attempts: int = 3,
    ) -> T:
        max_tokens = (sampling or SamplingParams()).max_tokens
        cut_off = False  # the last reply hit max_tokens: the retry gets a tighter budget

        async def ask(conversation: list[dict[str, Any]]) -> str | None:
            nonlocal cut_off
            json_schema = reply_schema(schema, max_tokens, after_cut_off=cut_off)
            response_format = {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema}}
            reply = await self._chat(conversation, None, sampling, None, response_format)
            cut_off = reply.finish_reason == "length"
            return reply.content

        return await structured_with_retries(ask, messages, schema, max_attempts, self.stats)

    async def _chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        sampling: SamplingParams | None,
        tool_choice: ToolChoice | None,
        response_format: dict[str, Any] | None,
    ) -> ChatReply:
        sampling = sampling or SamplingParams()
        request = {
            "messages": to_wire_messages(messages),
            "tools": tools or None,
            "tool_choice": tool_choice if tools else None,
            "response_format": response_format,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed,
        }
        self.stats.requests += 1
        started = time.monotonic()
        for attempt in range(self.config.max_retries + 1):
            try:
                data = await asyncio.to_thread(self._complete, request)
            except ValueError as e:  # llama.cpp's way of saying the prompt does not fit
                if "context" not in str(e):
                    raise
                raise LLMError(f"{self.model}: {e}") from None
            try:
                reply = reply_from_completion(data, tools, time.monotonic() - started, tool_choice != "none")
                break
            except MalformedReply as e:
                self.stats.empty_replies += "empty reply" in str(e)
                self._write_log(request, sampling, started, error=str(e))
                if attempt == self.config.max_retries:
                    self.stats.failures += 1
                    raise LLMError(f"{self.model} gave {attempt + 1} unusable replies; last: {e}") from None
                self.stats.retries += 1
                if request["seed"] is not None:
                    request["seed"] += 1  # the same seed would give the same unusable reply
        self._write_log(request, sampling, started, reply=reply)
        self.stats.prompt_tokens += reply.usage.prompt_tokens
        self.stats.completion_tokens += reply.usage.completion_tokens
        return reply

    def _complete(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            llama = self._load()
            return llama.create_chat_completion(model=self.model, **request)

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            from .llama_chat_handler import HermesToolsHandler

            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.config.n_ctx,
                n_threads=self.config.n_threads,
                n_threads_batch=self.config.n_threads,
                chat_handler=HermesToolsHandler(),
                verbose=False,
            )
        return self._llama

    def _write_log(
        self,
        request: dict[str, Any],
        sampling: SamplingParams,
        started: float,
        reply: ChatReply | None = None,
        error: str | None = None,
    ) -> None:
        if self._log is None:
            return
        self._log.write(
            {
                "backend": self.backend,
                "model": self.model,
                "sampling": asdict(sampling),
                "request": {k: v for k, v in request.items() if v is not None},
                "reply": reply_to_log(reply) if reply else None,
                "error": error,
                "latency_s": round(time.monotonic() - started, 4),
            }
        )
