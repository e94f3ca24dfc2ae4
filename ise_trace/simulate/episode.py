"""One episode: a seeded workspace, the simulator and the agent taking turns, the checks, one
trajectory out.

The workspace is reset and seeded with the intent's files, its setup commands run, and only then
does the dialogue start. When the dialogue ends, however it ends, and before the workspace goes
back to the pool, the intent's checks run in it: their verdict is the trajectory's
`verification`, the ground truth beside the simulator's own `outcome`. A workspace that died
mid-episode is never verified.

`run_episode` returns a `Trajectory` with its termination reason for every way an episode can
end: completion, a budget, or a failure of the model, the simulator or the sandbox (the
`failures.EpisodeFailure` classes, `LLMError`, `SandboxError`, a workspace whose daemon died, a
timeout). Anything else is a bug in ise-trace's own code: it propagates with its
traceback, so it stops the run instead of becoming a data row that gets retried. Cancellation
passes through too, and the workspace is released in every case.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..config import SimulateConfig
from ..errors import LLMError, SandboxError
from ..execute.workspace import WorkspaceDied
from ..llm.base import ChatModel
from ..schemas import Intent, Outcome, Provenance, TerminationReason, Trajectory, Verification, compute_stats
from ..tasks.runs import SetupFailed, run_setup, seed_files, verify
from . import prompts
from .agent import Agent
from .failures import EpisodeFailure, WorkspaceFailure
from .grounding import state_from_snapshot
from .seeds import SeedStream, episode_seed
from .transcript import Transcript
from .user_simulator import UserSimulator


@dataclass(frozen=True)
class EpisodeSetup:
    """Everything an episode needs besides its intent; shared by all episodes of a run."""

    agent_model: ChatModel
    user_model: ChatModel
    config: SimulateConfig
    tools: list[dict[str, Any]]
    run_tool: Any  # ise_trace.execute.run_tool, passed in so this module stays import-light
    sandbox_image: str
    workdir: str = "/workspace"
    run_key: str = ""  # hash of the run settings: trajectory ids differ between differing runs
    live: Any = None  # a LiveEpisodes the runner's progress line reads, or None


_STATUS = {
    TerminationReason.user_completed: "success",
    TerminationReason.user_gave_up: "failure",
    TerminationReason.max_user_turns: "max_turns",
    TerminationReason.max_tool_calls: "max_turns",
    TerminationReason.max_agent_steps: "max_turns",
    TerminationReason.time_budget: "max_turns",
    TerminationReason.agent_error: "error",
    TerminationReason.user_error: "error",
    TerminationReason.infrastructure_error: "error",
}


def trajectory_id(run_key: str, intent_id: str) -> str:
    return "traj-" + hashlib.sha256(f"{run_key}:{intent_id}".encode()).hexdigest()[:16]


# Failures of the sandbox, which become an infrastructure_error trajectory (TimeoutError covers
# asyncio's timeouts). Anything not listed here, in EpisodeFailure or LLMError is ours: it propagates.
_SANDBOX_FAILURES = (SandboxError, WorkspaceDied, TimeoutError)


@dataclass
class _Ending:
    termination: TerminationReason
    reason: str
    success: bool = False


async def run_episode(intent: Intent, pool: Any, setup: EpisodeSetup, attempt: int = 1) -> Trajectory:
    cfg = setup.config
    seed = episode_seed(cfg.seed, intent.id, attempt)
    transcript = Transcript(prompts.agent_system_prompt(setup.workdir))
    simulator = UserSimulator(setup.user_model, intent, cfg, SeedStream(seed ^ 0x5EED))
    verification = Verification(passed=None)
    key = f"{intent.id}-a{attempt}"
    if setup.live is not None:
        setup.live.add(key, transcript)
    try:
        async with pool.acquire(episode_id=key, files=seed_files(intent.workspace)) as ws:
            ending = await _in_workspace(intent, ws, setup, transcript, simulator, SeedStream(seed))
            verification = await _verification(ws, intent, cfg, ending)
    except EpisodeFailure as e:
        ending = _Ending(e.termination, str(e))
    except _SANDBOX_FAILURES as e:  # the pool could not seed a workspace, the engine failed
        ending = _Ending(TerminationReason.infrastructure_error, f"{type(e).__name__}: {e}")
    except LLMError as e:  # a model call outside the agent's and the simulator's own handling
        ending = _Ending(TerminationReason.infrastructure_error, f"model server failed: {e}")
    finally:
        if setup.live is not None:
            setup.live.remove(key)
    if ending.termination is TerminationReason.infrastructure_error and intent.has_task:
        verification = Verification(passed=False, error=f"not verified: {ending.reason}")

    status = _STATUS[ending.termination]
    if ending.termination is TerminationReason.user_completed and not ending.success:
        status = "failure"
    return Trajectory(
        id=trajectory_id(setup.run_key, intent.id),
        intent=intent,
        messages=transcript.messages,
        tools=setup.tools,
        executions=transcript.executions,
        outcome=Outcome(status=status, reason=ending.reason, termination=ending.termination),
        verification=verification,
        stats=compute_stats(
            transcript.messages, transcript.executions, drift_turns=simulator.drift_turns, scripted_turns=simulator.scripted_turns
        ),
        provenance=Provenance(
            agent_model=setup.agent_model.model,
            user_model=setup.user_model.model,
            seeds={"run": cfg.seed, "episode": seed, "intent": intent.seed, "attempt": attempt},
            prompt_versions={
                "agent": prompts.AGENT_PROMPT_VERSION,
                "user_simulator": prompts.SIMULATOR_PROMPT_VERSION,
                "intent_renderer": intent.renderer.prompt_version,
            },
            sandbox_image=setup.sandbox_image,
            ise_trace_version=__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ),
    )


async def _in_workspace(
    intent: Intent, ws: Any, setup: EpisodeSetup, transcript: Transcript, simulator: UserSimulator, seeds: SeedStream
) -> _Ending:
    """Set the workspace up, then hold the dialogue within the episode's time budget."""
    cfg = setup.config
    try:
        await run_setup(ws, intent.workspace, cfg.task)
    except SetupFailed as e:
        return _Ending(TerminationReason.infrastructure_error, f"workspace setup failed: {e}")
    recycles = ws.recycles
    start_state = state_from_snapshot((await ws.snapshot(max_files=GROUNDING_MAX_FILES))[0])

    async def probe():
        return state_from_snapshot((await ws.snapshot(max_files=GROUNDING_MAX_FILES))[0]), start_state

    budget = asyncio.timeout(cfg.time_budget_s)
    try:
        async with budget:
            ending = await _converse(ws, setup, transcript, simulator, seeds, probe)
    except TimeoutError as e:
        if budget.expired():
            ending = _Ending(TerminationReason.time_budget, f"episode exceeded its {cfg.time_budget_s:g}s budget")
        else:
            ending = _Ending(TerminationReason.infrastructure_error, f"timed out: {e or type(e).__name__}")
    except EpisodeFailure as e:
        ending = _Ending(e.termination, str(e))
    if ws.recycles != recycles and ending.termination is not TerminationReason.infrastructure_error:
        ending = _Ending(TerminationReason.infrastructure_error, "the workspace was replaced mid-episode; its files are gone")
    return ending


