"""Run many episodes at once and keep an exactly-once ledger of their trajectories.

Workers pull intents from a queue; each episode gets a workspace from the shared pool and a
model pair chosen by worker slot, so several servers share the load. An episode that ends in an
error (model, simulator or sandbox failure) is noted in failures.jsonl and retried with a fresh
seed; its last attempt is recorded as a trajectory like any other, so every intent ends up in
trajectories.jsonl exactly once. A rerun of the same command skips what is already there.

A bug in ise-trace's own code is not an episode outcome: `run_episode` lets it propagate, the
first one stops the whole run (the other workers' episodes are cancelled and their workspaces
released) and it is raised as itself, with its traceback (the CLI exits 1; a UserError, such as
an unwritable ledger, stays one line and exit 2). Nothing is written for the intents in flight,
the rows already written stay, and a rerun resumes from them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from ..config import SimulateConfig
from ..fsio import write_json_atomic
from ..llm.base import ChatModel
from ..progress import Progress
from ..schemas import Intent, Trajectory
from .episode import EpisodeSetup, run_episode
from .live import LiveEpisodes
from .run_dir import SUMMARY, RunDirectory, llm_settings, run_settings
from .summary import summarize, summary_line


@dataclass
class _Session:
    episodes: int = 0
    attempts: int = 0
    errored: int = 0
    drift: int = 0


def open_run(
    out: str | Path, config: SimulateConfig, agent_models: list[ChatModel], user_models: list[ChatModel], intents_source: str = "",
    *, agent: Any = None, user: Any = None,
) -> tuple[RunDirectory, str]:
    """Lock the run folder and check (or record) its settings; returns it with the settings hash.

    `agent`/`user`: the roles' ModelChoice, whose generation options are part of the settings.
    Done before any workspace starts, so a wrong folder or changed settings fail at once.
    """
    run_dir = RunDirectory(out)
    try:
        settings = run_settings(config, [m.model for m in agent_models], [m.model for m in user_models],
                                llm_settings(agent), llm_settings(user))
        return run_dir, run_dir.record_settings(settings, intents_source)
    except BaseException:
        run_dir.close()
        raise


async def run_simulation(
    intents: list[Intent],
    run_dir: RunDirectory,
    run_key: str,
    agent_models: list[ChatModel],
    user_models: list[ChatModel],
    pool: Any,
    setup: EpisodeSetup,
    stream: TextIO = sys.stderr,
) -> dict[str, Any]:
    """Simulate every intent not yet in the run folder, then write and return the run summary.

    `setup` carries what all episodes share (config, tools, run_tool, image tag); each worker
    slot swaps in its own agent and user model, round-robin over the servers given.
    """
    config = setup.config
    finished = run_dir.trajectories.finished_intents()
    attempts = run_dir.failures.attempts()
    pending = deque(i for i in intents if i.id not in finished)
    progress = Progress(total=len(intents), label="simulate", stream=stream)
    if len(intents) > len(pending):
        progress.skip(len(intents) - len(pending))
    session = _Session()
    started = time.monotonic()
    live = LiveEpisodes()
    setup = replace(setup, live=live)

    async def worker(slot: int) -> None:
        slot_setup = replace(
            setup,
            agent_model=agent_models[slot % len(agent_models)],
            user_model=user_models[slot % len(user_models)],
            run_key=run_key,
        )
        while pending:
            intent = pending.popleft()
            first_attempt = attempts.get(intent.id, 0) + 1
            trajectory = await _simulate_intent(intent, first_attempt, pool, slot_setup, run_dir, session)
            run_dir.trajectories.append(trajectory.model_dump_json())
            session.episodes += 1
            session.drift += trajectory.stats.drift_turns
            progress.update(ok=trajectory.outcome.status == "success", errors=session.errored, drift=session.drift)

    async def heartbeat() -> None:
        # Episodes take minutes on a CPU: keep the progress line (and its elapsed time) moving.
        while True:
            await asyncio.sleep(1)
            progress.extra.update(live.counts())
            progress.render()

    ticker = asyncio.create_task(heartbeat())
    try:
        async with asyncio.TaskGroup() as group:
            for slot in range(min(config.concurrency, len(pending))):
                group.create_task(worker(slot))
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None
    finally:
        ticker.cancel()
        progress.close()

    elapsed = time.monotonic() - started
    summary = summarize(
        run_dir.trajectories,
        run_dir.failures,
        [i.id for i in intents],
        {
            "episodes": session.episodes,
            "attempts": session.attempts,
            "errored_attempts": session.errored,
            "drift_turns": session.drift,
            "elapsed_s": round(elapsed, 2),
            "trajectories_per_hour": round(session.episodes / elapsed * 3600, 1) if session.episodes else 0.0,
            "concurrency": config.concurrency,
        },
    )
    return write_summary(run_dir, summary, run_key, stream)


def write_summary(run_dir: RunDirectory, summary: dict[str, Any], run_key: str, stream: TextIO) -> dict[str, Any]:
    """summary.json of a run (atomically) and its one line; the Ray runner ends the same way."""
    summary["settings_hash"] = run_key
    write_json_atomic(run_dir.out / SUMMARY, summary)
    print(summary_line(summary), file=stream)
    return summary


def first_error(errors: BaseExceptionGroup) -> BaseException:
    """The first worker error of a TaskGroup, unwrapped (it keeps its own traceback)."""
    first = errors.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first


async def _simulate_intent(
    intent: Intent, attempt: int, pool: Any, setup: EpisodeSetup, run_dir: RunDirectory, session: _Session
) -> Trajectory:
    """Run attempts until one does not end in an error or the attempts are used up."""
    while True:
        trajectory = await run_episode(intent, pool, setup, attempt)
        session.attempts += 1
        if trajectory.outcome.status != "error":
            return trajectory
        session.errored += 1
        run_dir.failures.append(
            json.dumps(
                {
                    "intent_id": intent.id,
                    "attempt": attempt,
                    "reason": trajectory.outcome.reason,
                    "termination": trajectory.outcome.termination.value,
                }
            )
        )
        if attempt >= setup.config.max_attempts:
            return trajectory
        attempt += 1
