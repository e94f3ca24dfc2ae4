"""Vendi score at corpus scale: our d x d route against the `vendi-score` package.

    python benchmarks/bench_vendi.py                  # about a minute on 2 CPU cores
    python benchmarks/bench_vendi.py --n 44000 --dim 768 --ref-n 2000 --repeats 3

1. Ours on n x d random unit vectors (the paper's 43,956 intents x all-mpnet-base-v2's 768-d):
   one X^T X product and a d x d eigensolve. Target: under 2 s.
2. Side by side at --ref-n rows, a size the reference can do: `vendi_score.vendi.score_X` against
   ours on the same rows (time and value), and the n x n kernel route (`score_K`) that a naive
   implementation takes, with its memory at the full n. For completeness the package's
   `score_dual` (the same d x d idea in float64, which `score_X` does not use) at the full n.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ise_trace.intents.diversity import vendi_score  # noqa: E402


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall seconds over `repeats` runs, and the value."""
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=44_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--ref-n", type=int, default=2_000, help="rows for the side-by-side with the reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from vendi_score import vendi

    X = unit_rows(args.n, args.dim, seed=0)
    cpu_started = time.process_time()
    ours_s, ours_v = timed(lambda: vendi_score(X), args.repeats)
    ours_cpu = (time.process_time() - cpu_started) / args.repeats
    # CPU seconds beside wall seconds: on a shared machine the wall figure includes waiting.
    print(f"ours      n={args.n:>6} d={args.dim}: {ours_s:7.3f} s wall (median), {ours_cpu:.3f} CPU-s  "
          f"vendi={ours_v:.3f}  (target < 2 s)")

    dual_s, dual_v = timed(lambda: vendi.score_dual(X), 1)
    print(f"reference score_dual n={args.n}: {dual_s:7.3f} s  vendi={dual_v:.3f}  (the package's own d x d "
          f"route, float64, not used by score_X)")

    small = X[: args.ref_n].astype(np.float64)
    ref_s, ref_v = timed(lambda: vendi.score_X(small), args.repeats)
    ours_small_s, ours_small_v = timed(lambda: vendi_score(small), args.repeats)
    kernel_s, kernel_v = timed(lambda: vendi.score_K(small @ small.T), 1)
    print(f"reference score_X n={args.ref_n:>5}: {ref_s:7.3f} s  vendi={ref_v:.3f}")
    print(f"ours              n={args.ref_n:>5}: {ours_small_s:7.3f} s  vendi={ours_small_v:.3f}"
          f"  ({ref_s / ours_small_s:.1f}x faster, |diff|={abs(ref_v - ours_small_v):.2e})")
    print(f"reference score_K n={args.ref_n:>5}: {kernel_s:7.3f} s  vendi={kernel_v:.3f}  (n x n kernel route)")
    print(f"the n x n kernel at n={args.n} would need {args.n**2 * 8 / 2**30:.1f} GiB in float64; ours needs "
          f"{args.dim**2 * 8 / 2**20:.1f} MiB beside X")
    print(f"ours at n={args.n} vs reference score_X at n={args.ref_n}: {ours_s:.3f} s vs {ref_s:.3f} s "
          f"(ratio {ours_s / ref_s:.2f} for {args.n / args.ref_n:.0f}x the rows)")


if __name__ == "__main__":
    main()
