"""The agent and user models of a run: one per server, checked to answer before any episode.

The user side reuses the agent's model objects when both name the same backend, model, server
and client options (one embedded model loaded once, one connection pool per server).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..config import LLMConfig
from ..errors import LLMError, UserError
from ..llm.base import ChatModel, SamplingParams


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str | None
    base_urls: tuple[str | None, ...] = (None,)  # None: the backend's default (embedded: in process)
    options: LLMConfig | None = None  # client options (timeouts, extra_body, n_ctx, ...); None: the defaults


async def check_answers(model: ChatModel, role: str, where: str | None) -> None:
    """One tiny request, so an unreachable server or an unknown model name fails the command once."""
    target = f" at {where}" if where else ""
    try:
        await model.chat([{"role": "user", "content": "Reply with OK."}], sampling=SamplingParams(temperature=0.0, max_tokens=2))
    except UserError as e:
        raise LLMError(f"{role} model{target}: {e}") from None
    except Exception as e:  # any other failure of the first request means the same to the user
        raise LLMError(f"{role} model{target} does not answer ({type(e).__name__}: {e}); check --{role}-base-url and --{role}-model") from None


@contextlib.asynccontextmanager
async def open_models(agent: ModelSpec, user: ModelSpec) -> AsyncIterator[tuple[list[ChatModel], list[ChatModel]]]:
    from ..llm import make_chat_model

    made: dict[tuple[str, str | None, str | None, str], Any] = {}

    def build(spec: ModelSpec) -> list[ChatModel]:
        models = []
        options = spec.options or LLMConfig()
        for url in spec.base_urls:
            key = (spec.backend, spec.model, url, options.model_dump_json())
            if key not in made:
                made[key] = make_chat_model(spec.backend, spec.model, url, config=options)
            models.append(made[key])
        return models

    try:
        agent_models = build(agent)
        user_models = build(user)
        checked: set[int] = set()
        for role, spec, models in (("agent", agent, agent_models), ("user", user, user_models)):
            for url, model in zip(spec.base_urls, models):
                if id(model) not in checked:
                    await check_answers(model, role, url)
                    checked.add(id(model))
        yield agent_models, user_models
    finally:
        for model in made.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
