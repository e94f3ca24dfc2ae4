"""Plan an eval (every check that can fail fast), then run its tasks through the harness.

Layout of a run folder:
  run.json                  what was asked (model, judge, harness); a rerun must match it
  harness_config.yaml       the config the harness reads (keys come from the environment)
  tasks/<task>/harness.log  the harness's output, one section per invocation
  tasks/<task>/<model>_<date>/  the harness's batch folder: JSONL traces, batch_results.json
  results.json, results.md  the scores, rewritten at the end of every invocation

A trial is finished once its trace carries a grading_result; a rerun skips finished trials and
asks the harness (`--continue`) for the rest (never started, interrupted or errored).
"""

from __future__ import annotations

import json
import os
import queue
import re
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import EvalConfig
from ..errors import UserError
from ..fsio import write_json_atomic, write_text_atomic
from ..progress import Progress
from .harness import (
    JUDGE_KEY_VAR,
    MODEL_KEY_VAR,
    Harness,
    TaskLauncher,
    TrialResult,
    check_harness,
    filter_args,
    harness_config_yaml,
    read_graded_trials,
    resolve_harness,
)
from .report import results_markdown, score_trials
from .servers import check_model_server, context_advice, context_too_small
from .tasks import ClawTask, Selection, describe_tasks, judge_free_tasks, load_checkout, select_tasks

_MAX_PORT = 32767  # above it the OS hands out ephemeral ports


@dataclass
class EvalRequest:
    claw_eval_dir: str
    model: str
    model_base_url: str
    judge_model: str | None = None
    judge_base_url: str | None = None
    tasks: str | None = None
    include_live_web: bool = False
    out: str | None = None
    label: str | None = None
    harness_cmd: str | None = None
    config: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class EvalPlan:
    request: EvalRequest
    selection: Selection
    harness: Harness
    out: Path
    label: str
    commit: str | None
    all_tasks: list[ClawTask]

    @property
    def config(self) -> EvalConfig:
        return self.request.config

    def task_dir(self, task: ClawTask) -> Path:
        return self.out / "tasks" / task.folder.name


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _key(env_var: str) -> str:
    # Local servers take any key, and the harness only enables its judge when a key is set.
    return os.environ.get(env_var) or "EMPTY"


def _manifest(request: EvalRequest, label: str, harness: Harness, commit: str | None) -> dict[str, Any]:
    return {
        "label": label,
        "model": request.model,
        "judge_model": request.judge_model,
        "claw_eval_dir": str(Path(request.claw_eval_dir).resolve()),
        "harness_commit": commit,
        "harness_command": harness.command,
    }


def check_resumable(out: Path, manifest: dict[str, Any], fields: tuple[str, ...]) -> None:
    """A run folder holds one setting of `fields` (model, judge, ...): refuse to mix another's trials into it."""
    path = out / "run.json"
    if not path.exists():
        if out.exists() and any(out.iterdir()):
            raise UserError(f"--out {out}: folder exists, is not empty and holds no run.json; pick a new folder")
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable ({e}); pick a new --out folder") from None
    for field_name in fields:
        if previous.get(field_name) != manifest[field_name]:
            raise UserError(
                f"--out {out}: holds a run with {field_name}={previous.get(field_name)!r}, not "
                f"{manifest[field_name]!r}; rerun with the same settings to resume, or pick a new --out"
            )


def _check_ports(selection: Selection, config: EvalConfig) -> None:
    highest = max((p for t in selection.tasks for p in t.ports), default=0)
    if not highest:
        return
    top = highest + config.port_base_offset + (config.parallel - 1) * config.port_stride
    if top > _MAX_PORT:
        fits = (_MAX_PORT - highest - config.port_base_offset) // config.port_stride + 1
        raise UserError(
            f"--parallel {config.parallel}: the last slot would use port {top} (above {_MAX_PORT}); "
            f"use --parallel {max(fits, 1)} or less, or a smaller port_base_offset"
        )


