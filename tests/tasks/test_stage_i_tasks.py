"""Stage I authors and validates tasks in a REAL sandbox. The renderer is the SCRIPTED stand-in of
tests/intents (it is not a model); rendering and authoring with the real embedded model run in
the demo test."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from ise_trace.config import IntentConfig, TaskConfig
from ise_trace.intents.pipeline import IntentPipeline
from ise_trace.intents.taxonomy import Taxonomy
from ise_trace.schemas import Intent
from ise_trace.tasks.author import AuthoredTask
from tests.intents.scripted_model import ScriptedStandInModel

from .handmade import CHECKS, REFERENCE, SALES

pytestmark = pytest.mark.docker


class AuthoringStandIn(ScriptedStandInModel):
    """The scripted renderer, plus a scripted task author: `good` tasks solve, others are already done."""

    def __init__(self, taxonomy, good: bool):
        super().__init__(taxonomy)
        self.good = good

    async def structured(self, messages, schema, sampling=None, max_attempts=3):
        if schema is not AuthoredTask:
            return await super().structured(messages, schema, sampling, max_attempts)
        checks = [c.model_dump() for c in (CHECKS if self.good else CHECKS[1:])]
        return AuthoredTask(files=[{"path": "sales.csv", "content": SALES}], setup=[], checks=checks, reference=REFERENCE)


def _run(tmp_path, model, task: TaskConfig, n: int = 3) -> tuple[dict, list[Intent]]:
    from ise_trace.execute import WorkspacePool

    config = IntentConfig(n=n, seed=11, concurrency=2, task=task)
    out = tmp_path / "intents.jsonl"

    async def main():
        async with WorkspacePool(size=2) as pool:
            return await IntentPipeline(config, model, out, taxonomy=Taxonomy.load(), pool=pool,
                                        progress_stream=io.StringIO()).run()

    stats = asyncio.run(main())
    return stats, [Intent.model_validate(json.loads(l)) for l in out.read_text().splitlines()]


def test_generated_tasks_validate_and_their_text_names_the_files(tmp_path, sandbox_image):
    taxonomy = Taxonomy.load()
    stats, intents = _run(tmp_path, ScriptedStandInModel(taxonomy), TaskConfig(author="generator"))
    assert intents and all(i.task_origin == "generator" and i.checks and i.reference for i in intents)
    assert stats["tasks"]["with_task"] == len(intents) and stats["tasks"]["unverified"] == 0


def test_an_llm_task_that_validates_is_kept_as_authored(tmp_path, sandbox_image):
    stats, intents = _run(tmp_path, AuthoringStandIn(Taxonomy.load(), good=True), TaskConfig(author="llm"), n=2)
    assert [i.task_origin for i in intents] == ["llm", "llm"]
    assert intents[0].workspace.files[0].path == "sales.csv"
    assert stats["tasks"]["by_origin"] == {"llm": 2}


def test_an_llm_task_already_done_falls_back_to_the_generator_with_the_reason_counted(tmp_path, sandbox_image):
    stats, intents = _run(tmp_path, AuthoringStandIn(Taxonomy.load(), good=False), TaskConfig(author="llm"), n=2)
    assert [i.task_origin for i in intents] == ["generator", "generator"]
    assert stats["tasks"]["rejected_by_reason"] == {"already_done": 2}


def test_without_a_valid_task_an_intent_is_dropped_or_kept_unverified_when_asked(tmp_path, sandbox_image):
    taxonomy = Taxonomy.load()
    strict = TaskConfig(author="llm", fallback_to_generator=False)
    stats, intents = _run(tmp_path / "a", AuthoringStandIn(taxonomy, good=False), strict, n=2)
    assert intents == [] and stats["failed_validation"]["intents"] == 2
    loose = TaskConfig(author="llm", fallback_to_generator=False, keep_unverified=True)
    stats, intents = _run(tmp_path / "b", AuthoringStandIn(taxonomy, good=False), loose, n=2)
    assert len(intents) == 2 and not any(i.has_task for i in intents)
    assert stats["tasks"]["unverified"] == 2
