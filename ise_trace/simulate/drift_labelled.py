"""Labelled simulator turns for measuring the role-drift check, and the measuring itself.

Packaged sets (data/*.json, the same fields): `dev`, on which patterns, the threshold and the
classifier are tuned and trained, and the held-out sets, never tuned on: `heldout` (its errors
informed dev round 2), `heldout_v2` to `heldout_v6` (independent authors, unread
while the check was developed; v4 written from data/drift_guideline.md alone) and `heldout_real`
(turns the embedded SmolLM2 simulator really wrote, drift_harvest.py, labelled by the guideline),
so their figures stand for turns the check was not written from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable

from .digest import ExecutedCall, TurnDigest

SETS = {
    "dev": "drift_dev.json",
    "heldout": "drift_heldout.json",
    "heldout_v2": "drift_heldout_v2.json",
    "heldout_v3": "drift_heldout_v3.json",  # written by an independent author after the check
    "heldout_v4": "drift_heldout_v4.json",  # independent author, from data/drift_guideline.md only
    "heldout_v5": "drift_heldout_v5.json",  # the same, written once the round-4 classifier was final
    "heldout_v6": "drift_heldout_v6.json",  # the same, written during round 5, never read by its developer
    "heldout_real": "drift_heldout_real.json",  # turns the embedded simulator really wrote
}


def available(name: str) -> bool:
    return resources.files("ise_trace.simulate").joinpath("data", SETS[name]).is_file()


def _digests() -> dict[str | None, TurnDigest | None]:
    """The agent turns a labelled message may answer, by the names the data files use."""
    ran = ExecutedCall("exec", "python3 clean.py", 0, False)
    broke = ExecutedCall("exec", "python3 clean.py", 1, True, "NameError: name 'df' is not defined")
    wrote = ExecutedCall("write", "clean.py", 0, False)
    return {
        None: None,  # the opening message: nothing has run yet
        "ok": TurnDigest([ran]),
        "failed": TurnDigest([wrote, broke]),
        "recovered": TurnDigest([broke, wrote, ran]),
        "nothing": TurnDigest([]),
    }


@dataclass(frozen=True)
class Labelled:
    text: str
    digest: TurnDigest | None
    drift: bool
    category: str
    author: str = "rounds-1-3"  # who wrote the turn: cross-validation leaves one author out at a time


def load(name: str) -> list[Labelled]:
    raw = resources.files("ise_trace.simulate").joinpath("data", SETS[name]).read_text(encoding="utf-8")
    digests = _digests()
    return [
        Labelled(r["text"], digests[r["digest"]], bool(r["drift"]), r["category"], r.get("author", "rounds-1-3"))
        for r in json.loads(raw)["examples"]
    ]


def dataset_bytes(name: str) -> bytes:
    """The file as shipped, for fingerprinting what a classifier was trained on."""
    return resources.files("ise_trace.simulate").joinpath("data", SETS[name]).read_bytes()


Check = Callable[[str, "TurnDigest | None"], list]


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    seconds: float = 0.0
    false_positives: list[Labelled] = field(default_factory=list)
    false_negatives: list[Labelled] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def ms_per_turn(self) -> float:
        n = self.tp + self.fp + self.fn + self.tn
        return 1000 * self.seconds / n if n else 0.0


def as_simulator_gates(check: Check) -> Check:
    """`check` plus the schema-echo test the simulator runs beside it (user_simulator.py): a turn
    is rejected when either fires, so that is what the figures should measure."""
    from .drift import echoed_instruction
    from .user_simulator import SCHEMA_TEXTS

    def gate(text: str, digest: TurnDigest | None) -> list:
        echo = echoed_instruction(text, SCHEMA_TEXTS)
        return check(text, digest) + ([echo] if echo else [])

    return gate


def score(check: Check, examples: list[Labelled]) -> Scores:
    """Binary scores of `check` (a turn drifts when it returns any finding), timed per turn."""
    s = Scores()
    for ex in examples:
        start = time.perf_counter()
        flagged = bool(check(ex.text, ex.digest))
        s.seconds += time.perf_counter() - start
        if flagged and ex.drift:
            s.tp += 1
        elif flagged:
            s.fp += 1
            s.false_positives.append(ex)
        elif ex.drift:
            s.fn += 1
            s.false_negatives.append(ex)
        else:
            s.tn += 1
    return s