def plan_eval(request: EvalRequest) -> EvalPlan:
    """Every check that can fail, cheapest first, before any trial starts."""
    config = request.config
    checkout = load_checkout(request.claw_eval_dir)
    selection = select_tasks(checkout, request.tasks, request.include_live_web)
    needs_judge = [t.folder.name for t in selection.tasks if t.needs_judge]
    if needs_judge and not request.judge_model:
        shown = ", ".join(needs_judge[:8]) + (f" and {len(needs_judge) - 8} more" if len(needs_judge) > 8 else "")
        free = judge_free_tasks(checkout)
        instead = (
            f"or run the {len(free)} rule-graded task(s) with --tasks judge-free ({describe_tasks(free)})"
            if free else "or select tasks with rule-based graders only"
        )
        raise UserError(
            f"{len(needs_judge)} selected task(s) are graded with an LLM judge ({shown}) but no judge "
            f"is configured: pass --judge-model (and --judge-base-url if it is another server), {instead}"
        )
    _check_ports(selection, config)
    every_task = list(checkout.tasks.values())
    for task in selection.tasks:
        filter_args(task, every_task)
    harness = resolve_harness(checkout.root, request.harness_cmd)
    label = request.label or request.model
    out = (Path(request.out) if request.out else Path(config.out_root) / _safe_name(label)).resolve()
    commit = checkout.commit()
    check_resumable(out, _manifest(request, label, harness, commit), ("model", "judge_model", "harness_commit"))
    check_harness(harness)
    check_model_server(request.model_base_url, request.model, _key(config.model_api_key_env),
                       config.server_timeout_s, "--model-base-url", "--model")
    if request.judge_model:
        check_model_server(request.judge_base_url or request.model_base_url, request.judge_model,
                           _key(config.judge_api_key_env), config.server_timeout_s,
                           "--judge-base-url", "--judge-model")
    return EvalPlan(request=request, selection=selection, harness=harness, out=out, label=label, commit=commit,
                    all_tasks=every_task)


def describe_plan(plan: EvalPlan) -> str:
    lines = [f"{len(plan.selection.tasks)} task(s) x {plan.config.trials} trial(s) -> {plan.out}"]
    lines += [f"  run   {t.folder.name} ({t.category}{', judge' if t.needs_judge else ''})" for t in plan.selection.tasks]
    lines += [f"  skip  {t.folder.name}: {t.excluded_because}" for t in plan.selection.excluded]
    return "\n".join(lines)


def _stop_if_context_too_small(plan: EvalPlan, rows: list[TrialResult]) -> None:
    """Every later task would fail the same way: stop with what to do instead."""
    for row in rows:
        sizes = context_too_small(row.error)
        if sizes is not None:
            raise UserError(context_advice(row.task_id, plan.request.model_base_url, *sizes))


def _run_pending(plan: EvalPlan, pending: list[ClawTask], graded_before: dict[str, int],
                 launcher: TaskLauncher, progress: Progress, results: list[TrialResult]) -> None:
    """Run tasks on `parallel` port slots, appending each finished task's rows to `results`
    (so that a run stopped early still has them); stop early if the harness grades nothing at
    first or the model's context is too small."""
    config = plan.config
    slots: queue.Queue[int] = queue.Queue()
    for i in range(config.parallel):
        slots.put(config.port_base_offset + i * config.port_stride)

    def one(task: ClawTask) -> list[TrialResult]:
        offset = slots.get()
        try:
            return launcher.run(task, config.trials, plan.task_dir(task), offset, plan.out)
        finally:
            slots.put(offset)

    tasks_done = 0
    newly_graded = 0
    todo = list(pending)
    first_wave = min(config.parallel, len(todo))
    futures: set[Future] = set()
    with ThreadPoolExecutor(max_workers=config.parallel) as pool:

        def fill() -> None:
            # Submit only what can start now, so stopping early leaves the rest unstarted.
            while todo and len(futures) < config.parallel:
                futures.add(pool.submit(one, todo.pop(0)))

        try:
            fill()
            while futures:
                done, remaining = wait(futures, return_when=FIRST_COMPLETED)
                futures.intersection_update(remaining)
                for future in done:
                    rows = future.result()
                    tasks_done += 1
                    results += rows
                    graded = sum(1 for r in rows if not r.error) - graded_before.get(rows[0].task_id, 0)
                    newly_graded += graded
                    if graded:
                        progress.update(ok=True, n=graded)
                    errors = sum(1 for r in rows if r.error)
                    if errors:
                        progress.update(ok=False, n=errors)
                    _stop_if_context_too_small(plan, rows)
                if tasks_done >= first_wave and newly_graded == 0:
                    first = next(r for r in results if r.error)
                    raise UserError(
                        f"the harness graded no trial of the first {tasks_done} task(s) of this run, e.g. "
                        f"{first.task_id}: {first.error}. Logs: {plan.out / 'tasks'}. "
                        "Fix the cause and rerun the same command."
                    )
                fill()
        except BaseException:
            todo.clear()
            launcher.stop_all()
            raise


