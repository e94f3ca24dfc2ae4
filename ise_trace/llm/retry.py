"""Exponential backoff with jitter, shared by the backends that talk to a server."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 20.0

    def delay(self, retry: int, retry_after_s: float | None = None) -> float:
        """Delay before retry number `retry` (1-based); a server's Retry-After wins when longer."""
        ceiling = min(self.max_s, self.initial_s * (2 ** (retry - 1)))
        # Jitter over the upper half keeps many clients from retrying in lockstep.
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_s))
        return delay
