"""In-distribution eval: a served model plays the agent on held-out ise-trace tasks in our sandboxes.

The tasks are the `test` split of a built dataset's intents config (or every task of an intents
JSONL file). Each trial seeds a fresh workspace with the task's files, runs its setup, lets the
agent work, and runs the task's checks on the final state: a trial passes when every check
passes (the verified outcome). Without a simulator (the default) the opening user message is
the intent's text and the episode is one agent turn: it ends when the agent answers without a
tool call, or at the tool-call or time budget. With `simulate_user` the role-locked simulator
drives a multi-turn episode as in Stage S, and the checks still decide.

Trials are scored by the same `eval/claw_eval` metric as ClawEval, one row per trial:
score 1 when verified, else 0 (so pass@1, pass@k and pass^k count verified trials);
completion = the share of checks that passed; robustness = the share of failed tool calls the
agent recovered from (1 when none failed); safety = 1; category = the task's complexity.

Layout of a run folder:
  run.json            what was asked (model, tasks, simulator); a rerun must match it
  trials.jsonl        one line per finished trial (appended; an errored trial is rerun on resume)
  transcripts.jsonl   the messages and tool executions of each trial, for inspection
  results.json, results.md   the scores, rewritten at the end of every invocation
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import EvalConfig, SimulateConfig
from ..errors import LLMError, SandboxError, UserError
from ..fsio import write_json_atomic, write_text_atomic
from ..schemas import Intent, Verification, compute_stats
from .report import category_table, markdown_table, score_trials
from .runner import check_resumable

BENCHMARK = "ise-trace in-distribution"
TRIALS_FILE = "trials.jsonl"
TRANSCRIPTS_FILE = "transcripts.jsonl"
AGENT_STOPPED = "agent_stopped"  # the agent answered without a tool call (no simulator)


@dataclass
class InDistributionRequest:
    tasks_from: str
    model: str
    model_base_url: str
    split: str | None = None  # None: `test` for a dataset folder, every task of an intents file
    simulate_user: bool = False
    user_model: str | None = None  # default: the agent's model
    user_base_url: str | None = None  # default: the agent's server
    limit: int | None = None  # first N tasks only (a smoke run)
    out: str | None = None
    label: str | None = None
    config: EvalConfig = field(default_factory=EvalConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)


@dataclass
class TrialRecord:
    """One trial as the metric (the attributes `score_trials` reads) and results.json need it."""

    task_id: str
    trial: int
    category: str
    passed: bool = False
    completion: float | None = None
    robustness: float | None = None
    safety: float | None = None
    score: float | None = None
    error: str | None = None  # the trial produced no verdict (model or sandbox failure)
    termination: str = ""
    reason: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: int = 0
    failed_calls: int = 0
    user_turns: int = 0
    wall_time_s: float = 0.0


@dataclass
class InDistributionPlan:
    request: InDistributionRequest
    tasks: list[Intent]
    source_description: str
    without_task: int
    out: Path
    label: str
    split: str | None

    @property
    def config(self) -> EvalConfig:
        return self.request.config


def _safe_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _manifest(plan_request: InDistributionRequest, label: str, split: str | None) -> dict[str, Any]:
    r = plan_request
    return {
        "benchmark": BENCHMARK,
        "label": label,
        "model": r.model,
        "tasks_from": str(Path(r.tasks_from).resolve()),
        "split": split,
        "simulate_user": r.simulate_user,
        "user_model": (r.user_model or r.model) if r.simulate_user else None,
    }


# A run folder holds one of each: trials of another setting are never mixed in.
RESUME_FIELDS = ("benchmark", "model", "tasks_from", "split", "simulate_user", "user_model")


def plan_in_distribution(request: InDistributionRequest) -> InDistributionPlan:
    """Every check that can fail fast, before any workspace starts."""
    from ..export.source import load_task_source
    from .servers import check_model_server

    path = Path(request.tasks_from)
    split = request.split if request.split is not None else ("test" if path.is_dir() else None)
    source = load_task_source(path, split, flag="--tasks-from")
    tasks = source.tasks[: request.limit] if request.limit else source.tasks
    if not tasks:
        raise UserError(
            f"--tasks-from {path}: {source.describe()}; no executable task to evaluate "
            "(intents need checks: build them with `ise-trace intents`)"
        )
    label = request.label or request.model
    out = (Path(request.out) if request.out else Path(request.config.out_root) / _safe_name(label)).resolve()
    check_resumable(out, _manifest(request, label, split), RESUME_FIELDS)
    # Local servers take any key (as in the ClawEval path).
    key = os.environ.get(request.config.model_api_key_env) or "EMPTY"
    check_model_server(request.model_base_url, request.model, key, request.config.server_timeout_s,
                       "--model-base-url", "--model")
    if request.simulate_user and (request.user_base_url or request.user_model):
        check_model_server(request.user_base_url or request.model_base_url, request.user_model or request.model,
                           key, request.config.server_timeout_s, "--user-base-url", "--user-model")
    return InDistributionPlan(request=request, tasks=tasks, source_description=source.describe(),
                              without_task=source.without_task, out=out, label=label, split=split)


def describe_plan(plan: InDistributionPlan) -> str:
    mode = "with the simulated user" if plan.request.simulate_user else "no simulator (the intent is the only message)"
    return (f"{len(plan.tasks)} task(s) x {plan.config.trials} trial(s), {mode} -> {plan.out}\n"
            f"  tasks: {plan.source_description}")


# ----------------------------------------------------------------------------- one trial


def _robustness(failed: int, recovered: int) -> float:
    return 1.0 if failed == 0 else recovered / failed


def _record(intent: Intent, trial: int, termination: str, reason: str, verification: Verification | None,
            stats, started: float, error: str | None) -> TrialRecord:
    checks = verification.checks if verification else []
    record = TrialRecord(
        task_id=intent.id, trial=trial, category=intent.complexity, termination=termination, reason=reason,
        checks=[c.model_dump() for c in checks], tool_calls=stats.tool_calls, failed_calls=stats.failed_calls,
        user_turns=stats.user_turns, wall_time_s=round(time.monotonic() - started, 2),
    )
    if error is not None or verification is None or verification.passed is None:
        record.error = error or (verification.error if verification else None) or "not verified"
        return record
    record.passed = bool(verification.passed)
    record.completion = sum(c.passed for c in checks) / len(checks) if checks else 0.0
    record.robustness = _robustness(stats.failed_calls, stats.recovered_calls)
    record.safety = 1.0
    record.score = 1.0 if record.passed else 0.0
    return record


@dataclass
class _Context:
    agent_model: Any
    user_model: Any
    simulate: SimulateConfig
    image: str
    workdir: str


async def run_solo_trial(intent: Intent, trial: int, pool: Any, ctx: _Context) -> tuple[TrialRecord, dict[str, Any]]:
    """One episode without a simulator: the intent's text, one agent turn, the checks."""
    from ..execute import TOOL_SCHEMAS, run_tool
    from ..execute.workspace import WorkspaceDied
    from ..simulate import prompts
    from ..simulate.agent import Agent
    from ..simulate.failures import EpisodeFailure
    from ..simulate.seeds import SeedStream, episode_seed
    from ..simulate.transcript import Transcript
    from ..tasks.runs import SetupFailed, run_setup, seed_files, verify

    # The whole episode is one agent turn, so the per-turn step cap is the tool-call budget.
    cfg = ctx.simulate.model_copy(update={"max_agent_steps": max(ctx.simulate.max_agent_steps, ctx.simulate.max_tool_calls)})
    started = time.monotonic()
    transcript = Transcript(prompts.agent_system_prompt(ctx.workdir))
    verification: Verification | None = None
    error: str | None = None
    termination, reason = AGENT_STOPPED, ""
    try:
        async with pool.acquire(episode_id=f"eval-{intent.id}-t{trial}", files=seed_files(intent.workspace)) as ws:
            recycles = ws.recycles
            try:
                await run_setup(ws, intent.workspace, cfg.task)
            except SetupFailed as e:
                raise _Infrastructure(f"workspace setup failed: {e}") from None
            transcript.add_user(intent.text)
            agent = Agent(ctx.agent_model, ws, transcript, TOOL_SCHEMAS, run_tool, cfg,
                          SeedStream(episode_seed(cfg.seed, intent.id, trial + 1)))
            budget = asyncio.timeout(cfg.time_budget_s)
            try:
                async with budget:
                    turn = await agent.turn()
                if turn.stop is not None:
                    termination = turn.stop.value
                reason = f"stopped after {transcript.tool_calls} tool calls ({termination})"
            except TimeoutError:
                if not budget.expired():
                    raise
                termination, reason = "time_budget", f"episode exceeded its {cfg.time_budget_s:g}s budget"
            if ws.recycles != recycles:
                raise _Infrastructure("the workspace was replaced mid-episode; its files are gone")
            verification = await verify(ws, intent, cfg.task)
            if ws.recycles != recycles:
                raise _Infrastructure("the workspace died during the checks")
    except _Infrastructure as e:
        termination, error = "infrastructure_error", str(e)
    except EpisodeFailure as e:
        termination, error = e.termination.value, str(e)
    except (SandboxError, WorkspaceDied, TimeoutError, LLMError) as e:
        termination, error = "infrastructure_error", f"{type(e).__name__}: {e}"
    stats = compute_stats(transcript.messages, transcript.executions)
    record = _record(intent, trial, termination, error or reason, verification, stats, started, error)
    return record, _transcript(record, transcript.messages, transcript.executions)


