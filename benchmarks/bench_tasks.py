"""Executable tasks: what validating one costs in the sandbox, beside a bare workspace reset.

    .venv/bin/python benchmarks/bench_tasks.py            # 40 generated tasks, ~1 minute on 2 cores
    .venv/bin/python benchmarks/bench_tasks.py --n 10

Each task is one the seeded generator builds for a sampled intent (Faker data, git histories,
SQLite databases, packages with a failing test): validation = reset with its files + setup + the
checks on the untouched workspace + the reference + the checks again. The baseline is the reset
alone, the fixed cost every episode pays. Needs the Docker engine and the workspace image.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter

from ise_trace.config import IntentConfig, TaskConfig
from ise_trace.execute import WorkspacePool
from ise_trace.intents.sampler import IntentSampler
from ise_trace.intents.taxonomy import Taxonomy
from ise_trace.tasks.generate import generate_task
from ise_trace.tasks.runs import validate_in_pool


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(int(round(p / 100 * (len(xs) - 1))), len(xs) - 1)]


async def main(n: int) -> None:
    taxonomy = Taxonomy.load()
    sampled = IntentSampler(taxonomy, IntentConfig(n=n, seed=0)).sample(n)
    tasks = [(s, generate_task(s, taxonomy)) for s in sampled]
    config = TaskConfig()
    resets, validations, parts, reasons = [], [], Counter(), Counter()
    async with WorkspacePool(size=1) as pool:
        for _ in range(n):
            t = time.perf_counter()
            async with pool.acquire():
                pass
            resets.append((time.perf_counter() - t) * 1000)
        for s, task in tasks:
            t = time.perf_counter()
            v = await validate_in_pool(pool, s.id, task.workspace, task.checks, task.reference, config)
            validations.append((time.perf_counter() - t) * 1000)
            reasons["valid" if v.ok else v.reason] += 1
            for k, ms in v.timings_ms.items():
                parts[k] += ms
    print(f"{'measure':<44} {'p50 ms':>9} {'p95 ms':>9}")
    print(f"{'bare workspace reset (baseline)':<44} {pct(resets, 50):9.1f} {pct(resets, 95):9.1f}")
    print(f"{'validate one generated task (all of it)':<44} {pct(validations, 50):9.1f} {pct(validations, 95):9.1f}")
    print(f"ratio p50: {pct(validations, 50) / pct(resets, 50):.0f}x a bare reset")
    print("mean ms per task by step: " + ", ".join(f"{k} {v / n:.0f}" for k, v in parts.items()))
    print(f"verdicts over {n} tasks: {dict(reasons)}; mean parts per task "
          f"{statistics.fmean(len(t.checks) for _, t in tasks):.1f} checks")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40, help="tasks to validate (default 40)")
    asyncio.run(main(ap.parse_args().n))
