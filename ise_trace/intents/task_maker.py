"""Stage I's executable tasks: each rendered intent gets a workspace and checks that validate.

With `task.author: llm` the renderer's model authors the task for the text it wrote; a task that
fails validation in the sandbox (or a text that failed its checks) falls back to the seeded
generator of the intent's task hints, and then the text is rendered again from the generator's
brief, which lists the files that are really there (the renderer is asked to name them). With `task.author: generator` only the generator is used. Every rejected task
is one failure with its reason (`task_<reason>`), counted with the render failures; an intent
whose task never validates is dropped, or kept without a task (unverified) when asked. With
`task.brief_text_fallback` (the demo's setting: a 135M model rarely writes a text that passes), an
intent whose every draft failed takes the brief itself, worded as the persona's request, as its text;
its renderer is recorded as `brief-template`, so such texts can be told apart and filtered.
"""

from __future__ import annotations

from dataclasses import replace

from ..config import IntentConfig
from ..llm.base import ChatModel
from ..schemas import Intent, RendererInfo
from ..tasks.author import as_task, author_task
from ..tasks.generate import generate_task, task_seed
from ..tasks.runs import TaskVerdict, validate_in_pool
from .renderer import IntentRenderer, RenderResult
from .sampler import SampledIntent
from .taxonomy import Taxonomy


BRIEF_TEMPLATE = "brief-template-v1"


def brief_text(sampled: SampledIntent, brief: str) -> str:
    """The generator's brief as the persona's request: every file and result it names, kept as written."""
    p = sampled.persona
    asks = []
    for line in brief.splitlines():
        part = line.removeprefix("- ").strip()
        if not part:
            continue
        have, _, result = part.partition(" The result: ")
        asks.append(f"{have} I need {result}" if result else part)
    return f"Hi, I'm {p.name} ({p.role}). In my workspace, " + " Also: ".join(asks)


def brief_intent(sampled: SampledIntent, brief: str) -> Intent:
    return Intent(
        id=sampled.id, text=brief_text(sampled, brief), persona=sampled.persona, domains=sampled.domains,
        complexity=sampled.complexity, seed=sampled.seed,
        renderer=RendererInfo(model="brief-template", prompt_version=BRIEF_TEMPLATE),
    )


class TaskMaker:
    def __init__(self, renderer: IntentRenderer, model: ChatModel, taxonomy: Taxonomy, config: IntentConfig, pool=None):
        self.renderer = renderer
        self.model = model
        self.taxonomy = taxonomy
        self.config = config
        self.pool = pool  # a WorkspacePool; None only when validation is switched off
        if pool is None and config.task.validate_in_sandbox:
            raise ValueError("validating tasks needs a workspace pool (or task.validate_in_sandbox: false)")

    async def make(self, sampled: SampledIntent) -> RenderResult:
        tc = self.config.task
        failures: list[tuple[str, str]] = []
        unverified: Intent | None = None
        if tc.author == "llm":
            first = await self.renderer.render(sampled)
            failures += first.failures
            if first.intent is not None:
                unverified = first.intent
                made = await self._authored(first.intent, failures)
                if made is not None:
                    return self._result(sampled, made, unverified, failures)
            if not tc.fallback_to_generator:
                return self._result(sampled, None, unverified, failures)
            # The generator's brief names concrete files and results: a text the model could not
            # write unaided often renders from it.
        made, text_only = await self._generated(sampled, failures)
        return self._result(sampled, made, unverified or text_only, failures)

    async def _authored(self, intent: Intent, failures: list) -> Intent | None:
        draft = await author_task(self.model, intent, self.config.task, task_seed(intent.id))
        if isinstance(draft, str):
            failures.append(("task_structured_output", draft))
            return None
        workspace, checks, reference = as_task(draft)
        verdict = await self._validate(intent.id, workspace, checks, reference)
        if not verdict.ok:
            failures.append((f"task_{verdict.reason}", f"LLM task: {verdict.detail}"))
            return None
        return intent.model_copy(
            update={"workspace": workspace, "checks": checks, "reference": reference, "task_origin": "llm"}
        )

    async def _generated(self, sampled: SampledIntent, failures: list) -> tuple[Intent | None, Intent | None]:
        """(the intent with the generator's validated task, or None; its text alone, if it rendered)."""
        task = generate_task(sampled, self.taxonomy)
        if task is None:
            failures.append(("task_no_hint", "none of the intent's tasks has a workspace hint"))
            rendered = await self.renderer.render(sampled)
            failures += rendered.failures
            return None, rendered.intent
        rendered = await self.renderer.render(sampled, brief=task.brief)
        failures += rendered.failures
        if rendered.intent is None and self.config.task.brief_text_fallback:
            rendered = replace(rendered, intent=brief_intent(sampled, task.brief))
        if rendered.intent is None:
            return None, None
        verdict = await self._validate(sampled.id, task.workspace, task.checks, task.reference)
        if not verdict.ok:
            failures.append((f"task_{verdict.reason}", f"generated task: {verdict.detail}"))
            return None, rendered.intent
        made = rendered.intent.model_copy(
            update={"workspace": task.workspace, "checks": task.checks, "reference": task.reference,
                    "task_origin": "generator"}
        )
        return made, None

    async def _validate(self, intent_id, workspace, checks, reference) -> TaskVerdict:
        if not self.config.task.validate_in_sandbox:
            return TaskVerdict(True)
        return await validate_in_pool(self.pool, intent_id, workspace, checks, reference, self.config.task)

    def _result(self, sampled, made: Intent | None, unverified: Intent | None, failures) -> RenderResult:
        if made is None and unverified is not None and self.config.task.keep_unverified:
            made = unverified  # kept without a task: no checks, so every trajectory of it is unverified
        return replace(RenderResult(sampled=sampled), intent=made, failures=failures)
