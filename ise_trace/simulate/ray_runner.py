"""Stage S+E over a Ray cluster: `ise-trace simulate --ray [ADDRESS]`.

    ray start --head --port 6379                       # on the head node
    ray start --address HEAD:6379                      # on every other node (each with its own Docker engine)
    ise-trace simulate --intents intents.jsonl --out runs/r1 --ray HEAD:6379 \\
        --agent-backend openai --agent-base-url http://gpu1:8000/v1,http://gpu2:8000/v1

Intents go to `EpisodeWorker` actors, `ray_actors_per_node` on every live node (or `ray_actors`
in all, round-robin over the nodes), each pinned to its node. An actor runs episodes on its
node's own Docker engine, in its own WorkspacePool of `concurrency` workspaces, so workspaces
never cross nodes; it talks to the model servers given, routed by load (`llm.router`).

The driver keeps the ledger. Actors run one attempt of one intent per call and return the
trajectory; only the driver appends to trajectories.jsonl and failures.jsonl, through the same
`RunDirectory` (lock, settings hash, fsynced whole-line appends) as the plain runner. So the run
folder is the one the plain runner writes, resumable by either, and exactly-once holds for the
same reason: a trajectory is appended once, by one process, and a rerun skips what is there.

Faults:
- A killed driver: its actors die with it (Ray ends an owner's actors), and so do their
  workspaces (a workspace's daemon exits when its `docker run -i` client goes). Rerunning the
  same command resumes from the ledger, as without Ray.
- A killed actor or a lost node: the calls in flight on it fail with `RayActorError`; their
  intents go back to the front of the queue, with the same attempt number (a lost actor is not
  an episode outcome, so the retried episode has the seed it would have had), and the other
  actors take them. An actor whose node is still alive is replaced on it. An intent lost with
  its actor `max_attempts` times is left out of this session (noted in failures.jsonl); a rerun
  tries it again.
- A bug in our own code inside an actor stops the run with its traceback, as in the plain
  runner; nothing is written for the intents in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from ..errors import UserError
from ..progress import Progress
from .run_dir import RunDirectory, llm_settings, run_settings
from .runner import first_error, write_summary
from .summary import summarize

log = logging.getLogger(__name__)

ACTOR_START_TIMEOUT_S = 600.0  # model load (embedded) and workspace starts; a pending placement ends here
ACTOR_CLOSE_TIMEOUT_S = 20.0
REPLACEMENTS_PER_SLOT = 3  # actors started again on a live node after the one there died


# --------------------------------------------------------------------------- the actor


class EpisodeWorker:
    """One Ray actor: the models, a WorkspacePool on this node's Docker engine, one attempt per call.

    An async actor: every method runs on the actor's one event loop, which owns the pool.
    """

    def __init__(self, settings: Any, pool_name: str, size: int):
        self.settings = settings
        self.pool_name = pool_name
        self.size = size
        self._stack: Any = None
        self._setup: Any = None
        self._pool: Any = None
        self._node: dict[str, str] = {}

    async def start(self) -> dict[str, Any]:
        """Open the models (each server checked to answer) and start the pool; returns where it runs."""
        import contextlib

        import ray

        from ..execute import TOOL_SCHEMAS, WorkspacePool, run_tool
        from .episode import EpisodeSetup
        from .live import LiveEpisodes
        from .models import open_models

        from . import drift_classifier

        # The role-drift classifier loads its embedder on first use: here, so that the first
        # episodes are not the slow ones and a node without it says so before any episode.
        await asyncio.to_thread(drift_classifier.default)
        self._stack = contextlib.AsyncExitStack()
        agent_models, user_models = await self._stack.enter_async_context(
            open_models(self.settings.agent.spec(), self.settings.user.spec()))
        self._pool = await self._stack.enter_async_context(WorkspacePool(size=self.size, run_id=self.pool_name))
        agent = routed(agent_models)
        user = agent if [id(m) for m in user_models] == [id(m) for m in agent_models] else routed(user_models)
        self._setup = EpisodeSetup(
            agent_model=agent, user_model=user, config=self.settings.config, tools=TOOL_SCHEMAS, run_tool=run_tool,
            sandbox_image=self._pool.image, workdir=self._pool.config.workdir, live=LiveEpisodes(),
        )
        self._node = {"node_host": socket.gethostname(), "ray_node_id": ray.get_runtime_context().get_node_id()}
        return {**self._node, "pid": os.getpid(), "agent_models": [m.model for m in agent_models],
                "user_models": [m.model for m in user_models], "sandbox_image": self._pool.image}

    async def run(self, intent_json: str, attempt: int, run_key: str) -> dict[str, Any]:
        """One attempt of one intent; the trajectory as JSON, with what the driver's ledger needs."""
        from ..schemas import Intent
        from .episode import run_episode

        intent = Intent.model_validate_json(intent_json)
        trajectory = await run_episode(intent, self._pool, replace(self._setup, run_key=run_key), attempt)
        trajectory.provenance.node_host = self._node["node_host"]
        trajectory.provenance.ray_node_id = self._node["ray_node_id"]
        return {
            "status": trajectory.outcome.status,
            "reason": trajectory.outcome.reason,
            "termination": trajectory.outcome.termination.value,
            "drift_turns": trajectory.stats.drift_turns,
            "trajectory": trajectory.model_dump_json(),
        }

    async def live(self) -> dict[str, int]:
        return self._setup.live.counts() if self._setup else {}

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()


