"""Build throughput, ledger -> dataset folder: the fast reader against the record path it replaces.

    .venv/bin/python benchmarks/bench_build.py              # 5,000 trajectories (about 1 minute)
    .venv/bin/python benchmarks/bench_build.py --n 23132    # the paper's corpus size (a few minutes)
    .venv/bin/python benchmarks/bench_build.py --naive      # also json.loads + Dataset.from_list

The ledger holds synthetic trajectories of the paper's shape (about 8 user turns, 68 dialogue
turns and 29 tool calls each). Each phase runs in its own process so its peak memory (maxrss) is
its own; CPU seconds count every thread of that process:
- ours: `build_folder(reader="fast")`: the ledger in bounded chunks straight into Arrow (validated,
  see ise_trace/dataset/fast_rows.py), split, bounded parquet shards, statistics, plots, card;
- records (the baseline, the build before the fast reader): `build_folder(reader="records")`, one
  pydantic object per line, the same folder;
- naive (with --naive): read every line with json.loads, `Dataset.from_list(rows, features=...)`
  with the same explicit features, `to_parquet` (no validation, no statistics, no card);
- load: `load_dataset(folder)` into a fresh cache, then again from the cache, and the first row of
  `streaming=True`.
The two builds must write the same shards (names carry a content fingerprint) and the same card.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PAPER_TRAJECTORIES = 23_132
DEFAULT_TRAJECTORIES = 5_000  # keeps the default run short; --n 23132 for the paper's size
TEMPLATES = 400  # distinct synthetic conversations; the ledger repeats them under new ids


def write_ledger(run_dir: Path, n: int) -> float:
    """A run directory of `n` trajectories with distinct trajectory and intent ids; returns MiB."""
    from tests.dataset.synthetic import make_trajectory

    run_dir.mkdir(parents=True, exist_ok=True)
    templates = [make_trajectory(i, seed=7) for i in range(min(n, TEMPLATES))]
    lines = [(t.intent.id, t.model_dump_json()) for t in templates]
    with (run_dir / "trajectories.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            intent_id, line = lines[i % len(lines)]
            # the intent id is also part of the trajectory id, so one replace renames both
            f.write(line.replace(intent_id, f"{i:016x}") + "\n")
    return (run_dir / "trajectories.jsonl").stat().st_size / 2**20


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process: steadier than wall time on a machine shared with other jobs."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _build(run_dir: Path, out: Path, reader: str) -> dict:
    from ise_trace.config import BUILD_PRESETS
    from ise_trace.dataset.folder import build_folder

    build = BUILD_PRESETS["paper"].model_copy(update={"vendi": False})
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = build_folder(build, out, run_dir=run_dir, show_progress=False, reader=reader)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    shards = sorted(Path(p).name for v in result.files.values() for files in v.values() for p in files)
    return {"seconds": seconds, "cpu": cpu, "rows": result.stats.trajectories, "rss_mib": maxrss_mib(), "shards": shards}


def phase_ours(run_dir: Path, work: Path) -> dict:
    return _build(run_dir, work / "ise-trace", "fast")


def phase_records(run_dir: Path, work: Path) -> dict:
    return _build(run_dir, work / "records" / "ise-trace", "records")


def phase_naive(run_dir: Path, work: Path) -> dict:
    from datasets import Dataset

    from ise_trace.dataset.features import trajectory_features

    t0, c0 = time.perf_counter(), cpu_seconds()
    with (run_dir / "trajectories.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    ds = Dataset.from_list(rows, features=trajectory_features())
    ds.to_parquet(str(work / "baseline.parquet"))
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"seconds": seconds, "cpu": cpu, "rows": len(ds), "rss_mib": maxrss_mib()}


def phase_load(run_dir: Path, work: Path) -> dict:
    from datasets import load_dataset

    folder, cache = str(work / "ise-trace"), str(work / "hf-cache")
    t0, c0 = time.perf_counter(), cpu_seconds()
    ds = load_dataset(folder, cache_dir=cache)
    cold, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    t0 = time.perf_counter()
    load_dataset(folder, cache_dir=cache)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    next(iter(load_dataset(folder, split="train", streaming=True)))
    first_stream_row = time.perf_counter() - t0
    rows = sum(len(d) for d in ds.values())
    return {"seconds": cold, "cpu": cpu, "warm_seconds": warm, "stream_first_row_s": first_stream_row, "rows": rows, "rss_mib": maxrss_mib()}


PHASES = {"ours": phase_ours, "records": phase_records, "naive": phase_naive, "load": phase_load}


def _card_body(folder: Path) -> list[str]:
    """The card without the line that names the build time."""
    return [line for line in (folder / "README.md").read_text(encoding="utf-8").splitlines() if " built " not in line]


def run_phase(name: str, run_dir: Path, work: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--run-dir", str(run_dir), "--work", str(work)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=DEFAULT_TRAJECTORIES, help=f"trajectories (paper: {PAPER_TRAJECTORIES:,})")
    p.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    p.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    p.add_argument("--naive", action="store_true", help="also time json.loads + Dataset.from_list (slow, GBs of RAM)")
    args = p.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.run_dir, args.work)))
        return

    phases = ("ours", "records", *(("naive",) if args.naive else ()), "load")
    with tempfile.TemporaryDirectory(prefix="bench-build-", dir=args.work) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        mib = write_ledger(work / "run", args.n)
        print(f"ledger: {args.n:,} trajectories, {mib:,.0f} MiB of JSONL, written in {time.perf_counter() - t0:.1f}s")
        results = {name: run_phase(name, work / "run", work) for name in phases}
        same_card = _card_body(work / "ise-trace") == _card_body(work / "records" / "ise-trace")

    ours, records, load = results["ours"], results["records"], results["load"]
    print()
    print(f"{'phase':<46}{'wall s':>8}{'CPU s':>8}{'traj/s':>8}{'traj/CPU-s':>11}{'peak RSS MiB':>14}")
    rows = [
        ("ours: build_folder, fast reader", ours),
        ("baseline: build_folder, record path", records),
    ]
    if "naive" in results:
        rows.append(("naive: json.loads + Dataset.from_list", results["naive"]))
    rows.append(("load_dataset(folder), fresh cache", load))
    for label, r in rows:
        print(
            f"{label:<46}{r['seconds']:>8.1f}{r['cpu']:>8.1f}{r['rows'] / r['seconds']:>8.0f}"
            f"{r['rows'] / r['cpu']:>11.0f}{r['rss_mib']:>14.0f}"
        )
    print(f"{'load_dataset(folder), from cache':<46}{load['warm_seconds']:>8.2f}")
    print(f"{'first row with streaming=True':<46}{load['stream_first_row_s']:>8.2f}")
    print()
    print(
        f"ours vs baseline: {records['seconds'] / ours['seconds']:.2f}x the throughput in wall time "
        f"({records['cpu'] / ours['cpu']:.2f}x per CPU second), {records['rss_mib'] / ours['rss_mib']:.2f}x less "
        f"peak memory; {len(ours['shards'])} shards; input {mib:,.0f} MiB"
    )
    same_shards = ours["shards"] == records["shards"]
    print(f"same shards (content fingerprints) as the record path: {same_shards}; same card: {same_card}")
    if not (same_shards and same_card):
        raise SystemExit("the fast reader wrote another folder than the record path")


if __name__ == "__main__":
    main()
