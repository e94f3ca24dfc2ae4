"""The LLM layer: one chat interface over several backends (see base.py).

    model = make_chat_model("openai", base_url="http://127.0.0.1:8000/v1")
    reply = await model.chat(messages, tools=TOOL_SCHEMAS)
    plan = await model.structured(messages, Plan)

Backends: "openai" (any OpenAI-compatible server), "llama-cpp" (embedded GGUF model in
process, CPU) and "vllm" (in-process vllm.LLM, GPU). Options are LLMConfig fields.
"""

from __future__ import annotations

from typing import Any

from ..config import LLMConfig, build_section
from ..errors import ConfigError
from .base import (
    ChatModel,
    ChatReply,
    ClientStats,
    RequestRejected,
    SamplingParams,
    StructuredOutputError,
    ToolChoice,
    Usage,
)

BACKENDS = ("openai", "llama-cpp", "vllm")

__all__ = [
    "BACKENDS",
    "ChatModel",
    "ChatReply",
    "ClientStats",
    "RequestRejected",
    "SamplingParams",
    "StructuredOutputError",
    "ToolChoice",
    "Usage",
    "make_chat_model",
]


def make_chat_model(
    backend: str,
    model: str | None = None,
    base_url: str | None = None,
    config: LLMConfig | None = None,
    **options: Any,
) -> ChatModel:
    """Build a ChatModel. `options` override LLMConfig fields (e.g. timeout_s=30, log_path=...)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown LLM backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    values = (config or LLMConfig()).model_dump()
    values.update(options)
    values["backend"] = backend
    config = build_section(LLMConfig, values, "LLM options")  # unknown option names fail here
    if backend == "openai":
        from .openai_backend import OpenAIChatModel

        return OpenAIChatModel(model, base_url, config)
    if base_url is not None:
        raise ConfigError(f"backend '{backend}' runs in process and takes no base_url (use backend 'openai')")
    if backend == "llama-cpp":
        from .llama_cpp_backend import LlamaCppChatModel

        return LlamaCppChatModel(model, config)
    from .vllm_backend import VLLMChatModel

    return VLLMChatModel(model, config)
