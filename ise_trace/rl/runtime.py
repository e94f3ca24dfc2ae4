"""The process-wide part of the RL environments: one event loop in a thread, one set of workspaces.

TRL calls an environment's methods synchronously from the training loop; the workspaces speak
asyncio, and a workspace's pipes belong to the loop that started it. So every environment of the
process submits its coroutines to one private loop running in a daemon thread and waits for the
result. The workspaces are one `WorkspacePool` started with the first reset; when more rollouts
hold a workspace at once than it has (TRL creates environments as a batch needs them), another
pool joins, up to `max_workspaces`. Everything is closed at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..execute import Workspace, WorkspacePool
from .config import TaskEnvironmentConfig

CALL_GRACE_S = 60.0  # beyond a call's own budget before the caller stops waiting on the loop


class LoopThread:
    """An asyncio loop running in a daemon thread; `run(coro)` blocks until its result."""

    def __init__(self, name: str = "ise-trace-rl") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float | None = None):
        if threading.current_thread() is self.thread:
            raise RuntimeError("LoopThread.run called from its own loop (it would wait on itself)")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Lease:
    """One workspace held by one environment until it is handed back."""

    workspace: Workspace
    pool: WorkspacePool
    context: Any  # the pool's acquire() context, entered on the loop, exited on release


@dataclass
class _Slot:
    pool: WorkspacePool
    held: int = 0


@dataclass
class SharedWorkspaces:
    """The loop and the pools of this process. Create with `start(config)`; use from any thread."""

    config: TaskEnvironmentConfig
    loop: LoopThread = field(default_factory=LoopThread)
    run_id: str = field(default_factory=lambda: f"rl-{uuid.uuid4().hex[:6]}")
    pid: int = field(default_factory=os.getpid)
    _slots: list[_Slot] = field(default_factory=list)
    _starting: asyncio.Lock = field(default_factory=asyncio.Lock)  # binds to the loop on first use

    @property
    def workspaces(self) -> int:
        return sum(s.pool.size for s in self._slots)

    @property
    def held(self) -> int:
        return sum(s.held for s in self._slots)

    def run(self, coro, budget_s: float):
        return self.loop.run(coro, budget_s + CALL_GRACE_S)

    # -------------------------------------------------------------- on the loop

    async def acquire(self, episode_id: str, files: list[dict[str, Any]]) -> Lease:
        """A workspace reset to the template and seeded with `files` (a bad file raises SandboxError)."""
        async with self._starting:  # two resets at once must not both start a pool for one free slot
            slot = next((s for s in self._slots if s.held < s.pool.size), None)
            if slot is None:
                slot = await self._grow()
            slot.held += 1
        try:
            context = slot.pool.acquire(episode_id=episode_id, files=files)
            ws = await context.__aenter__()
        except BaseException:
            slot.held -= 1
            raise
        return Lease(ws, slot.pool, context)

    async def warm(self) -> None:
        """Start the first pool now (its `pool_size` workspaces) rather than at the first reset."""
        async with self._starting:
            if not self._slots:
                await self._grow()

    async def release(self, lease: Lease) -> None:
        slot = next(s for s in self._slots if s.pool is lease.pool)
        try:
            await lease.context.__aexit__(None, None, None)
        finally:
            slot.held -= 1

    async def _grow(self) -> _Slot:
        have = self.workspaces
        if have >= self.config.max_workspaces:
            raise RuntimeError(
                f"all {have} workspaces are held by live environments (max_workspaces={self.config.max_workspaces}); "
                "raise max_workspaces or run fewer rollouts at once"
            )
        size = min(self.config.pool_size if not self._slots else 1, self.config.max_workspaces - have)
        pool = WorkspacePool(size=size, config=self.config.sandbox, run_id=f"{self.run_id}-{len(self._slots)}",
                             image=self.config.image)
        await pool.start()
        slot = _Slot(pool)
        self._slots.append(slot)
        return slot

    async def _close_pools(self) -> None:
        slots, self._slots = self._slots, []
        await asyncio.gather(*(s.pool.close() for s in slots), return_exceptions=True)

    # -------------------------------------------------------------- from any thread

    def close(self) -> None:
        """Remove every workspace and stop the loop (environments still holding one lose it)."""
        if self.loop.loop.is_running():
            try:
                self.loop.run(self._close_pools(), 60)
            finally:
                self.loop.stop()


_lock = threading.Lock()
_shared: SharedWorkspaces | None = None


def shared(config: TaskEnvironmentConfig) -> SharedWorkspaces:
    """This process's workspaces, started with `config` on first use (a forked child starts its own)."""
    global _shared
    with _lock:
        if _shared is not None and _shared.pid != os.getpid():
            _shared = None  # inherited over fork: its loop thread does not exist here
        if _shared is None:
            _shared = SharedWorkspaces(config)
        elif _shared.config.runtime_key() != config.runtime_key():
            raise RuntimeError(
                "the workspaces of this process were started with other sandbox settings; "
                "call TaskEnvironment.shutdown() before configuring new ones"
            )
        else:
            _shared.config = config  # pool growth limits may change; the started pools stay
        return _shared


def current() -> SharedWorkspaces | None:
    return _shared if _shared is not None and _shared.pid == os.getpid() else None


def shutdown() -> None:
    global _shared
    with _lock:
        s, _shared = current(), None
    if s is not None:
        s.close()


atexit.register(shutdown)