def routed(models: list[Any]) -> Any:
    """One ChatModel over a role's servers: the model itself for one, least-outstanding routing for several."""
    from ..llm.router import RoutedChatModel

    return models[0] if len(models) == 1 else RoutedChatModel(models)


# --------------------------------------------------------------------------- the driver


def run_ray_simulate(settings: Any, intents_file: str | Path, out: str | Path, stream: TextIO | None = None) -> dict[str, Any]:
    """`orchestrate.run_simulate` over the Ray cluster at `settings.config.ray_address`.

    Same run folder, same summary (with a `ray` section in its session); rerunning resumes.
    """
    from ..orchestrate import check_out_folder
    from .intents_file import load_intents

    intents = load_intents(intents_file)
    check_out_folder(str(out), "--out")
    return asyncio.run(_drive(settings, intents, str(intents_file), str(out), stream or sys.stderr))


def connect(address: str) -> tuple[Any, bool]:
    """ray.init for `address`: "auto" (the cluster `ray start` made here, or $RAY_ADDRESS), host:port,
    ray://host:port, or "local" (a one-node cluster in this process). Returns (ray, whether this call
    joined: False when the caller had already)."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'ise-trace[ray]'") from None
    if ray.is_initialized():
        return ray, False
    _probe(address)
    try:
        ray.init(address=None if address == "local" else address, logging_level=logging.WARNING,
                 configure_logging=False, include_dashboard=False if address == "local" else None)
    except ConnectionError as e:
        raise UserError(f"--ray {address}: no Ray cluster answers there ({e}); start one with `ray start --head` "
                        "or pass its address (host:port)") from None
    return ray, True


def _probe(address: str) -> None:
    """A host:port that nothing listens on fails here in seconds (ray.init would retry for minutes)."""
    if address in ("auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"--ray {address}: expected host:port (the head node's GCS port, 6379 by default), "
                        "ray://host:port, 'auto' or 'local'")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except OSError as e:
        raise UserError(f"--ray {address}: no Ray cluster answers there ({e.strerror or e}); start one with "
                        "`ray start --head` or pass its address (host:port)") from None


@dataclass
class _Actor:
    slot: int
    node_id: str
    handle: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    dead: bool = False
    replacements: int = 0


@dataclass
class _Session:
    episodes: int = 0
    attempts: int = 0
    errored: int = 0
    drift: int = 0
    actor_losses: int = 0
    requeued: list[str] = field(default_factory=list)
    replaced: int = 0
    given_up: list[str] = field(default_factory=list)
    nodes: Counter = field(default_factory=Counter)


def placements(nodes: list[str], per_node: int, total: int | None) -> list[str]:
    """Node id of each actor: `per_node` on every node, or `total` round-robin over them."""
    if total is not None:
        return [nodes[i % len(nodes)] for i in range(total)]
    return [n for n in nodes for _ in range(per_node)]


def _alive_nodes(ray: Any) -> list[str]:
    return [n["NodeID"] for n in ray.nodes() if n.get("Alive")]


async def _drive(settings: Any, intents: list, intents_source: str, out: str, stream: TextIO) -> dict[str, Any]:
    from ..orchestrate import pool_id

    config = settings.config
    run_dir = RunDirectory(out)  # the lock first: a second driver on this folder fails before any actor starts
    ray = None
    try:
        ray, joined = connect(config.ray_address)
        finished = run_dir.trajectories.finished_intents()
        attempts = run_dir.failures.attempts()
        pending = [i for i in intents if i.id not in finished]
        nodes = _alive_nodes(ray)
        where = placements(nodes, config.ray_actors_per_node, config.ray_actors)
        size = max(1, min(config.concurrency, math.ceil(len(pending) / len(where)) if pending else 1))
        fleet = _Fleet(ray, settings, pool_id(out), size)
        try:
            await fleet.start([_Actor(slot, node) for slot, node in enumerate(where)])
            first = fleet.actors[0].info
            run_key = run_dir.record_settings(
                run_settings(config, first["agent_models"], first["user_models"],
                             llm_settings(settings.agent), llm_settings(settings.user)), intents_source)
            return await _run(fleet, intents, pending, finished, attempts, run_dir, run_key, stream)
        finally:
            await fleet.close()
    finally:
        run_dir.close()
        if ray is not None and joined:
            ray.shutdown()  # leave the cluster now, not when the interpreter exits (or the cluster is gone)


class _Fleet:
    """The actors of one run: start, replace after a death, close."""

    def __init__(self, ray: Any, settings: Any, pool_name: str, size: int):
        self.ray = ray
        self.settings = settings
        self.pool_name = pool_name
        self.size = size
        self.actors: list[_Actor] = []
        self._remote = ray.remote(EpisodeWorker)

    def _spawn(self, actor: _Actor) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor.handle = self._remote.options(
            num_cpus=0,  # episodes wait on the model: the node's CPUs are for its workspaces
            max_restarts=0,  # a dead actor is replaced by the driver, which knows what it had in flight
            max_concurrency=self.size + 4,
            scheduling_strategy=NodeAffinitySchedulingStrategy(actor.node_id, soft=False),
        ).remote(self.settings, f"{self.pool_name}-r{actor.slot}", self.size)

    async def _start_one(self, actor: _Actor) -> None:
        self._spawn(actor)
        actor.info = await asyncio.wait_for(_ref(actor.handle.start.remote()), ACTOR_START_TIMEOUT_S)

    async def start(self, actors: list[_Actor]) -> None:
        self.actors = actors
        results = await asyncio.gather(*(self._start_one(a) for a in actors), return_exceptions=True)
        for actor, result in zip(actors, results):
            if isinstance(result, BaseException):
                raise _start_error(actor, result) from None
        names = {(tuple(a.info["agent_models"]), tuple(a.info["user_models"])) for a in actors}
        if len(names) > 1:
            raise UserError(f"the Ray actors see different model names {sorted(names)}; pass --agent-model and --user-model")
        for a in actors:
            log.info("ray actor %d on %s (node %s, pid %s)", a.slot, a.info["node_host"], a.node_id[:12], a.info["pid"])

    async def replace(self, actor: _Actor) -> bool:
        """A new actor in a dead one's slot, on its node if that node is alive; False when none starts."""
        if actor.replacements >= REPLACEMENTS_PER_SLOT or actor.node_id not in _alive_nodes(self.ray):
            return False
        actor.replacements += 1
        try:
            await self._start_one(actor)
        except Exception as e:  # noqa: BLE001 - a node that cannot host an actor any more: run on without it
            log.warning("ray actor %d could not be started again on node %s (%s); the others go on",
                        actor.slot, actor.node_id[:12], _describe(e))
            return False
        actor.dead = False
        return True

    async def close(self) -> None:
        """Close every live actor's pool and models, then end the actors."""
        live = [a for a in self.actors if a.handle is not None and not a.dead]
        if live:
            await asyncio.gather(*(asyncio.wait_for(_ref(a.handle.close.remote()), ACTOR_CLOSE_TIMEOUT_S) for a in live),
                                 return_exceptions=True)
        for a in self.actors:
            if a.handle is not None:
                try:
                    self.ray.kill(a.handle)
                except Exception:  # noqa: BLE001 - already gone
                    pass


