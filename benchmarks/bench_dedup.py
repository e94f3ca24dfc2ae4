"""Near-duplicate search over 50,000 intents, embedding time excluded.

    python benchmarks/bench_dedup.py                      # about a minute on 2 CPU cores
    python benchmarks/bench_dedup.py --n 50000 --dim 768  # all-mpnet-base-v2's width

Synthetic unit embeddings stand in for the intents: clusters of related texts plus planted
near copies (cosine ~0.95 to an earlier row), so the answer is known. Printed side by side:
1. ours: blocked float32 products over the lower triangle, pairs above the threshold only;
2. the baseline a straightforward implementation takes, one row at a time against every earlier
   row, measured on the first --baseline-n rows (its cost grows with n^2 like ours, so the full
   figure is extrapolated from the measured one and labelled as such);
3. exact-text dedup of 50,000 texts (normalise + hash), for completeness.
Target: under 60 s for 50,000.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ise_trace.intents.dedup import exact_duplicates, near_duplicates  # noqa: E402


def synthetic(n: int, d: int, planted: float, seed: int = 0) -> tuple[np.ndarray, set[int]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, d)).astype(np.float32)
    X = centres[rng.integers(200, size=n)] + 1.5 * rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    copies = rng.choice(np.arange(n // 50, n), size=int(planted * n), replace=False)
    for i in copies:  # a near copy of one of the first n/50 rows, which are never copies themselves
        j = int(rng.integers(n // 50))
        noise = rng.normal(size=d).astype(np.float32)
        noise -= (noise @ X[j]) * X[j]
        X[i] = 0.95 * X[j] + np.sqrt(1 - 0.95**2) * noise / np.linalg.norm(noise)
    return X, set(int(i) for i in copies)


def row_at_a_time(X: np.ndarray, threshold: float) -> int:
    kept = np.ones(len(X), dtype=bool)
    for i in range(1, len(X)):
        sims = X[:i] @ X[i]
        if (sims[kept[:i]] > threshold).any():
            kept[i] = False
    return int((~kept).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384, help="384 = all-MiniLM-L6-v2 (default embedder)")
    parser.add_argument("--threshold", type=float, default=0.92)
    parser.add_argument("--planted", type=float, default=0.05, help="share of rows planted as near copies")
    parser.add_argument("--baseline-n", type=int, default=2_000)
    args = parser.parse_args()

    X, planted = synthetic(args.n, args.dim, args.planted)
    started, cpu_started = time.perf_counter(), time.process_time()
    removed = near_duplicates(X, args.threshold)
    ours_s, ours_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    found = {r.index for r in removed}
    # CPU seconds beside wall seconds: on a shared machine the wall figure includes waiting.
    print(f"ours      n={args.n} d={args.dim}: {ours_s:6.1f} s wall, {ours_cpu:6.1f} CPU-s  removed={len(removed)}  "
          f"planted found={len(found & planted)}/{len(planted)}  (target < 60 s)")

    m = args.baseline_n
    started = time.perf_counter()
    base_removed = row_at_a_time(X[:m], args.threshold)
    base_s = time.perf_counter() - started
    started = time.perf_counter()
    ours_m = near_duplicates(X[:m], args.threshold)
    ours_m_s = time.perf_counter() - started
    assert base_removed == len(ours_m), "baseline and ours disagree"
    print(f"baseline  n={m} row at a time: {base_s:6.2f} s  removed={base_removed}")
    print(f"ours      n={m} blocked:       {ours_m_s:6.2f} s  removed={len(ours_m)}  ({base_s / ours_m_s:.1f}x faster)")
    print(f"baseline extrapolated to n={args.n}: ~{base_s * (args.n / m) ** 2:.0f} s (n^2 scaling) vs ours measured {ours_s:.1f} s")

    rng = np.random.default_rng(1)
    words = np.array("merge csv files archive the folder report disk usage draw svg chart of sales".split())
    texts = [" ".join(words[rng.integers(len(words), size=12)]) for _ in range(args.n)]
    started = time.perf_counter()
    exact = exact_duplicates(texts)
    print(f"exact     n={args.n}: {time.perf_counter() - started:6.2f} s  removed={len(exact)}")


if __name__ == "__main__":
    main()
