"""A pool of warm workspaces: acquire one per episode, reset between episodes.

Starting a container costs a few hundred milliseconds; resetting a warm one costs a few. The pool
starts `size` workspaces up front and hands them out reset to the template.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from ..config import SandboxConfig
from .image import require_image
from .workspace import Workspace, WorkspaceFiles, owner_labels

START_CONCURRENCY = 4  # docker run is CPU-bound on the engine side; more in parallel only queues


class WorkspacePool:
    def __init__(self, size: int = 1, config: SandboxConfig | None = None, run_id: str | None = None,
                 image: str | None = None):
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.size = size
        self.config = config or SandboxConfig()
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.image = image
        self.workspaces: list[Workspace] = []
        self._idle: asyncio.Queue[Workspace] = asyncio.Queue()

    async def start(self) -> "WorkspacePool":
        self.image = self.image or require_image(self.config)
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start_one(slot: int) -> Workspace:
            ws = Workspace(
                name=f"ise-trace-{self.run_id}-{slot}", image=self.image, config=self.config,
                labels=owner_labels(self.config, self.run_id, slot=str(slot)),
            )
            async with gate:
                await ws.start()
            return ws

        results = await asyncio.gather(*(start_one(i) for i in range(self.size)), return_exceptions=True)
        self.workspaces = [r for r in results if isinstance(r, Workspace)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.close()
            raise errors[0]
        for ws in self.workspaces:
            self._idle.put_nowait(ws)
        return self

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.workspaces), return_exceptions=True)
        self.workspaces = []

    async def __aenter__(self) -> "WorkspacePool":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def acquire(self, episode_id: str | None = None, files: WorkspaceFiles | None = None) -> AsyncIterator[Workspace]:
        """A workspace reset to the template (plus `files`, see `Workspace.reset`), returned to the
        pool afterwards."""
        ws = await self._idle.get()
        try:
            await ws.reset(files)
            ws.episode_id = episode_id
            yield ws
        finally:
            ws.episode_id = None
            self._idle.put_nowait(ws)
