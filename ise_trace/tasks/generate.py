"""A sampled intent's task from its tasks' workspace hints: one seeded part per task, composed.

The parts share one /workspace (file names are kept apart), their checks are all the intent's
checks, and their reference scripts run one after another, each in its own subshell so that a
`cd` in one does not move the next.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache

from ..schemas import Check, WorkspaceSpec
from .kinds import KINDS, Context, TaskPart


@dataclass(frozen=True)
class GeneratedTask:
    workspace: WorkspaceSpec
    checks: list[Check]
    reference: str
    brief: str  # the workspace and the expected results, in words, for the renderer


@lru_cache(maxsize=1)
def _faker():
    from faker import Faker

    return Faker("en_US")


def task_seed(intent_id: str) -> int:
    return int(hashlib.sha256(f"task:{intent_id}".encode()).hexdigest()[:8], 16)


def generate_task(sampled, taxonomy) -> GeneratedTask | None:
    """The seeded task of a `SampledIntent`, or None when none of its tasks has a hint."""
    seed = task_seed(sampled.id)
    rng, fake = random.Random(seed), _faker()
    fake.seed_instance(seed)
    taken: set[str] = set()
    parts: list[TaskPart] = []
    for domain, task in sampled.tasks:
        kind = taxonomy.workspace_kind(domain, task.name)
        if kind is not None:
            parts.append(KINDS[kind](Context(rng, fake, task, domain, sampled.persona, taken)))
    if not parts:
        return None
    return GeneratedTask(
        workspace=WorkspaceSpec(files=[f for p in parts for f in p.files], setup=[c for p in parts for c in p.setup]),
        checks=[c for p in parts for c in p.checks],
        reference="set -e\n" + "\n".join(f"(\n{p.reference}\n)" for p in parts if p.reference) + "\n",
        brief="\n".join(f"- {p.brief}" for p in parts),
    )
