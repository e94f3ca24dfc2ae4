"""`ise-trace intents check FILE`: validate the tasks of intents written by hand or elsewhere.

Every intent gets one verdict line (valid, or rejected with its reason); an intent without checks
is rejected as `no_task`. `--out` receives the valid intents, written atomically.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from ..config import TaskConfig
from ..fsio import write_text_atomic
from ..schemas import Intent
from .runs import TaskVerdict, validate_in_pool


async def check_intents(intents: list[Intent], config: TaskConfig, concurrency: int = 2, pool=None) -> list[TaskVerdict]:
    """One verdict per intent, in order, validated `concurrency` at a time in real workspaces."""
    from ..execute.pool import WorkspacePool

    own = pool is None
    pool = pool or await WorkspacePool(size=max(1, min(concurrency, len(intents)))).start()
    try:
        async def one(intent: Intent) -> TaskVerdict:
            if not intent.has_task:
                return TaskVerdict(False, "no_task", "the intent has no checks (an unverified intent)")
            return await validate_in_pool(pool, intent.id, intent.workspace, intent.checks, intent.reference, config)

        return list(await asyncio.gather(*(one(i) for i in intents)))
    finally:
        if own:
            await pool.close()


async def check_intents_file(path: str, out: str | None, config: TaskConfig, concurrency: int) -> int:
    """Print a verdict per intent and a summary; write the valid ones to `out`. Returns the rejected count."""
    from ..simulate.intents_file import load_intents

    intents = load_intents(path)
    verdicts = await check_intents(intents, config, concurrency)
    for intent, v in zip(intents, verdicts):
        verdict = "valid" if v.ok else f"rejected ({v.reason}): {v.detail}"
        print(f"{intent.id}: {verdict}", file=sys.stdout)
    rejected = Counter(v.reason for v in verdicts if not v.ok)
    valid = [i for i, v in zip(intents, verdicts) if v.ok]
    if out:
        write_text_atomic(out, "".join(i.model_dump_json(exclude_none=True) + "\n" for i in valid))
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(rejected.items()))
    print(f"{len(valid)} of {len(intents)} tasks valid" + (f"; rejected: {reasons}" if reasons else ""), file=sys.stderr)
    return sum(rejected.values())
