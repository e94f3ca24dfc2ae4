"""Deterministic seeds: one per episode from the run seed, one per model call from that."""

from __future__ import annotations

import hashlib


def episode_seed(run_seed: int, intent_id: str, attempt: int) -> int:
    """Same run seed, intent and attempt give the same seed; a retry gets a fresh one."""
    digest = hashlib.sha256(f"{run_seed}:{intent_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class SeedStream:
    """Seeds for successive model calls; a retried call must not repeat the same sample."""

    def __init__(self, base: int):
        self.base = base
        self.calls = 0

    def next(self) -> int:
        self.calls += 1
        return (self.base + self.calls) & 0x7FFFFFFF