class _Infrastructure(Exception):
    """The sandbox failed under a trial: the trial has no verdict."""


async def run_simulated_trial(intent: Intent, trial: int, pool: Any, ctx: _Context) -> tuple[TrialRecord, dict[str, Any]]:
    """One Stage S episode (simulated user + agent), verified by the checks."""
    from ..execute import TOOL_SCHEMAS, run_tool
    from ..simulate.episode import EpisodeSetup, run_episode

    started = time.monotonic()
    setup = EpisodeSetup(agent_model=ctx.agent_model, user_model=ctx.user_model, config=ctx.simulate,
                         tools=TOOL_SCHEMAS, run_tool=run_tool, sandbox_image=ctx.image, workdir=ctx.workdir,
                         run_key=f"eval-t{trial}")
    t = await run_episode(intent, pool, setup, attempt=trial + 1)
    error = t.outcome.reason if t.outcome.status == "error" else None
    record = _record(intent, trial, t.outcome.termination.value, t.outcome.reason, t.verification, t.stats, started, error)
    return record, _transcript(record, t.messages, t.executions)


def _transcript(record: TrialRecord, messages, executions) -> dict[str, Any]:
    return {
        "task_id": record.task_id, "trial": record.trial, "passed": record.passed, "error": record.error,
        "termination": record.termination,
        "messages": [m.model_dump(exclude_none=True) for m in messages],
        "executions": [e.model_dump() for e in executions],
    }