GROUNDING_MAX_FILES = 2000  # files the completion guard looks at; beyond this a claim goes unchecked


async def _verification(ws: Any, intent: Intent, cfg: SimulateConfig, ending: _Ending) -> Verification:
    """The checks on the final state, unless the episode ended because the workspace failed."""
    if ending.termination is TerminationReason.infrastructure_error:
        return Verification(passed=False if intent.has_task else None, error=f"not verified: {ending.reason}")
    recycles = ws.recycles
    try:
        result = await verify(ws, intent, cfg.task)
    except _SANDBOX_FAILURES as e:  # the engine failed under the checks: record it, never pass it
        raise WorkspaceFailure(f"verification failed to run: {type(e).__name__}: {e}") from e
    if ws.recycles != recycles:
        return Verification(passed=False if intent.has_task else None, error="the workspace died during the checks")
    return result


async def _converse(
    ws: Any, setup: EpisodeSetup, transcript: Transcript, simulator: UserSimulator, agent_seeds: SeedStream, probe
) -> _Ending:
    cfg = setup.config
    agent = Agent(setup.agent_model, ws, transcript, setup.tools, setup.run_tool, cfg, agent_seeds)
    user = await simulator.open()
    user_turns = 0
    while True:
        transcript.add_user(user.text)
        user_turns += 1
        turn = await agent.turn()
        if turn.stop is not None:
            return _Ending(turn.stop, f"stopped after {transcript.tool_calls} tool calls ({turn.stop.value})")
        if user_turns >= cfg.max_user_turns:
            return _Ending(TerminationReason.max_user_turns, f"reached {cfg.max_user_turns} user turns")
        user = await simulator.respond(turn.reply, turn.digest, transcript.calls, probe)
        verdict = user.turn
        if not verdict.completed:
            continue
        if not verdict.is_success:
            return _Ending(TerminationReason.user_gave_up, verdict.reason or "the user gave up")
        if user.unbacked:
            return _Ending(
                TerminationReason.user_completed,
                "completion not backed by what ran: " + "; ".join(user.unbacked),
            )
        return _Ending(TerminationReason.user_completed, verdict.reason or "the user confirmed the goal", True)