async def _ref(ref: Any) -> Any:
    return await ref


def _lost_errors() -> tuple[type[BaseException], ...]:
    """What a call raises when its actor or node is gone (not what the episode did)."""
    from ray.exceptions import ActorUnschedulableError, NodeDiedError, ObjectLostError, RayActorError

    return (RayActorError, ActorUnschedulableError, NodeDiedError, ObjectLostError)


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _start_error(actor: _Actor, e: BaseException) -> BaseException:
    from ray.exceptions import RayTaskError

    if isinstance(e, RayTaskError):
        e = e.as_instanceof_cause()
    where = f"Ray actor {actor.slot} on node {actor.node_id[:12]}"
    if isinstance(e, UserError):
        error = UserError(f"{where}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        error.exit_code = e.exit_code
        return error
    if isinstance(e, asyncio.TimeoutError):
        return UserError(f"{where} did not start within {ACTOR_START_TIMEOUT_S:g}s (is the node short of resources?)")
    if isinstance(e, _lost_errors()):
        return UserError(f"{where} died while starting ({_describe(e)}); see the Ray logs of that node")
    return e  # a bug of ours in the actor: raised as itself, with its traceback


async def _run(fleet: _Fleet, intents: list, pending: list, finished: set[str], attempts: dict[str, int],
               run_dir: RunDirectory, run_key: str, stream: TextIO) -> dict[str, Any]:
    import json

    from ray.exceptions import RayTaskError

    config = fleet.settings.config
    queue: deque[tuple[Any, int]] = deque((i, attempts.get(i.id, 0) + 1) for i in pending)
    done = set(finished)
    losses: Counter[str] = Counter()
    session = _Session()
    progress = Progress(total=len(intents), label="simulate", stream=stream)
    if len(intents) > len(pending):
        progress.skip(len(intents) - len(pending))
    changed = asyncio.Condition()
    in_flight = 0
    started = time.monotonic()
    lost_errors = _lost_errors()
    revivals: set[asyncio.Task] = set()

    async def record(intent: Any, attempt: int, result: dict[str, Any]) -> bool:
        """Ledger the result of one attempt; True when the intent needs another attempt."""
        session.attempts += 1
        if result["status"] == "error":
            session.errored += 1
            run_dir.failures.append(json.dumps({"intent_id": intent.id, "attempt": attempt, "reason": result["reason"],
                                                "termination": result["termination"]}))
            if attempt < config.max_attempts:
                return True
        if intent.id in done:  # cannot happen with one writer; kept as the last guard of exactly-once
            log.error("a second trajectory for intent %s was dropped", intent.id)
            return False
        run_dir.trajectories.append(result["trajectory"])
        done.add(intent.id)
        session.episodes += 1
        session.drift += result["drift_turns"]
        progress.update(ok=result["status"] == "success", errors=session.errored, drift=session.drift)
        return False

    async def slot(actor: _Actor, handle: Any, group: asyncio.TaskGroup) -> None:
        """One episode at a time on `handle`, until the queue is empty or that actor is gone."""
        nonlocal in_flight

        def gone() -> bool:
            return actor.dead or actor.handle is not handle

        while True:
            async with changed:
                await changed.wait_for(lambda: queue or not in_flight or gone())
                if gone() or not queue:
                    return
                intent, attempt = queue.popleft()
                in_flight += 1
            try:
                result = await handle.run.remote(intent.model_dump_json(), attempt, run_key)
            except RayTaskError as e:  # our own code failed inside the actor: stop, as the plain runner does
                raise e.as_instanceof_cause() from None
            except lost_errors as e:
                lose(actor, handle, intent, attempt, e, group)
            else:
                if await record(intent, attempt, result):
                    queue.appendleft((intent, attempt + 1))
            finally:
                async with changed:
                    in_flight -= 1
                    changed.notify_all()

    def lose(actor: _Actor, handle: Any, intent: Any, attempt: int, error: BaseException, group: asyncio.TaskGroup) -> None:
        losses[intent.id] += 1
        session.actor_losses += 1
        if losses[intent.id] >= config.max_attempts:
            session.given_up.append(intent.id)
            run_dir.failures.append(json.dumps({
                "intent_id": intent.id, "attempt": attempt, "termination": "infrastructure_error",
                "reason": f"lost with its Ray actor {losses[intent.id]} times (last: {_describe(error)}); a rerun tries again",
            }))
        else:
            session.requeued.append(intent.id)
            queue.appendleft((intent, attempt))  # same attempt, same seed: the episode is run as if never lost
        if handle is actor.handle and not actor.dead:  # the first call to see this actor die
            actor.dead = True
            log.warning("ray actor %d on node %s died (%s); its episodes in flight go to the other actors",
                        actor.slot, actor.node_id[:12], _describe(error))
            try:
                fleet.ray.kill(handle)
            except Exception:  # noqa: BLE001 - already gone
                pass
            revivals.add(group.create_task(revive(actor, group)))

    async def revive(actor: _Actor, group: asyncio.TaskGroup) -> None:
        try:
            if await fleet.replace(actor):
                session.replaced += 1
                log.warning("ray actor %d started again on node %s", actor.slot, actor.node_id[:12])
                for _ in range(fleet.size):
                    group.create_task(slot(actor, actor.handle, group))
        finally:
            revivals.discard(asyncio.current_task())  # before the notice: the keeper reads this set
            async with changed:
                changed.notify_all()

    async def keeper() -> None:
        """End the session when the work is done, or no actor is left to do it; stop replacements then."""
        def over() -> bool:
            idle = not queue and not in_flight
            return idle or (not revivals and all(a.dead for a in fleet.actors))

        async with changed:
            await changed.wait_for(over)
        for task in list(revivals):  # a replacement still starting (on a node being lost) is not needed now
            task.cancel()

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(1)
            progress.extra.update(running=in_flight, actors=sum(not a.dead for a in fleet.actors))
            progress.render()

    ticker = asyncio.create_task(heartbeat())
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(keeper())
            for actor in fleet.actors:
                for _ in range(fleet.size):
                    group.create_task(slot(actor, actor.handle, group))
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None
    finally:
        ticker.cancel()
        progress.close()
    if queue:
        log.warning("%d intents were not run: no Ray actor is left; rerun the same command to run them", len(queue))

    elapsed = time.monotonic() - started
    summary = summarize(run_dir.trajectories, run_dir.failures, [i.id for i in intents], {
        "episodes": session.episodes,
        "attempts": session.attempts,
        "errored_attempts": session.errored,
        "drift_turns": session.drift,
        "elapsed_s": round(elapsed, 2),
        "trajectories_per_hour": round(session.episodes / elapsed * 3600, 1) if session.episodes else 0.0,
        "concurrency": fleet.size * len(fleet.actors),
        "ray": {
            "address": config.ray_address,
            "actors": [{"slot": a.slot, "ray_node_id": a.node_id, "node_host": a.info.get("node_host"),
                        "pid": a.info.get("pid"), "alive": not a.dead} for a in fleet.actors],
            "workspaces_per_actor": fleet.size,
            "actor_losses": session.actor_losses,
            "requeued": session.requeued,
            "replaced_actors": session.replaced,
            "given_up": session.given_up,
        },
    })
    return write_summary(run_dir, summary, run_key, stream)
