"""What a task does in a live workspace: seed it, run its checks, validate it, verify an episode.

All of it goes through the workspace's own command path (`Workspace.exec`, as the agent user in
/workspace), so a check sees exactly the state the agent left and nothing the agent could not.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import TaskConfig
from ..schemas import Check, CheckResult, Intent, SnapshotEntry, Verification, WorkspaceSpec


class SetupFailed(Exception):
    """A setup command exited non-zero: the workspace is not what the task says it is."""

    def __init__(self, index: int, command: str, exit_code: int | None, output: str):
        self.index, self.command, self.exit_code, self.output = index, command, exit_code, output
        super().__init__(f"setup command {index + 1} exited {exit_code}: {head_tail(output, 300)}")


def head_tail(text: str, limit: int) -> str:
    """The first and last part of `text` within `limit` characters, with a marker between."""
    if len(text) <= limit:
        return text
    half = max(limit // 2 - 10, 1)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters ...]\n{text[-half:]}"


def seed_files(spec: WorkspaceSpec | None) -> list[dict[str, Any]]:
    """The files of a workspace spec in the form the pool seeds them."""
    if spec is None:
        return []
    return [f.model_dump(exclude_none=True) for f in spec.files]


async def run_setup(ws, spec: WorkspaceSpec | None, config: TaskConfig) -> None:
    """Run the setup commands in order; the first that fails raises `SetupFailed`."""
    for i, command in enumerate(spec.setup if spec else []):
        r = await ws.exec(command, timeout_s=config.setup_timeout_s)
        if r.exit_code != 0 or r.recycled:
            raise SetupFailed(i, command, r.exit_code, r.output)


async def run_checks(ws, checks: list[Check], config: TaskConfig) -> list[CheckResult]:
    results = []
    for check in checks:
        r = await ws.exec(check.command, timeout_s=config.check_timeout_s)
        results.append(
            CheckResult(
                name=check.name,
                passed=r.exit_code == 0 and not r.recycled,
                exit_code=r.exit_code,
                output=head_tail(r.output.strip(), config.check_output_chars),
            )
        )
    return results


async def verify(ws, intent: Intent, config: TaskConfig) -> Verification:
    """The checks on the final state and a bounded snapshot of it (call before the workspace is released)."""
    checks = await run_checks(ws, intent.checks or [], config) if intent.has_task else []
    entries, truncated = await ws.snapshot(max_files=config.snapshot_max_files)
    return Verification(
        passed=all(c.passed for c in checks) if intent.has_task else None,
        checks=checks,
        snapshot=[SnapshotEntry(**e) for e in entries],
        snapshot_truncated=truncated,
    )


# ----------------------------------------------------------------------------- validation


@dataclass
class TaskVerdict:
    ok: bool
    reason: str = ""  # invalid_spec, too_large, setup_failed, already_done, reference_failed, unsolved
    detail: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def static_problems(workspace: WorkspaceSpec | None, checks: list[Check] | None, config: TaskConfig) -> TaskVerdict | None:
    """What is wrong with a task before anything runs, or None."""
    if not checks:
        return TaskVerdict(False, "invalid_spec", "the task has no checks")
    if len(checks) > config.max_checks:
        return TaskVerdict(False, "invalid_spec", f"{len(checks)} checks, at most {config.max_checks}")
    files = workspace.files if workspace else []
    if len(files) > config.max_files:
        return TaskVerdict(False, "too_large", f"{len(files)} files, at most {config.max_files}")
    for f in files:
        norm = posixpath.normpath(f.path)
        if f.path.startswith("/") or norm == ".." or norm.startswith("../") or not f.path.strip():
            return TaskVerdict(False, "invalid_spec", f"file path '{f.path}' must be relative and inside /workspace")
        size = len(f.content.encode("utf-8", "surrogatepass"))
        if size > config.max_file_bytes:
            return TaskVerdict(False, "too_large", f"{f.path} is {size} bytes, at most {config.max_file_bytes}")
    return None


async def validate(ws, workspace: WorkspaceSpec | None, checks: list[Check] | None, reference: str | None,
                   config: TaskConfig) -> TaskVerdict:
    """Validate a task in a workspace already reset with its files: setup, not already done, solvable."""
    problem = static_problems(workspace, checks, config)
    if problem is not None:
        return problem
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        await run_setup(ws, workspace, config)
    except SetupFailed as e:
        return TaskVerdict(False, "setup_failed", str(e))
    timings["setup"] = _ms(t0)
    t0 = time.perf_counter()
    total, why = await workspace_bytes(ws)
    timings["size"] = _ms(t0)
    if total is None:
        return TaskVerdict(False, "too_large", f"/workspace could not be measured after setup: {why}", timings)
    if total > config.max_workspace_bytes:
        return TaskVerdict(False, "too_large", f"/workspace holds {total} bytes after setup, at most {config.max_workspace_bytes}",
                           timings)
    t0 = time.perf_counter()
    before = await run_checks(ws, checks or [], config)
    timings["checks_before"] = _ms(t0)
    if all(c.passed for c in before):
        return TaskVerdict(False, "already_done", "every check passes on the untouched workspace", timings)
    if reference:
        t0 = time.perf_counter()
        r = await ws.exec(reference, timeout_s=config.reference_timeout_s)
        timings["reference"] = _ms(t0)
        if r.exit_code != 0:
            return TaskVerdict(False, "reference_failed", f"reference exited {r.exit_code}: {head_tail(r.output, 300)}", timings)
        t0 = time.perf_counter()
        after = await run_checks(ws, checks or [], config)
        timings["checks_after"] = _ms(t0)
        failed = [c for c in after if not c.passed]
        if failed:
            c = failed[0]
            return TaskVerdict(
                False, "unsolved", f"after the reference, check '{c.name}' fails (exit {c.exit_code}): {head_tail(c.output, 200)}",
                timings,
            )
    return TaskVerdict(True, timings_ms=timings)


async def validate_in_pool(pool, intent_id: str, workspace, checks, reference, config: TaskConfig) -> TaskVerdict:
    """Validate a task in a fresh workspace of `pool` (seeded with its files, reset afterwards)."""
    from ..errors import SandboxError

    problem = static_problems(workspace, checks, config)
    if problem is not None:
        return problem
    try:
        async with pool.acquire(episode_id=f"validate-{intent_id}", files=seed_files(workspace)) as ws:
            return await validate(ws, workspace, checks, reference, config)
    except SandboxError as e:  # the files could not be written (a bad mode, a path through a file)
        return TaskVerdict(False, "setup_failed", str(e))


# Bytes of the regular files and symlinks (their target text) under /workspace, as the snapshot
# counts them, without reading a file: one command, whatever the workspace holds. Folders the
# agent cannot read are left out (as the snapshot leaves them out), not an error.
SIZE_COMMAND = r"""find . \( -type f -o -type l \) -printf '%s\n' 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'"""
SIZE_TIMEOUT_S = 30.0


async def workspace_bytes(ws) -> tuple[int | None, str]:
    """What /workspace holds, in bytes, or None and why it could not be measured."""
    r = await ws.exec(SIZE_COMMAND, timeout_s=SIZE_TIMEOUT_S)
    lines = r.output.split()
    if r.timed_out:
        return None, f"the size command timed out after {SIZE_TIMEOUT_S:.0f} s"
    if r.recycled:
        return None, "the workspace died while it was measured"
    if r.exit_code != 0 or not lines or not lines[-1].isdigit():
        last = r.output.strip().splitlines()[-1:] or ["no output"]
        return None, f"the size command failed (exit {r.exit_code}: {last[0][:200]})"
    return int(lines[-1]), ""


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
