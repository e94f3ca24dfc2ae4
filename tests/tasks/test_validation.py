"""Task validation in a REAL sandbox: setup runs, the task is not already done, the reference solves it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ise_trace.config import TaskConfig
from ise_trace.schemas import Check, WorkspaceFile, WorkspaceSpec
from ise_trace.tasks.runs import seed_files, validate, validate_in_pool

from .handmade import CHECKS, SALES, task_intent

pytestmark = pytest.mark.docker


def _validate(aio, pool, intent):
    return aio.run(validate_in_pool(pool, intent.id, intent.workspace, intent.checks, intent.reference, TaskConfig()))


def test_hand_written_task_is_valid(aio, sandbox_pool):
    verdict = _validate(aio, sandbox_pool, task_intent())
    assert verdict.ok, verdict
    assert {"setup", "checks_before", "reference", "checks_after"} <= set(verdict.timings_ms)


def test_task_already_done_on_the_untouched_workspace_is_rejected(aio, sandbox_pool):
    done = task_intent(checks=[Check(name="sales.csv exists", command="test -s sales.csv")])
    verdict = _validate(aio, sandbox_pool, done)
    assert (verdict.ok, verdict.reason) == (False, "already_done")


def test_reference_that_does_not_satisfy_the_checks_is_rejected(aio, sandbox_pool):
    wrong = task_intent(reference="printf 'region,total\\nnorth,1\\n' > totals.csv")
    verdict = _validate(aio, sandbox_pool, wrong)
    assert (verdict.ok, verdict.reason) == (False, "unsolved")
    assert "right totals" in verdict.detail


def test_failing_setup_is_rejected_with_its_command(aio, sandbox_pool):
    broken = task_intent(workspace=WorkspaceSpec(files=[WorkspaceFile(path="sales.csv", content="x")],
                                                  setup=["python3 -c 'import nosuchmodule'"]))
    verdict = _validate(aio, sandbox_pool, broken)
    assert (verdict.ok, verdict.reason) == (False, "setup_failed")
    assert "nosuchmodule" in verdict.detail


def test_failing_reference_and_oversized_and_escaping_files_are_rejected(aio, sandbox_pool):
    assert _validate(aio, sandbox_pool, task_intent(reference="exit 3")).reason == "reference_failed"
    big = task_intent(workspace=WorkspaceSpec(files=[WorkspaceFile(path="big.txt", content="x" * (2 << 20))]))
    assert _validate(aio, sandbox_pool, big).reason == "too_large"
    out = task_intent(workspace=WorkspaceSpec(files=[WorkspaceFile(path="../etc/x", content="x")]))
    assert _validate(aio, sandbox_pool, out).reason == "invalid_spec"
    assert _validate(aio, sandbox_pool, task_intent(checks=[])).reason == "invalid_spec"


def test_workspace_size_after_setup_counts_every_file_without_reading_one(aio, sandbox_pool):
    """The size limit is a stat of every file, not a hash of its bytes: a file the agent cannot
    read still counts, and the workspace's contents are never listed or hashed for it."""

    class NoSnapshot:
        def __init__(self, ws):
            self.ws = ws

        async def exec(self, *args, **kwargs):
            return await self.ws.exec(*args, **kwargs)

        async def snapshot(self, *args, **kwargs):
            raise AssertionError("validation hashed the workspace to add up its size")

    def run(limit):
        task = task_intent()
        task.workspace.setup = ["head -c 5000 /dev/zero > blob && ln -s sales.csv link && chmod 000 blob"]

        async def go():
            async with sandbox_pool.acquire(files=seed_files(task.workspace)) as ws:
                return await validate(NoSnapshot(ws), task.workspace, task.checks, task.reference,
                                      TaskConfig(max_workspace_bytes=limit))

        return aio.run(go())

    total = len(SALES) + len("echo hello\n") + 5000 + len("sales.csv")  # a symlink: its target text
    verdict = run(total - 1)
    assert (verdict.ok, verdict.reason) == (False, "too_large"), verdict
    assert f"holds {total} bytes" in verdict.detail and "size" in verdict.timings_ms
    assert run(total).ok


def test_a_size_command_that_fails_is_reported_as_such_not_as_a_timeout(aio, sandbox_pool):
    """The size command is swapped, in the real workspace, for one that fails at once."""
    from ise_trace.tasks.runs import SIZE_COMMAND

    class BrokenFind:
        def __init__(self, ws):
            self.ws = ws

        async def exec(self, command, *args, **kwargs):
            if command == SIZE_COMMAND:
                command = "echo 'find: cannot search .' >&2; exit 3"
            return await self.ws.exec(command, *args, **kwargs)

    task = task_intent()

    async def go():
        async with sandbox_pool.acquire(files=seed_files(task.workspace)) as ws:
            return await validate(BrokenFind(ws), task.workspace, task.checks, task.reference, TaskConfig())

    verdict = aio.run(go())
    assert (verdict.ok, verdict.reason) == (False, "too_large"), verdict
    assert "could not be measured" in verdict.detail and "exit 3" in verdict.detail and "cannot search" in verdict.detail
    assert "timed out" not in verdict.detail


def test_intents_check_cli_prints_one_verdict_each_and_exits_1_on_a_reject(tmp_path, sandbox_image):
    good, done = task_intent("good-1"), task_intent("done-1", checks=[CHECKS[1]])
    path = tmp_path / "tasks.jsonl"
    path.write_text(good.model_dump_json() + "\n" + done.model_dump_json() + "\n")
    out = tmp_path / "valid.jsonl"
    r = subprocess.run([sys.executable, "-m", "ise_trace.cli", "intents", "check", str(path), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "good-1: valid"
    assert lines[1].startswith("done-1: rejected (already_done)")
    assert "1 of 2 tasks valid" in r.stderr
    assert [json.loads(l)["id"] for l in out.read_text().splitlines()] == ["good-1"]
