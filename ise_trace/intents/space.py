"""The size of the Stage I sampling space, counted exactly.

A structured intent is a persona, a complexity, and a set of tasks drawn from a set of domains
(at least one task per chosen domain) whose sizes the complexity bounds. The paper reports more
than 10^11 such combinations; we count ours with a small polynomial DP rather than estimating.
"""

from __future__ import annotations

import math

from ..config import ComplexityShape
from .taxonomy import Taxonomy


def _poly_mul(a: list[int], b: list[int], cap: int) -> list[int]:
    out = [0] * (cap + 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b[: cap + 1 - i]):
                out[i + j] += x * y
    return out


def task_combinations(domain_sizes: list[int], shape: ComplexityShape) -> int:
    """Sets of tasks with `shape.domains` domains and `shape.tasks` tasks, >= 1 task per domain."""
    (dl, dh), (tl, th) = shape.domains, shape.tasks
    # by_k[k][t] = ways to pick k domains and t tasks from the domains seen so far
    by_k: list[list[int]] = [[1] + [0] * th] + [[0] * (th + 1) for _ in range(dh)]
    for n in domain_sizes:
        nonempty = [0] + [math.comb(n, t) for t in range(1, th + 1)]  # (1+x)^n - 1, truncated
        for k in range(dh - 1, -1, -1):
            grown = _poly_mul(by_k[k], nonempty, th)
            by_k[k + 1] = [x + y for x, y in zip(by_k[k + 1], grown)]
    return sum(by_k[k][t] for k in range(dl, dh + 1) for t in range(tl, th + 1))


def sampling_space(taxonomy: Taxonomy, complexity: dict[str, ComplexityShape]) -> dict[str, object]:
    """Personas, task combinations per complexity, and their product (an exact integer)."""
    sizes = [len(d.tasks) for d in taxonomy.domains]
    per_complexity = {name: task_combinations(sizes, shape) for name, shape in complexity.items()}
    total = taxonomy.persona_count * sum(per_complexity.values())
    return {
        "personas": taxonomy.persona_count,
        "task_combinations": per_complexity,
        "total": total,
        "log10": round(math.log10(total), 2) if total else 0.0,
    }
