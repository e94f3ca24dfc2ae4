"""Render a structured intent into one natural-language request in the persona's voice.

The model answers through the LLM layer's structured output (`RenderedIntent`); each draft is
validated, and a rejected draft is rendered again, with the reason it was rejected, up to
`max_render_attempts` times. Change the prompt and you must bump `PROMPT_VERSION`: it is recorded
on every intent so that corpora made with different prompts can be told apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from ..config import IntentConfig
from ..llm.base import ChatModel, SamplingParams, StructuredOutputError
from ..schemas import Intent, RendererInfo
from .sampler import SampledIntent
from .taxonomy import Taxonomy
from .validation import validate

PROMPT_VERSION = "intent-render-v2"

SYSTEM_PROMPT = """\
You write realistic requests that a person types to an AI assistant. The assistant works in a \
Linux workspace with a shell and files but no internet.
Rules:
- Write as the person described, in the first person and in their voice.
- Be concrete: name the files, folders, columns, values and formats, and say what result is expected.
- Be self-contained: anything needed is described in the request or is a local file it names. \
Web pages, feeds and exports are saved local files, never websites to download.
- Cover every task listed, in one request.
- Never write placeholders such as {name}, <file> or [TODO]: invent realistic names and values.
- Write only the request itself, no preface.
Reply with JSON: {"text": "<the request>"}"""

_LENGTH = {"simple": "2 to 4 sentences", "medium": "3 to 6 sentences", "complex": "5 to 9 sentences"}


class RenderedIntent(BaseModel):
    text: str = Field(description="The request, written by the person, ready to send to the assistant.")


def build_messages(
    intent: SampledIntent, taxonomy: Taxonomy, rejected_because: str | None = None, brief: str | None = None
) -> list[dict]:
    p = intent.persona
    voice = next(s.voice for s in taxonomy.personas.communication_styles if s.name == p.communication_style)
    tasks = "\n".join(
        f"{i}. [{domain}] {task.name}: {task.description}" for i, (domain, task) in enumerate(intent.tasks, 1)
    )
    user = (
        f"Person: {p.name}, {p.experience_level} {p.role} in {p.industry}; strong in {', '.join(p.expertise)}.\n"
        f"Voice: {p.communication_style}. {voice}\n"
        f"Situation: {p.work_context}.\n"
        f"Tasks:\n{tasks}\n"
        f"Write one {intent.complexity} request of {_LENGTH[intent.complexity]}."
    )
    if brief:
        # The workspace exists already: the request must name what is really there and what to produce.
        user += (
            "\nThe workspace already holds these files; the request must name them and ask for exactly these "
            f"results (same file names, columns and figures):\n{brief}"
        )
    if rejected_because:
        user += f"\nYour previous draft was rejected: {rejected_because}. Fix that."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


@dataclass
class RenderResult:
    sampled: SampledIntent
    intent: Intent | None = None  # None when every attempt failed
    failures: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail) per failed attempt


def _attempt_seed(intent_id: str, attempt: int) -> int:
    return int(hashlib.sha256(f"{intent_id}:{attempt}".encode()).hexdigest()[:8], 16)


class IntentRenderer:
    def __init__(self, model: ChatModel, taxonomy: Taxonomy, config: IntentConfig):
        self.model = model
        self.taxonomy = taxonomy
        self.config = config

    async def render(self, intent: SampledIntent, brief: str | None = None) -> RenderResult:
        """Render with bounded retries. Model-layer failures other than a bad structured reply
        (server down, timeouts) propagate: the caller stops the run, keeping what is written."""
        result = RenderResult(sampled=intent)
        feedback = None
        for attempt in range(self.config.max_render_attempts):
            sampling = SamplingParams(
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                seed=_attempt_seed(intent.id, attempt),
            )
            try:
                reply = await self.model.structured(
                    build_messages(intent, self.taxonomy, feedback, brief), RenderedIntent, sampling=sampling
                )
            except StructuredOutputError as e:
                result.failures.append(("structured_output", str(e)))
                feedback = "the reply was not the JSON object asked for"
                continue
            text = reply.text.strip()
            verdict = validate(text, intent, self.config)
            if verdict.ok:
                result.intent = Intent(
                    id=intent.id,
                    text=text,
                    persona=intent.persona,
                    domains=intent.domains,
                    complexity=intent.complexity,
                    seed=intent.seed,
                    renderer=RendererInfo(model=self.model.model, prompt_version=PROMPT_VERSION),
                )
                return result
            result.failures.append((verdict.reason, verdict.detail))
            feedback = verdict.detail
        return result
