"""The `openai` backend: any OpenAI-compatible server (vLLM first, llama-cpp-python, others).

Retries 429, 5xx, timeouts, dropped connections and unusable replies with exponential backoff
and jitter. A server that is not there at all (connection refused, unknown host) gets only
`connect_retries` quick retries, so a wrong --base-url is reported in about a second.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict
from typing import Any

from ..config import LLMConfig
from ..errors import LLMError
from .base import ChatReply, ClientStats, RequestRejected, SamplingParams, T, ToolChoice
from .request_log import open_log
from .retry import Backoff
from .structured import reply_schema, structured_with_retries
from .wire import MalformedReply, reply_from_completion, reply_to_log, to_wire_messages

# How structured output is requested, best first; a server that rejects one gets the next.
# "json_object_schema" is llama-cpp-python's dialect; "prompt" relies on the system prompt.
STRUCTURED_MODES = ("json_schema", "json_object_schema", "prompt")


def api_key_from_env(names: list[str]) -> str:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return "EMPTY"  # what local servers (vLLM, llama-cpp-python) accept when they have no key


class OpenAIChatModel:
    """ChatModel over an OpenAI-compatible HTTP endpoint. Safe to share between tasks."""

    backend = "openai"

    def __init__(self, model: str | None, base_url: str | None, config: LLMConfig, api_key: str | None = None):
        self.config = config
        self.base_url = (base_url or config.base_url).rstrip("/")
        self._model = model or config.model
        self._api_key = api_key or api_key_from_env(config.api_key_env)
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._log = open_log(config.log_path)
        self._structured_mode = 0
        self._sdk: Any = None
        self._sdk_loop: asyncio.AbstractEventLoop | None = None
        self.stats = ClientStats()

    @property
    def model(self) -> str:
        return self._model or ""

    def __repr__(self) -> str:
        return f"OpenAIChatModel(model={self._model!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ public API

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
        cut_off = False  # the last reply hit max_tokens: the retry asks for bounded strings

        async def ask(conversation: list[dict[str, Any]]) -> str | None:
            nonlocal cut_off
            while True:
                mode = STRUCTURED_MODES[self._structured_mode]
                json_schema = reply_schema(schema, max_tokens, after_cut_off=cut_off)
                try:
                    reply = await self._chat(conversation, None, sampling, None,
                                             _response_format(mode, schema.__name__, json_schema))
                    cut_off = reply.finish_reason == "length"
                    return reply.content
                except RequestRejected as e:
                    if not _rejects_response_format(e) or self._structured_mode + 1 >= len(STRUCTURED_MODES):
                        raise
                    self._structured_mode += 1  # remembered: later calls start with what works

        return await structured_with_retries(ask, messages, schema, max_attempts, self.stats)

    async def resolve_model(self) -> str:
        """The model name, asking the server for its first model when none was given."""
        if self._model:
            return self._model
        started = time.monotonic()
        try:
            page = await self._client().models.list()
        except Exception as e:  # noqa: BLE001 - every failure here means the same to the user
            raise self._translate_setup_error(e, started) from None
        ids = [m.id for m in page.data]
        if not ids:
            raise LLMError(f"the model server at {self.base_url} serves no models; pass --model")
        self._model = ids[0]
        return self._model

    async def aclose(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None

    # ------------------------------------------------------------------ internals

    def _client(self) -> Any:
        # An httpx client's pooled connections belong to the event loop that opened them, so
        # each loop (each asyncio.run) gets its own SDK client.
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk_loop is not loop:
            from openai import AsyncOpenAI, Timeout

            self._sdk = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s),
                max_retries=0,  # retries are ours: the SDK's would also retry a refused connection
            )
            self._sdk_loop = loop
        return self._sdk

    async def _chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        sampling: SamplingParams | None,
        tool_choice: ToolChoice | None,
        response_format: dict[str, Any] | None,
    ) -> ChatReply:
        sampling = sampling or SamplingParams()
        request: dict[str, Any] = {
            "model": await self.resolve_model(),
            "messages": to_wire_messages(messages),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            request["seed"] = sampling.seed
        if tools:
            request["tools"] = tools
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        if response_format is not None:
            request["response_format"] = response_format
        if self.config.extra_body:
            request["extra_body"] = dict(self.config.extra_body)
        self.stats.requests += 1
        return await self._send(request, tools, sampling)

    async def _send(self, request: dict[str, Any], tools: Any, sampling: SamplingParams) -> ChatReply:
        calls_allowed = request.get("tool_choice") != "none"
        started = time.monotonic()
        retries = refused = 0  # refused connections have their own, smaller budget
        while True:
            attempt_started = time.monotonic()
            retry_after: float | None = None
            kind = "retry"
            try:
                response = await self._client().chat.completions.create(**request)
                reply = reply_from_completion(response.model_dump(), tools, time.monotonic() - started, calls_allowed)
            except MalformedReply as e:
                error = f"unusable reply: {e}"
                if str(e).startswith("empty reply"):
                    self.stats.empty_replies += 1
                if request.get("seed") is not None:
                    request["seed"] += 1  # the same seed would give the same unusable reply
            except Exception as e:  # noqa: BLE001 - sorted into retryable or final just below
                kind, error, retry_after = _classify(e, self.config.timeout_s)
                if kind == "final":
                    self._write_log(request, sampling, retries + refused, attempt_started, error=error)
                    self.stats.failures += 1
                    raise self._rejected(e, request["model"]) from None
            else:
                self._write_log(request, sampling, retries + refused, attempt_started, reply=reply)
                self.stats.prompt_tokens += reply.usage.prompt_tokens
                self.stats.completion_tokens += reply.usage.completion_tokens
                return reply
            self._write_log(request, sampling, retries + refused, attempt_started, error=error)
            if kind == "unreachable":
                refused += 1
                if refused > self.config.connect_retries:
                    self.stats.failures += 1
                    raise LLMError(
                        f"cannot reach the model server at {self.base_url} ({error}); start one with "
                        "`ise-trace serve` or pass the right --base-url"
                    )
            else:
                retries += 1
                if retries > self.config.max_retries:
                    self.stats.failures += 1
                    raise LLMError(
                        f"the model server at {self.base_url} kept failing ({retries} attempts over "
                        f"{time.monotonic() - started:.1f}s); last error: {error}"
                    )
            self.stats.retries += 1
            await asyncio.sleep(self._backoff.delay(max(retries, refused), retry_after))

    def _rejected(self, e: Exception, model: str | None, endpoint: str = "chat/completions") -> RequestRejected:
        status = getattr(e, "status_code", 400)
        detail = f"{getattr(e, 'message', '')} {getattr(e, 'body', '') or ''}".strip()
        if status == 404:
            message = (
                f"{self.base_url}/{endpoint} answered 404 Not Found: the base URL is probably wrong "
                "(OpenAI-compatible servers usually end in /v1)"
                + (f" or model '{model}' is not served there" if model else "")
            )
        elif status in (401, 403):
            message = (
                f"the model server at {self.base_url} rejected the API key (HTTP {status}); "
                f"set {' or '.join(self.config.api_key_env)}"
            )
        else:
            message = f"the model server at {self.base_url} rejected the request (HTTP {status}): {detail[:400]}"
        return RequestRejected(message, status=status, detail=detail)

    def _translate_setup_error(self, e: Exception, started: float) -> LLMError:
        kind, error, _ = _classify(e, self.config.timeout_s)
        if kind == "final":
            return self._rejected(e, None, endpoint="models")
        return LLMError(
            f"cannot reach the model server at {self.base_url} ({error}); start one with "
            "`ise-trace serve` or pass the right --base-url"
        )

    def _write_log(
        self,
        request: dict[str, Any],
        sampling: SamplingParams,
        attempt: int,
        attempt_started: float,
        reply: ChatReply | None = None,
        error: str | None = None,
    ) -> None:
        if self._log is None:
            return
        self._log.write(
            {
                "backend": self.backend,
                "base_url": self.base_url,
                "model": request["model"],
                "attempt": attempt + 1,
                "sampling": asdict(sampling),
                "request": {k: v for k, v in request.items() if k != "model"},
                "reply": reply_to_log(reply) if reply else None,
                "error": error,
                "latency_s": round(time.monotonic() - attempt_started, 4),
            }
        )


def _classify(e: Exception, timeout_s: float) -> tuple[str, str, float | None]:
    """('retry' | 'unreachable' | 'final', description, retry-after seconds) for an SDK error."""
    import openai

    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        if status >= 500 and _is_request_validation_error(e):
            return "final", f"HTTP {status}: {str(e.message)[:200]}", None
        if status == 429 or status >= 500:
            return "retry", f"HTTP {status}: {str(e.message)[:200]}", _retry_after(e)
        return "final", f"HTTP {status}: {str(e.message)[:200]}", None
    if isinstance(e, openai.APIConnectionError):
        cause = _root_cause(e)
        if _is_connect_failure(cause):
            return "unreachable", _describe_connect_error(cause), None
        if isinstance(e, openai.APITimeoutError) or "Timeout" in type(cause).__name__:
            return "retry", f"no reply within {timeout_s:g}s", None
        return "retry", f"connection lost: {type(cause).__name__}: {cause}", None
    raise e  # a programming error, not a server problem


def _is_connect_failure(e: BaseException) -> bool:
    # By class name: the SDK's HTTP library (httpx, or httpx2 in newer SDKs) names them alike.
    return isinstance(e, ConnectionRefusedError) or type(e).__name__ in ("ConnectError", "ConnectTimeout")


def _root_cause(e: BaseException) -> BaseException:
    """The failed connect in the exception chain if there is one, else the innermost error."""
    chain: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for wanted in (lambda x: isinstance(x, ConnectionRefusedError), _is_connect_failure):
        for item in chain:
            if wanted(item):
                return item
    return chain[-1]


def _describe_connect_error(cause: BaseException) -> str:
    text = str(cause) or type(cause).__name__
    if "refused" in text.lower() or isinstance(cause, ConnectionRefusedError):
        return "connection refused: nothing is listening there"
    if "name or service not known" in text.lower() or "nodename" in text.lower():
        return "unknown host name"
    return text


def _retry_after(e: Any) -> float | None:
    try:
        value = e.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


def _response_format(mode: str, name: str, json_schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": json_schema, "strict": False}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": json_schema}
    return None


def _is_request_validation_error(e: Any) -> bool:
    # A stock llama-cpp-python server reports an invalid request body as HTTP 500, with
    # pydantic's message; retrying it would only repeat the same rejection.
    text = str(getattr(e, "message", ""))
    return "validation error" in text and "'body'" in text


def _rejects_response_format(e: RequestRejected) -> bool:
    return e.status in (400, 422, 500) and ("response_format" in e.detail or "json_schema" in e.detail)