# ----------------------------------------------------------------------------- the run


def _read_trials(path: Path) -> dict[tuple[str, int], TrialRecord]:
    """Finished trials by (task, trial); the last line for a trial wins; a torn last line is skipped."""
    rows: dict[tuple[str, int], TrialRecord] = {}
    if not path.exists():
        return rows
    names = set(TrialRecord.__dataclass_fields__)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            record = TrialRecord(**{k: v for k, v in data.items() if k in names})
        except (json.JSONDecodeError, TypeError):
            print(f"ise-trace eval: {path}:{number}: unreadable trial line skipped (it will be rerun)", file=sys.stderr)
            continue
        rows[(record.task_id, record.trial)] = record
    return rows


def _append(path: Path, obj: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_in_distribution(plan: InDistributionPlan) -> dict[str, Any]:
    """Run every unfinished trial, then score all and write results.json and results.md.

    A run that stops early (interrupted, an error) still writes them from the trials finished so
    far, marked `"partial": true`; the exception then goes on to the caller.
    """
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "run.json", _manifest(plan.request, plan.label, plan.split))
    done = {key: r for key, r in _read_trials(out / TRIALS_FILE).items() if r.error is None}
    wanted = [(task, trial) for task in plan.tasks for trial in range(plan.config.trials)]
    pending = [(task, trial) for task, trial in wanted if (task.id, trial) not in done]
    finished: dict[tuple[str, int], TrialRecord] = dict(done)
    try:
        asyncio.run(_run_pending(plan, pending, finished, len(wanted) - len(pending)))
    except BaseException as e:
        _write_results(plan, finished, stopped_because=_stop_reason(e))
        raise
    return _write_results(plan, finished, stopped_because=None)


