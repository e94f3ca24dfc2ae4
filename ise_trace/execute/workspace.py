"""One isolated workspace: a locked-down container whose daemon runs the agent's commands.

The host keeps the `docker run -i` client process of each container open and talks to the
workspace daemon (sandbox/workspace_daemon.py) over its stdin/stdout: one JSON line per request
and reply. Each request carries an id and a random nonce that its reply echoes; any other line
(the late reply of a cancelled call, or anything that is not a reply) is skipped, so a reply is
never taken for another call's. If the daemon stops answering, the container is replaced and the
caller is told so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import secrets
import socket
from collections.abc import Iterable, Mapping
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
# Time the daemon may take to hash a snapshot (it stops itself at 20 s).
SNAPSHOT_BUDGET_S = 25.0
# What the daemon needs as root (it drops to the agent for every command and file tool): signal
# the agent's processes, change to its uid/gid, and clear files the agent made unreadable.
DAEMON_CAPS = ("KILL", "SETUID", "SETGID", "DAC_OVERRIDE")


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

    def __post_init__(self) -> None:
        self.output = valid_utf8(self.output)


def valid_utf8(text: str) -> str:
    """`text` with anything UTF-8 cannot encode (lone surrogates) written as backslash escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


WorkspaceFiles = Mapping[str, str] | Iterable[Mapping[str, Any]]


def file_specs(files: WorkspaceFiles | None) -> list[dict[str, Any]]:
    """Seed files as the daemon takes them: [{path, content, mode}], from a path -> content map or
    a list of {path, content, mode?} (mode an octal string such as "0755", or None)."""
    if not files:
        return []
    if isinstance(files, Mapping):
        return [{"path": p, "content": c, "mode": None} for p, c in files.items()]
    specs = []
    for f in files:
        if hasattr(f, "model_dump"):  # a pydantic record of the same shape
            f = f.model_dump()
        specs.append({"path": f["path"], "content": f["content"], "mode": f.get("mode")})
    return specs


class WorkspaceDied(Exception):
    """The daemon did not answer; the container has been replaced."""


def container_args(name: str, image: str, config: SandboxConfig, labels: dict[str, str]) -> list[str]:
    """The `docker run` arguments that make a workspace isolated by default.

    The daemon is root with four capabilities; what the agent runs is uid 1000 with none, and
    no-new-privileges keeps it there."""
    uid = "1000"
    caps = [arg for cap in DAEMON_CAPS for arg in ("--cap-add", cap)]
    args = [
        "run", "-i", "--rm", "--init", "--name", name,
        "--network", "none",
        "--user", "0:0",
        "--cap-drop", "ALL", *caps,
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
        # After a cancelled call, the daemon may still be busy with it until this loop time.
        self._busy_until = 0.0
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
        if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a finite number of seconds above 0, not {timeout_s!r}")
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

    async def reset(self, files: WorkspaceFiles | None = None) -> None:
        """Return to the template: kill every process, empty /workspace, /tmp, /dev/shm and home,
        remove IPC objects, then write `files` as the agent (a path -> content map, or a list of
        {path, content, mode} with mode an octal string such as "0755"). Bad paths or modes raise
        SandboxError."""
        specs = file_specs(files)
        try:
            r = await self.call("reset", 30.0, files=specs)
        except WorkspaceDied:
            r = await self.call("reset", 30.0, files=specs)
        if r.get("is_error"):
            raise SandboxError(f"could not seed the workspace: {valid_utf8(r.get('output', ''))}")

    async def snapshot(self, max_files: int = 500, paths: list[str] | None = None) -> tuple[list[dict[str, Any]], bool]:
        """The regular files under /workspace as [{path, size, sha256}] sorted by path, and whether
        the list was cut short (more than `max_files`, or over the daemon's 256 MiB hashing budget,
        the default workspace size: callers that add up sizes must treat `truncated` as "more").

        Symlinks are listed, not followed: size and sha256 are those of the link's target text.
        With `paths` (relative to /workspace), only those files, or the files under those
        directories; a missing one is simply absent."""
        args: dict[str, Any] = {"max_files": max_files}
        if paths is not None:
            args["paths"] = list(paths)
        try:
            r = await self.call("snapshot", SNAPSHOT_BUDGET_S + REPLY_GRACE_S, **args)
        except WorkspaceDied:
            raise SandboxError(f"workspace {self.name} stopped responding during the snapshot and was replaced") from None
        if r.get("is_error"):
            raise SandboxError(f"could not snapshot the workspace: {valid_utf8(r.get('output', ''))}")
        entries = [{**e, "path": valid_utf8(e["path"])} for e in r.get("entries", [])]
        return entries, bool(r.get("truncated"))

    async def _roundtrip(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            raise WorkspaceDied("not running")
        request["id"] = next(self._ids)
        request["nonce"] = secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        # A cancelled call's command may still be running: ours starts after it.
        deadline = max(loop.time(), self._busy_until) + timeout_s
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            await proc.stdin.drain()
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), max(deadline - loop.time(), 0))
                if not line:
                    raise WorkspaceDied("daemon exited")
                reply = _parse_reply(line)
                if reply is not None and reply.get("id") == request["id"] and reply.get("nonce") == request["nonce"]:
                    self._busy_until = 0.0
                    return reply
        except asyncio.CancelledError:
            self._busy_until = deadline  # the next call skips this call's late reply
            raise
        except (asyncio.TimeoutError, ConnectionError, BrokenPipeError, ValueError):
            raise WorkspaceDied("no answer") from None

    async def _stderr_text(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        with contextlib.suppress(asyncio.TimeoutError):
            data = await asyncio.wait_for(proc.stderr.read(4096), 1)
            return data.decode(errors="replace").strip()
        return ""


def _parse_reply(line: bytes) -> dict[str, Any] | None:
    try:
        reply = json.loads(line)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


async def _remove_container(name: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        docker_cli(), "rm", "-f", name, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await proc.wait()
