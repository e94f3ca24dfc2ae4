"""RL environment: what a rollout's reset costs beside a bare workspace reset, and GRPO rollouts per minute on CPU.

    .venv/bin/python benchmarks/bench_rl.py              # 20 generated tasks, 4 GRPO steps; ~1.5 minutes on 2 cores
    .venv/bin/python benchmarks/bench_rl.py --n 10 --steps 2

Reset-to-first-token: `TaskEnvironment.reset(**row)` from the calling thread, as GRPOTrainer calls it
(hand back the last workspace, reset and seed one from the warm pool, run the task's setup), until
the opening message is returned and the prompt can be tokenized. The baseline is a bare workspace
reset through the same pool and loop thread (no files, no setup): the fixed cost of any episode.
Rollouts per minute: rl/train_grpo.py's trainer on the tiny-cpu recipe (tiny warm-started Qwen3,
rl/tiny.py's tasks, tool calls in Docker, rewards from the checks), one torch thread, trainer.train()
timed after the model is loaded and the workspaces are started. Needs Docker and the workspace image.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(int(round(p / 100 * (len(xs) - 1))), len(xs) - 1)]


def script(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem + "_bench", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def reset_figures(n: int) -> tuple[list[float], list[float], int]:
    from ise_trace.config import IntentConfig
    from ise_trace.intents.sampler import IntentSampler
    from ise_trace.intents.taxonomy import Taxonomy
    from ise_trace.rl import TaskEnvironment, runtime
    from ise_trace.schemas import Intent, RendererInfo
    from ise_trace.tasks.generate import generate_task

    taxonomy = Taxonomy.load()
    rows = []
    for s in IntentSampler(taxonomy, IntentConfig(n=n, seed=0)).sample(n):
        task = generate_task(s, taxonomy)
        if task is not None:
            rows.append(Intent(id=s.id, text=task.brief, persona=s.persona, domains=s.domains, complexity=s.complexity,
                               seed=s.seed, renderer=RendererInfo(model="bench", prompt_version="0"),
                               workspace=task.workspace, checks=task.checks).model_dump(mode="json"))
    TaskEnvironment.warm()
    shared = runtime.current()

    async def bare():
        await shared.release(await shared.acquire("bench-bare", []))

    bare_ms, task_ms = [], []
    for _ in range(len(rows)):
        t = time.perf_counter()
        shared.run(bare(), 60)
        bare_ms.append((time.perf_counter() - t) * 1000)
    with TaskEnvironment() as env:
        for row in rows:
            t = time.perf_counter()
            env.reset(**row)
            task_ms.append((time.perf_counter() - t) * 1000)
    TaskEnvironment.shutdown()
    return bare_ms, task_ms, sum(bool(r["workspace"]["setup"]) for r in rows)


def rollout_figures(steps: int) -> tuple[float, int, float, float]:
    import torch

    from ise_trace.rl import TaskEnvironment

    torch.set_num_threads(1)
    train = script("rl/train_grpo.py")
    with tempfile.TemporaryDirectory() as tmp:
        model, tasks = script("rl/tiny.py").make_tiny(Path(tmp) / "tiny")
        args = train.parse(["--config", str(ROOT / "rl" / "recipes" / "tiny-cpu.yaml"), "--model_name_or_path",
                            str(model), "--dataset_name", str(tasks), "--output_dir", str(Path(tmp) / "out"),
                            "--max_steps", str(steps), "--disable_tqdm", "true"])
        trainer = train.build_trainer(*args)
        try:
            t = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - t
        finally:
            TaskEnvironment.shutdown()
        rollouts = steps * args[1].generation_batch_size
        calls = [e["tools/call_frequency"] for e in trainer.state.log_history if "tools/call_frequency" in e]
        rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    return seconds, rollouts, statistics.fmean(calls), statistics.fmean(rewards)


def main(n: int, steps: int) -> None:
    bare_ms, task_ms, with_setup = reset_figures(n)
    seconds, rollouts, calls, reward = rollout_figures(steps)
    print(f"\n{'measure':<60} {'p50 ms':>9} {'p95 ms':>9}")
    print(f"{'bare workspace reset via the loop thread (baseline)':<60} {pct(bare_ms, 50):9.1f} {pct(bare_ms, 95):9.1f}")
    print(f"{'TaskEnvironment.reset: seed + setup (reset-to-first-token)':<60} {pct(task_ms, 50):9.1f} {pct(task_ms, 95):9.1f}")
    print(f"ratio p50: {pct(task_ms, 50) / pct(bare_ms, 50):.1f}x a bare reset over {len(task_ms)} generated tasks "
          f"({with_setup} with setup commands)")
    print(f"\nGRPO on CPU, tiny Qwen3, {steps} steps x {rollouts // steps} rollouts: {rollouts} rollouts in {seconds:.1f} s "
          f"= {rollouts / seconds * 60:.0f} rollouts/min (tool calls per rollout {calls:.2f}, mean reward {reward:.3f})")
    print(f"environment share: a rollout's reset p50 {pct(task_ms, 50):.0f} ms of {seconds / rollouts * 1000:.0f} ms "
          "per rollout (reset, generation, tools, checks, optimizer step)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="generated tasks to reset into (default 20)")
    ap.add_argument("--steps", type=int, default=4, help="GRPO steps to time (default 4)")
    a = ap.parse_args()
    main(a.n, a.steps)