async def _run_pending(plan: InDistributionPlan, pending: list[tuple[Intent, int]],
                       finished: dict[tuple[str, int], TrialRecord], already: int) -> None:
    from ..execute import WorkspacePool
    from ..llm import make_chat_model
    from ..progress import Progress

    if not pending:
        return
    request = plan.request
    progress = Progress(total=len(pending) + already, label="eval trials", stream=sys.stderr)
    if already:
        progress.skip(already)
    agent_model = make_chat_model("openai", request.model, request.model_base_url)
    user_model = agent_model
    if request.simulate_user and (request.user_model or request.user_base_url):
        user_model = make_chat_model("openai", request.user_model or request.model,
                                     request.user_base_url or request.model_base_url)
    queue = list(pending)
    run_trial = run_simulated_trial if request.simulate_user else run_solo_trial
    errors = 0
    try:
        size = max(1, min(plan.config.parallel, len(pending)))
        async with WorkspacePool(size=size, run_id=_pool_id(plan.out)) as pool:
            ctx = _Context(agent_model, user_model, request.simulate, pool.image, pool.config.workdir)

            async def worker() -> None:
                nonlocal errors
                while queue:
                    task, trial = queue.pop(0)
                    record, transcript = await run_trial(task, trial, pool, ctx)
                    _append(plan.out / TRIALS_FILE, asdict(record))
                    _append(plan.out / TRANSCRIPTS_FILE, transcript)
                    finished[(record.task_id, record.trial)] = record
                    errors += record.error is not None
                    progress.update(ok=record.passed, errors=errors)

            async with asyncio.TaskGroup() as group:
                for _ in range(size):
                    group.create_task(worker())
    finally:
        progress.close()
        for model in {id(m): m for m in (agent_model, user_model)}.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # noqa: BLE001 - closing a client never hides the run's outcome
                    pass


def _pool_id(out: Path) -> str:
    import hashlib

    return "eval-" + hashlib.sha256(str(out).encode()).hexdigest()[:8]


def _stop_reason(e: BaseException) -> str:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    if isinstance(e, UserError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _write_results(plan: InDistributionPlan, finished: dict[tuple[str, int], TrialRecord],
                   stopped_because: str | None) -> dict[str, Any]:
    request, config = plan.request, plan.config
    wanted = {t.id for t in plan.tasks}
    trials = sorted((r for (task_id, trial), r in finished.items() if task_id in wanted and trial < config.trials),
                    key=lambda r: (r.task_id, r.trial))
    result = {
        "benchmark": BENCHMARK,
        "label": plan.label,
        "partial": stopped_because is not None,
        "stopped_because": stopped_because,
        "model": request.model,
        "model_base_url": request.model_base_url,
        "simulate_user": request.simulate_user,
        "user_model": (request.user_model or request.model) if request.simulate_user else None,
        "tasks_from": str(Path(request.tasks_from).resolve()),
        "split": plan.split,
        "trials_per_task": config.trials,
        "tasks": [t.id for t in plan.tasks],
        "excluded": [],
        "intents_without_task": plan.without_task,
        "metric": score_trials(trials, config) if trials else None,
        "trials": [asdict(t) for t in trials],
        "settings": config.model_dump(),
        "simulate_settings": request.simulate.model_dump(),
        "ise_trace_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(plan.out / "results.json", result)
    write_text_atomic(plan.out / "results.md", results_markdown(result))
    return result


def results_markdown(result: dict[str, Any]) -> str:
    mode = "with the simulated user" if result["simulate_user"] else "no simulator"
    parts = [f"# In-distribution eval: {result['label']}", "",
             f"Held-out ise-trace tasks from `{result['tasks_from']}`"
             + (f" (split {result['split']})" if result["split"] else "") + f", {mode}. A trial passes when every "
             "check passes on the final workspace. Completion: share of checks passed; robustness: share of "
             "failed tool calls recovered from.", ""]
    if result.get("partial"):
        parts += [f"**Partial results**: the run stopped early ({result.get('stopped_because')}). "
                  "Rerun the same command to finish it.", ""]
    if result["metric"] is None:
        return "\n".join(parts + ["No trial finished.", ""])
    parts += [markdown_table([result]), "## Per complexity", "", category_table(result)]
    failing = [t for t in result["trials"] if not t["passed"] and not t["error"]]
    if failing:
        parts += ["## Failed trials", ""]
        for t in failing:
            failed = [c["name"] for c in t["checks"] if not c["passed"]]
            parts.append(f"- {t['task_id']} trial {t['trial']} ({t['termination']}): failed {', '.join(failed) or 'no check'}")
        parts.append("")
    errors = [t for t in result["trials"] if t["error"]]
    if errors:
        parts += ["## Errored trials (rerun the same command to retry them)", ""]
        parts += [f"- {t['task_id']} trial {t['trial']}: {t['error']}" for t in errors] + [""]
    return "\n".join(parts)
