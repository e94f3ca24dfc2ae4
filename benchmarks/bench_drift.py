"""The role-drift check on labelled simulator turns: the old pattern check against the current one.

    python benchmarks/bench_drift.py             # held-out sets; about a minute on 2 CPU cores
    python benchmarks/bench_drift.py --set dev   # the development set (in-sample for the classifier)

Printed side by side, per set: precision, recall and F1 of "this turn drifted" and milliseconds
per turn, for
1. baseline: the pattern check before the held-out evaluation (drift_baseline.py);
2. patterns: the current patterns alone (check_drift(..., learned=False));
3. current: patterns, then the embedding classifier (check_drift), what the simulator runs.
Each is measured as the simulator gates a turn: the check plus its schema-echo test. The model
is loaded before timing starts; its one-off load time is printed separately.

The sets (ise_trace/simulate/data/): `heldout` was frozen before the current check was written,
but its errors informed the second round of development examples; `heldout_v2` (120 turns) was
measured once before development round 3 and never read; `heldout_v3`, `heldout_v4` and
`heldout_v5`, each by an independent author, were never read while the check was developed (v4
and v5 were written from data/drift_guideline.md alone; v5 after the round-4 check was final);
`heldout_real` holds turns the embedded simulator really wrote (drift_harvest.py). `heldout_v6`,
written from the guideline during development round 5 and measured once after it, is the clean
estimate; the others have since been read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ise_trace.simulate import drift_classifier, drift_labelled  # noqa: E402
from ise_trace.simulate.drift import check_drift  # noqa: E402
from ise_trace.simulate.drift_baseline import check_drift_baseline  # noqa: E402


def checks() -> dict[str, drift_labelled.Check]:
    return {
        "baseline": check_drift_baseline,
        "patterns": lambda text, digest: check_drift(text, digest, learned=False),
        "current": check_drift,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", choices=sorted(drift_labelled.SETS), help="repeatable; default: every held-out set present")
    parser.add_argument("--errors", action="store_true", help="list the current check's mistakes")
    args = parser.parse_args()
    start = time.perf_counter()
    classifier = drift_classifier.default()
    print(f"classifier: {'loaded' if classifier else 'UNAVAILABLE (patterns only)'} in {time.perf_counter() - start:.1f} s")
    default = [n for n in ("heldout", "heldout_v2", "heldout_v3", "heldout_v4", "heldout_v5", "heldout_v6", "heldout_real") if drift_labelled.available(n)]
    for name in args.set or default:
        examples = drift_labelled.load(name)
        drifted = sum(e.drift for e in examples)
        print(f"\n{name}: {len(examples)} turns ({drifted} drifted, {len(examples) - drifted} in role)")
        print(f"  {'check':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'ms/turn':>8}   fp  fn")
        for label, check in checks().items():
            s = drift_labelled.score(drift_labelled.as_simulator_gates(check), examples)
            print(f"  {label:<10} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} {s.ms_per_turn:>8.2f}  {s.fp:>3} {s.fn:>3}")
        if args.errors:
            for e in s.false_positives:
                print(f"    false alarm: {e.text[:100]!r}")
            for e in s.false_negatives:
                print(f"    missed ({e.category}): {e.text[:100]!r}")


if __name__ == "__main__":
    main()
