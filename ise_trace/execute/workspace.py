"""One isolated workspace: a locked-down container whose daemon runs the agent's commands.

The host keeps the `docker run -i` client process of each container open and talks to the
workspace daemon (sandbox/workspace_daemon.py) over its stdin/stdout: one JSON line per request
and reply. If the daemon stops answering, the container is replaced and the caller is told so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from ..config import SandboxConfig
from ..errors import SandboxError
from .engine import docker_cli

# Replies carry up to the output cap, JSON-escaped; leave generous room.
STREAM_LIMIT = 32 * 1024 * 1024
# Time the host allows beyond a command's own timeout before it declares the daemon dead.
REPLY_GRACE_S = 10.0
RECYCLED_NOTE = "[the workspace stopped responding and was replaced by a fresh one; its files are gone]"


@dataclass
class CommandResult:
    """What one command produced, as the agent sees it and as the trajectory records it."""

    output: str
    exit_code: int | None
    duration_ms: float
    truncated: bool = False
    timed_out: bool = False
    is_error: bool = False
    recycled: bool = False


class WorkspaceDied(Exception):
    """The daemon did not answer; the container has been replaced."""


def container_args(name: str, image: str, config: SandboxConfig, labels: dict[str, str]) -> list[str]:
    """The `docker run` arguments that make a workspace isolated by default."""
    uid = "1000"
    args = [
        "run", "-i", "--rm", "--init", "--name", name,
        "--network", "none",
        "--user", f"{uid}:{uid}",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--read-only",
        "--tmpfs", f"{config.workdir}:rw,exec,size={config.workspace_size},uid={uid},gid={uid},mode=0755",
        "--tmpfs", f"/tmp:rw,exec,nosuid,size={config.tmp_size},mode=1777",
        "--tmpfs", f"/home/{config.user}:rw,exec,nosuid,size={config.home_size},uid={uid},gid={uid},mode=0755",
        "--memory", config.memory,
        "--memory-swap", config.memory,
        "--pids-limit", str(config.pids),
        "--cpus", str(config.cpus),
        "--log-driver", "none",
    ]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    return [*args, image]


def owner_labels(config: SandboxConfig, run_id: str, **extra: str) -> dict[str, str]:
    p = config.label
    labels = {f"{p}.run": run_id, f"{p}.owner_pid": str(os.getpid()), f"{p}.owner_host": socket.gethostname()}
    labels.update({f"{p}.{k}": v for k, v in extra.items()})
    return labels


class Workspace:
    """A running sandbox container and its daemon. Use `await start()`, then `exec`/`call`."""

    def __init__(self, name: str, image: str, config: SandboxConfig, labels: dict[str, str]):
        self.name = name
        self.image = image
        self.config = config
        self.labels = labels
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self.recycles = 0
        self.episode_id: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await _remove_container(self.name)
        self._proc = await asyncio.create_subprocess_exec(
            docker_cli(), *container_args(self.name, self.image, self.config, self.labels),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=STREAM_LIMIT,
        )
        try:
            await self._roundtrip({"op": "ping"}, self.config.start_timeout_s)
        except WorkspaceDied:
            err = await self._stderr_text()
            await self.close()
            raise SandboxError(f"workspace {self.name} did not start: {err or 'no answer from its daemon'}") from None

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin and not proc.stdin.is_closing():
                proc.stdin.close()  # the daemon exits on EOF and --rm removes the container
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await _remove_container(self.name)

    async def recycle(self) -> None:
        """Replace the container with a fresh one (after the daemon stopped answering)."""
        self.recycles += 1
        await self.close()
        await self.start()

    # ------------------------------------------------------------------ requests

    async def call(self, op: str, wait_s: float, /, **args: Any) -> dict[str, Any]:
        """Send one request; if the daemon is dead or hung, recycle and raise WorkspaceDied."""
        async with self._lock:
            try:
                return await self._roundtrip({"op": op, **args}, wait_s)
            except WorkspaceDied:
                await self.recycle()
                raise

    async def exec(self, command: str, timeout_s: float | None = None, workdir: str | None = None) -> CommandResult:
        timeout = min(timeout_s or self.config.command_timeout_s, self.config.max_command_timeout_s)
        args: dict[str, Any] = {"command": command, "timeout_s": timeout, "limit": self.config.output_limit_bytes}
        if workdir:
            args["workdir"] = workdir
        return await self.run_op("exec", timeout, **args)

    async def run_op(self, op: str, budget_s: float, /, **args: Any) -> CommandResult:
        """Run a daemon operation expected to take at most `budget_s` (plus a grace period)."""
        try:
            r = await self.call(op, budget_s + REPLY_GRACE_S, **args)
        except WorkspaceDied:
            return CommandResult(RECYCLED_NOTE, None, (budget_s + REPLY_GRACE_S) * 1000, is_error=True, recycled=True)
        return CommandResult(
            output=r.get("output", ""), exit_code=r.get("exit_code"), duration_ms=r.get("duration_ms", 0.0),
            truncated=r.get("truncated", False), timed_out=r.get("timed_out", False),
            is_error=r.get("is_error", False),
        )

    async def reset(self, files: dict[str, str] | None = None) -> None:
        """Return to the template: kill every process, empty /workspace, /tmp and home, add `files`."""
        try:
            r = await self.call("reset", 30.0, files=files or {})
        except WorkspaceDied:
            r = await self.call("reset", 30.0, files=files or {})
        if r.get("is_error"):
            raise SandboxError(f"could not seed the workspace: {r.get('output')}")

    async def _roundtrip(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            raise WorkspaceDied("not running")
        request["id"] = next(self._ids)
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
        except (asyncio.TimeoutError, ConnectionError, BrokenPipeError):
            raise WorkspaceDied("no answer") from None
        if not line:
            raise WorkspaceDied("daemon exited")
        reply = json.loads(line)
        if reply.get("id") != request["id"]:
            raise WorkspaceDied("out of step")
        return reply

    async def _stderr_text(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        with contextlib.suppress(asyncio.TimeoutError):
            data = await asyncio.wait_for(proc.stderr.read(4096), 1)
            return data.decode(errors="replace").strip()
        return ""


async def _remove_container(name: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        docker_cli(), "rm", "-f", name, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await proc.wait()
