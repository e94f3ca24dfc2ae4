"""`ise-trace sandbox run` and `ise-trace sandbox gc` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

pytestmark = pytest.mark.docker

CLI = [sys.executable, "-m", "ise_trace.cli"]


def containers(run_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=ise_trace.run={run_id}", "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.split()


def test_sandbox_run_prints_output_and_exits_with_the_command_code(sandbox_image):
    p = subprocess.run([*CLI, "sandbox", "run", "--", "sh", "-c", "echo hello from $(id -un); exit 3"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, p.stderr
    assert p.stdout == "hello from agent\n"


def test_sandbox_run_without_a_command_is_a_clear_error():
    p = subprocess.run([*CLI, "sandbox", "run"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "no command given" in p.stderr


@pytest.mark.parametrize("value", ["nan", "-1", "1e-9", "inf"])
def test_cli_rejects_bad_timeouts_with_one_line(sandbox_image, value):
    p = subprocess.run([*CLI, "sandbox", "run", "--timeout", value, "--", "true"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--timeout must be" in lines[0], p.stderr


def test_gc_removes_workspaces_left_by_a_sigkilled_parent(sandbox_image):
    run_id = f"gc-{uuid.uuid4().hex[:6]}"
    script = textwrap.dedent(
        f"""
        import asyncio
        from ise_trace.execute import WorkspacePool

        async def main():
            pool = WorkspacePool(size=2, run_id={run_id!r}, image={sandbox_image!r})
            await pool.start()
            print("ready", flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    # A new session: killing the parent does not take its docker clients down with it.
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        assert len(containers(run_id)) == 2
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        p = subprocess.run([*CLI, "sandbox", "gc", "--run", run_id], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        deadline = time.time() + 20
        while containers(run_id) and time.time() < deadline:
            time.sleep(0.5)
        assert containers(run_id) == []
    finally:
        if parent.poll() is None:
            parent.kill()
        subprocess.run(["docker", "rm", "-f", *containers(run_id)], capture_output=True)


def test_gc_spares_workspaces_of_a_live_owner(sandbox_pool):
    p = subprocess.run([*CLI, "sandbox", "gc", "--run", sandbox_pool.run_id], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0
    assert len(containers(sandbox_pool.run_id)) == sandbox_pool.size
