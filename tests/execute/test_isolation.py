"""Hostile commands against the real engine: each ends as an error result within its timeout,
the host and the other workspace are unaffected, and the next command works."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def both(aio, pool, hostile: str, timeout_s: float):
    """Run `hostile` in one workspace while the other keeps answering; then probe both."""

    async def go():
        import asyncio

        async with pool.acquire() as a, pool.acquire() as b:
            task = asyncio.create_task(a.exec(hostile, timeout_s=timeout_s))
            await asyncio.sleep(0.3)
            t = time.perf_counter()
            neighbour = await b.exec("echo fine")
            neighbour_ms = (time.perf_counter() - t) * 1000
            hostile_result = await task
            after = await a.exec("echo next")
            return hostile_result, neighbour, neighbour_ms, after

    return aio.run(go())


@pytest.mark.parametrize(
    "name,command,timeout_s",
    [
        ("fork bomb", "bomb() { bomb | bomb & }; bomb", 3),
        ("memory hog", "python3 -c \"x = bytearray(4 * 1024**3)\"", 10),
        ("infinite loop", "while :; do :; done", 2),
        ("sleep", "sleep 1000", 1),
    ],
)
def test_hostile_command_is_contained(aio, sandbox_pool, name, command, timeout_s):
    r, neighbour, neighbour_ms, after = both(aio, sandbox_pool, command, timeout_s)
    assert r.is_error, name
    assert r.duration_ms < (timeout_s + 5) * 1000, name
    assert neighbour.output.strip() == "fine"
    assert neighbour_ms < 2000, f"{name}: the other workspace stalled for {neighbour_ms:.0f} ms"
    assert after.output.strip() == "next" or after.recycled, name


def test_disk_filler_hits_the_workspace_quota(aio, sandbox_pool):
    async def go():
        async with sandbox_pool.acquire() as ws:
            fill = await ws.exec("dd if=/dev/zero of=/workspace/big bs=1M count=2000", timeout_s=30)
            df = await ws.exec("df -m /workspace | tail -1")
            small = await ws.exec("rm /workspace/big && echo x > /workspace/small && cat /workspace/small")
            return fill, df, small

    fill, df, small = aio.run(go())
    assert fill.is_error and "No space left" in fill.output
    assert int(df.output.split()[1]) <= 300  # the quota, not the host disk
    assert small.output.strip() == "x"


def test_no_network(aio, sandbox_pool):
    async def go():
        async with sandbox_pool.acquire() as ws:
            return await ws.exec(
                "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 22), timeout=2)\" ; "
                "curl -sS -m 3 http://1.1.1.1 ; ip -o link 2>/dev/null || cat /proc/net/dev",
                timeout_s=15,
            )

    r = aio.run(go())
    assert "Connection refused" in r.output or "Network is unreachable" in r.output
    assert "eth0" not in r.output


def test_cannot_write_outside_workspace_or_gain_privileges(aio, sandbox_pool):
    async def go():
        async with sandbox_pool.acquire() as ws:
            return await ws.exec(
                "touch /etc/x 2>&1; touch /usr/bin/x 2>&1; touch /x 2>&1; "
                "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
                "command -v sudo su >/dev/null && echo HAS_SU; cat /etc/shadow 2>&1 | head -1"
            )

    out = aio.run(go()).output
    assert out.count("Read-only file system") == 3
    assert "CapEff:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    assert "Permission denied" in out  # /etc/shadow of the image, and only that


def test_host_files_are_not_visible(aio, sandbox_pool, tmp_path: Path):
    marker = tmp_path / "host-marker.txt"
    marker.write_text("host secret")

    async def go():
        async with sandbox_pool.acquire() as ws:
            return await ws.exec(f"cat {marker} 2>&1; ls / | tr '\\n' ' '")

    out = aio.run(go()).output
    assert "host secret" not in out and "No such file" in out
    assert "work " not in out
