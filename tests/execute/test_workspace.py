"""The workspace daemon against the real engine: commands, timeouts, output caps, resets."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


def run(aio, pool, fn, files=None):
    async def go():
        async with pool.acquire(files=files) as ws:
            return await fn(ws)

    return aio.run(go())


def test_exec_returns_output_exit_code_and_duration(aio, sandbox_pool):
    r = run(aio, sandbox_pool, lambda ws: ws.exec("echo out; echo err >&2; exit 3"))
    assert r.exit_code == 3
    assert r.is_error
    assert "out" in r.output and "err" in r.output
    assert 0 < r.duration_ms < 5000
    assert not r.truncated and not r.timed_out


def test_commands_run_as_non_root_in_workspace(aio, sandbox_pool):
    r = run(aio, sandbox_pool, lambda ws: ws.exec("id -u; pwd; echo $HOME"))
    assert r.output.split() == ["1000", "/workspace", "/home/agent"]


def test_timeout_kills_the_command_not_the_workspace(aio, sandbox_pool):
    async def go(ws):
        slow = await ws.exec("sleep 1000", timeout_s=1)
        after = await ws.exec("echo alive")
        procs = await ws.exec("ps -eo comm | grep -c '^sleep' || true")
        return slow, after, procs

    slow, after, procs = run(aio, sandbox_pool, go)
    assert slow.timed_out and slow.exit_code == 124
    assert "timed out" in slow.output
    assert slow.duration_ms < 3000
    assert after.output.strip() == "alive" and after.exit_code == 0
    assert procs.output.strip() == "0"  # the whole process group went


def test_output_is_capped_with_a_visible_marker(aio, sandbox_pool):
    r = run(aio, sandbox_pool, lambda ws: ws.exec("head -c 1000000 /dev/zero | tr '\\0' a; echo; echo END"))
    assert r.truncated
    assert "bytes of output truncated" in r.output
    assert r.output.rstrip().endswith("END")  # the tail is kept: errors usually come last
    assert len(r.output.encode()) < 70 * 1024


def test_endless_output_ends_at_the_timeout(aio, sandbox_pool):
    async def go(ws):
        return await ws.exec("yes", timeout_s=2), await ws.exec("echo ok")

    r, after = run(aio, sandbox_pool, go)
    assert r.timed_out and r.truncated
    assert after.output.strip() == "ok"


def test_redirected_background_process_keeps_running(aio, sandbox_pool):
    async def go(ws):
        started = await ws.exec("sleep 30 > /dev/null 2>&1 & echo started", timeout_s=10)
        alive = await ws.exec("ps -eo comm | grep -c '^sleep'")
        return started, alive

    started, alive = run(aio, sandbox_pool, go)
    assert started.exit_code == 0 and not started.is_error and "started" in started.output
    assert started.duration_ms < 1000
    assert alive.output.strip() == "1"


def test_background_process_holding_the_output_is_killed_with_a_hint(aio, sandbox_pool):
    async def go(ws):
        r = await ws.exec("sleep 30 & echo started", timeout_s=10)
        alive = await ws.exec("ps -eo comm | grep -c '^sleep' || true")
        return r, alive

    r, alive = run(aio, sandbox_pool, go)
    assert r.is_error and "started" in r.output and "cmd > log 2>&1 &" in r.output
    assert r.duration_ms < 5000
    assert alive.output.strip() == "0"


def test_exhausted_process_limit_is_recovered(aio, sandbox_pool):
    async def go(ws):
        # A detached fork bomb: the command returns at once, the bomb fills the pids limit.
        await ws.exec("bomb() { bomb | bomb & }; bomb > /dev/null 2>&1 &", timeout_s=5)
        import asyncio

        await asyncio.sleep(1)
        return await ws.exec("echo recovered")

    r = run(aio, sandbox_pool, go)
    assert r.output.rstrip().endswith("recovered")
    assert r.exit_code == 0


def test_reset_leaves_nothing_from_the_previous_episode(aio, sandbox_pool):
    async def dirty(ws):
        await ws.exec(
            "echo secret > /workspace/a.txt; mkdir -p /workspace/d && chmod 000 /workspace/d; "
            "echo t > /tmp/t; echo h > ~/.h; echo s > /dev/shm/s; (sleep 500 &) ; "
            "export LEAK=1; echo 'export LEAK=1' >> ~/.bashrc"
        )
        return ws.name

    async def inspect(ws):
        listing = await ws.exec("ls -A /workspace /tmp /dev/shm ~; ps -eo comm | grep -c '^sleep' || true; echo LEAK=$LEAK")
        return ws.name, listing

    # Every workspace of the pool gets dirty, so the next acquire must reuse a dirty one.
    names = set()

    async def dirty_all():
        held = []
        for _ in range(sandbox_pool.size):
            cm = sandbox_pool.acquire()
            ws = await cm.__aenter__()
            held.append(cm)
            names.add(await dirty(ws))
        for cm in held:
            await cm.__aexit__(None, None, None)

    aio.run(dirty_all())
    name, listing = run(aio, sandbox_pool, inspect, files={"seed/input.csv": "a,b\n1,2\n"})
    assert name in names
    out = listing.output
    assert "a.txt" not in out and "d" not in out.split() and "t" not in out.split() and ".h" not in out
    assert "seed" in out
    lines = out.strip().splitlines()
    assert lines[-2].strip() == "0"  # no process survived
    assert lines[-1] == "LEAK="


def test_reset_is_fast(aio, sandbox_pool):
    import time

    async def go():
        async with sandbox_pool.acquire() as ws:
            await ws.exec("for i in $(seq 200); do echo $i > f$i; done")
            t = time.perf_counter()
            await ws.reset()
            return (time.perf_counter() - t) * 1000

    assert aio.run(go()) < 500  # generous for a loaded CI machine; the benchmark measures it properly
