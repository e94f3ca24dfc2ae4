"""Train / validation / test assignment by a stable hash of the intent id.

The split of an intent never depends on what else is in the corpus, so every trajectory of one
intent lands in the same split (no leakage) and a rebuild with more data keeps old rows in place.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "validation", "test")


def split_of(intent_id: str, validation_fraction: float, test_fraction: float) -> str:
    digest = hashlib.sha256(intent_id.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if u < test_fraction:
        return "test"
    if u < test_fraction + validation_fraction:
        return "validation"
    return "train"
