"""Workspace capacity as users meet it: N workspaces, each running one command per second.

    python benchmarks/bench_capacity.py                       # N = 8 32 64 128 192 256, about 5 min
    python benchmarks/bench_capacity.py --workspaces 8 32 64 --seconds 20

An agent waits seconds on its model between tool calls, so a node holds many more live
workspaces than it can run commands back to back. Each workspace here runs `--command` once a
second (start times spread over the first second, as independent agents would be), for
`--seconds`; the figure is the latency of `Workspace.exec` (p50, p95) at each N, and the largest
N whose p50 stays under `--target-ms`. Memory per workspace is `docker stats` of the pool's
containers while they run. The baseline, measured in the same run, is back-to-back commands on
8 workspaces (the README's earlier capacity figure: 8 workspaces busy all the time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

UNITS = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def _bytes(text: str) -> float:
    number = text.rstrip("BbiKkMmGg")
    unit = text[len(number):].lower() or "b"
    return float(number) * UNITS[unit]


def docker_memory(names: list[str]) -> list[float]:
    """MiB in use per container, from `docker stats --no-stream`."""
    p = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names],
                       capture_output=True, text=True, timeout=300)
    used = []
    for line in p.stdout.splitlines():
        name, usage = line.split(" ", 1)
        used.append(_bytes(usage.split("/")[0].strip()) / (1 << 20))
    return used


def client_rss_mib(workspaces) -> list[float]:
    """MiB resident per workspace on the host: its `docker run -i` client, which the pool keeps open."""
    import psutil

    rss = []
    for ws in workspaces:
        proc = getattr(ws, "_proc", None)
        if proc is not None:
            try:
                rss.append(psutil.Process(proc.pid).memory_info().rss / (1 << 20))
            except psutil.NoSuchProcess:
                pass
    return rss


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def paced(workspaces, command: str, seconds: float, rate_hz: float) -> list[float]:
    """Each workspace runs `command` every 1/rate_hz s for `seconds`; latencies in ms."""
    latencies: list[float] = []
    period = 1.0 / rate_hz
    start = time.perf_counter() + 0.2

    async def one(k: int, ws) -> None:
        due = start + period * k / len(workspaces)
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t = time.perf_counter()
            await ws.exec(command)
            latencies.append(1000 * (time.perf_counter() - t))
            due += period

    await asyncio.gather(*(one(k, ws) for k, ws in enumerate(workspaces)))
    return latencies


async def back_to_back(workspaces, command: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def one(ws) -> None:
        while time.perf_counter() < end:
            t = time.perf_counter()
            await ws.exec(command)
            latencies.append(1000 * (time.perf_counter() - t))

    await asyncio.gather(*(one(ws) for ws in workspaces))
    return latencies


async def main(args: argparse.Namespace) -> None:
    from ise_trace.execute import WorkspacePool

    levels = sorted(args.workspaces)
    print(f"command {args.command!r}, {args.rate:g} per second per workspace, {args.seconds:g} s per level; "
          f"{os.cpu_count()} CPUs; target p50 < {args.target_ms:g} ms")
    async with WorkspacePool(size=max(levels), run_id="bench-capacity") as pool:
        every = pool.workspaces
        for ws in every:  # one command each, so no level pays a first exec
            await ws.exec(args.command)
        base = await back_to_back(every[:8], args.command, min(args.seconds, 10))
        print(f"baseline, 8 workspaces back to back: {len(base) / min(args.seconds, 10):.0f} commands/s, "
              f"p50 {statistics.median(base):.1f} ms, p95 {percentile(base, 0.95):.1f} ms")
        print(f"{'N':>4} | {'cmd/s':>6} | {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} | {'MiB/ws':>6} {'client':>6} | {'load 1m':>7}")
        held = 0
        for n in levels:
            workspaces = every[:n]
            sampler = asyncio.create_task(asyncio.to_thread(lambda: (time.sleep(args.seconds / 2),
                                                                     docker_memory([w.name for w in workspaces]))[1]))
            latencies = await paced(workspaces, args.command, args.seconds, args.rate)
            memory = await sampler
            p50 = statistics.median(latencies)
            held = n if p50 < args.target_ms else held
            print(f"{n:>4} | {len(latencies) / args.seconds:>6.0f} | {p50:>7.1f} {percentile(latencies, 0.95):>7.1f} "
                  f"{percentile(latencies, 0.99):>7.1f} | {statistics.fmean(memory):>6.1f} "
                  f"{statistics.fmean(client_rss_mib(workspaces)):>6.1f} | {os.getloadavg()[0]:>7.2f}")
        print(f"largest N measured with p50 under {args.target_ms:g} ms: {held} workspaces "
              f"(baseline figure: 8, back-to-back commands only)")
        print("MiB/ws: docker stats of the container (the daemon and an empty /workspace tmpfs); client: RSS of its "
              "`docker run -i` process on the host. Files the agent writes add to the container's figure (tmpfs).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, nargs="+", default=[8, 32, 64, 128, 192, 256])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1.0, help="commands per second per workspace")
    parser.add_argument("--command", default="ls -la /workspace")
    parser.add_argument("--target-ms", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
