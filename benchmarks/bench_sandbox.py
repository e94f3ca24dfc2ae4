"""Stage E benchmark: the resident workspace daemon against `docker exec`, reset against
recreating a container, and how many concurrent workspaces keep per-command p50 under 20 ms.

    .venv/bin/python benchmarks/bench_sandbox.py            # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_sandbox.py --quick    # fewer samples

Needs the Docker engine and the workspace image (`ise-trace sandbox build`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
import uuid

from ise_trace.config import SandboxConfig
from ise_trace.execute import Workspace, WorkspacePool
from ise_trace.execute.image import require_image
from ise_trace.execute.workspace import owner_labels


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(int(round(p / 100 * (len(xs) - 1))), len(xs) - 1)]


def row(name: str, xs: list[float]) -> str:
    return f"{name:<38} p50 {pct(xs, 50):8.2f} ms   p95 {pct(xs, 95):8.2f} ms   (n={len(xs)})"


async def overhead(ws: Workspace, n: int) -> tuple[list[float], list[float]]:
    ours = []
    for _ in range(n):
        t = time.perf_counter()
        await ws.exec("true")
        ours.append((time.perf_counter() - t) * 1000)
    base = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["docker", "exec", ws.name, "true"], check=True, capture_output=True)
        base.append((time.perf_counter() - t) * 1000)
    return ours, base


async def file_tool(ws: Workspace, n: int) -> list[float]:
    """Round trip of the read tool (it runs in a child forked and dropped to the agent's uid)."""
    await ws.reset({"f.txt": "hello\n" * 100})
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        await ws.run_op("read", 30, path="f.txt")
        xs.append((time.perf_counter() - t) * 1000)
    return xs


async def reset_vs_recreate(ws: Workspace, n_reset: int, n_recreate: int) -> tuple[list[float], list[float]]:
    resets = []
    for _ in range(n_reset):
        await ws.exec("for i in $(seq 50); do echo $i > f$i; done; sleep 100 &")
        t = time.perf_counter()
        await ws.reset()
        resets.append((time.perf_counter() - t) * 1000)
    recreates = []
    for _ in range(n_recreate):
        t = time.perf_counter()
        await ws.recycle()
        recreates.append((time.perf_counter() - t) * 1000)
    return resets, recreates


async def concurrency(sizes: list[int], per_ws: int, config: SandboxConfig, image: str) -> list[tuple[int, list[float]]]:
    results = []
    for size in sizes:
        async with WorkspacePool(size=size, config=config, run_id=f"bench-{uuid.uuid4().hex[:6]}", image=image) as pool:
            lat: list[float] = []

            async def worker():
                async with pool.acquire() as ws:
                    for _ in range(per_ws):
                        t = time.perf_counter()
                        await ws.exec("true")
                        lat.append((time.perf_counter() - t) * 1000)

            await asyncio.gather(*(worker() for _ in range(size)))
            results.append((size, lat))
            print(row(f"{size:>3} workspaces at once", lat), flush=True)
    return results


async def main(quick: bool) -> None:
    config = SandboxConfig()
    image = require_image(config)
    n = 50 if quick else 200
    ws = Workspace(f"ise-trace-bench-{uuid.uuid4().hex[:6]}", image, config, owner_labels(config, "bench"))
    await ws.start()
    try:
        ours, base = await overhead(ws, n)
        reads = await file_tool(ws, n)
        resets, recreates = await reset_vs_recreate(ws, 10 if quick else 30, 3 if quick else 8)
    finally:
        await ws.close()
    print("\n== per-command overhead, trivial command ('true')")
    print(row("ise-trace resident daemon", ours))
    print(row("baseline: docker exec", base))
    print(f"{'speed-up at p50':<38} {pct(base, 50) / pct(ours, 50):8.1f}x   (target >= 10x)")
    print(row("file tool round trip (read)", reads))
    print("\n== returning a workspace to a clean state")
    print(row("ise-trace reset", resets))
    print(row("baseline: recreate the container", recreates))
    print(f"{'speed-up at p50':<38} {pct(recreates, 50) / pct(resets, 50):8.1f}x   (target: reset < 100 ms)")
    print("\n== concurrent workspaces (each runs 'true' in a loop)")
    sizes = [1, 4, 8, 16] if quick else [1, 4, 8, 16, 32]
    res = await concurrency(sizes, 20 if quick else 50, config, image)
    ok = [size for size, lat in res if statistics.median(lat) < 20]
    print(f"{'most workspaces with p50 < 20 ms':<38} {max(ok) if ok else 0}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    asyncio.run(main(ap.parse_args().quick))