def run_eval(plan: EvalPlan) -> dict[str, Any]:
    """Run every unfinished task, then score all trials and write results.json and results.md.

    A run that stops early (interrupted, or an error mid-run) still writes them, from the trials
    graded so far, marked `"partial": true`; the exception then goes on to the caller.
    """
    request, config, out = plan.request, plan.config, plan.out
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "run.json", _manifest(request, plan.label, plan.harness, plan.commit))
    config_path = out / "harness_config.yaml"
    write_text_atomic(config_path, harness_config_yaml(request.model, request.model_base_url,
                                                       request.judge_model, request.judge_base_url))

    rows: dict[str, list[TrialResult]] = {}
    pending: list[ClawTask] = []
    graded_before: dict[str, int] = {}
    for task in plan.selection.tasks:
        graded = read_graded_trials(plan.task_dir(task), task, config.trials, out)
        graded_before[task.task_id] = len(graded)
        if len(graded) < config.trials:
            pending.append(task)
        else:
            rows[task.task_id] = graded
    already = sum(graded_before.values())

    progress = Progress(total=len(plan.selection.tasks) * config.trials, label="eval trials", stream=sys.stderr)
    if already:
        progress.skip(already)
    launcher = TaskLauncher(
        plan.harness, config_path, request.model, request.model_base_url,
        use_judge=request.judge_model is not None,
        env={MODEL_KEY_VAR: _key(config.model_api_key_env), JUDGE_KEY_VAR: _key(config.judge_api_key_env)},
        trial_timeout_s=config.trial_timeout_s,
        all_tasks=plan.all_tasks,
    )
    finished: list[TrialResult] = []
    try:
        _run_pending(plan, pending, graded_before, launcher, progress, finished)
    except BaseException as e:
        progress.close()
        _write_partial(plan, rows, finished, pending, _stop_reason(e))
        raise
    progress.close()
    for result in finished:
        rows.setdefault(result.task_id, []).append(result)
    return _write_results(plan, [t for task_rows in rows.values() for t in task_rows], stopped_because=None)


def _stop_reason(e: BaseException) -> str:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    if isinstance(e, UserError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _write_partial(plan: EvalPlan, rows: dict[str, list[TrialResult]], finished: list[TrialResult],
                   pending: list[ClawTask], reason: str) -> None:
    """results.json from what a stopped run has: tasks graded before, tasks finished in this run
    (errors included), and the graded trials of tasks it stopped in the middle of."""
    trials = [t for task_rows in rows.values() for t in task_rows] + finished
    done = {t.task_id for t in finished}
    for task in pending:
        if task.task_id not in done:
            trials += read_graded_trials(plan.task_dir(task), task, plan.config.trials, plan.out)
    try:
        _write_results(plan, trials, stopped_because=reason)
    except Exception as e:  # noqa: BLE001 - never hide why the run stopped behind this one
        print(f"ise-trace eval: could not write partial results ({type(e).__name__}: {e})", file=sys.stderr)


def _write_results(plan: EvalPlan, trials: list[TrialResult], stopped_because: str | None) -> dict[str, Any]:
    """Score `trials` and write results.json and results.md (each atomically)."""
    request, config, out = plan.request, plan.config, plan.out
    trials = sorted(trials, key=lambda t: (t.task_id, t.trial))
    result = {
        "label": plan.label,
        "partial": stopped_because is not None,
        "stopped_because": stopped_because,
        "model": request.model,
        "model_base_url": request.model_base_url,
        "judge_model": request.judge_model,
        "judge_base_url": request.judge_base_url or (request.model_base_url if request.judge_model else None),
        "trials_per_task": config.trials,
        "tasks": [t.task_id for t in plan.selection.tasks],
        "excluded": [{"task_id": t.task_id, "reason": t.excluded_because} for t in plan.selection.excluded],
        "harness": {"checkout": str(plan.harness.checkout), "commit": plan.commit, "command": plan.harness.command},
        # A run stopped before any trial finished has nothing to score.
        "metric": score_trials(trials, config) if trials else None,
        "trials": [vars(t) for t in trials],
        "settings": config.model_dump(),
        "ise_trace_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(out / "results.json", result)
    write_text_atomic(out / "results.md", results_markdown(result))
    return result
