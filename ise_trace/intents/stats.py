"""The statistics written beside an intents file (`<name>.stats.json`).

Every count is recomputed from the files themselves (intents, duplicates, rejects), so the stats
of a resumed run describe the whole corpus, not only the last invocation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..config import IntentConfig
from ..schemas import Intent
from .dedup import Removal
from .diversity import distinct_n, domain_coverage, vendi_score
from .renderer import PROMPT_VERSION
from .space import sampling_space
from .taxonomy import Taxonomy


def build_stats(
    *,
    config: IntentConfig,
    taxonomy: Taxonomy,
    model: str,
    kept: Sequence[Intent],
    kept_embeddings: np.ndarray,
    removals: Sequence[Removal],
    rejects: Sequence[dict],
    processed: int,
    run: dict[str, object],
) -> dict[str, object]:
    attempts_failed = Counter(r["reason"] for r in rejects)
    failed_intents = sum(1 for r in rejects if r.get("final"))
    mix = Counter(i.complexity for i in kept)
    vendi = {"q": config.vendi_q, "score": round(vendi_score(kept_embeddings, config.vendi_q), 4) if len(kept) else 0.0}
    if config.vendi_q != 1.0:
        vendi["score_q1"] = round(vendi_score(kept_embeddings, 1.0), 4) if len(kept) else 0.0
    return {
        "requested": config.n,
        "sampled": processed,
        "rendered": len(kept) + len(removals),
        "failed_validation": {
            "intents": failed_intents,
            "attempts": sum(attempts_failed.values()),
            "attempts_by_reason": dict(sorted(attempts_failed.items())),
        },
        "duplicates_removed": {
            "exact": sum(r.kind == "exact" for r in removals),
            "near": sum(r.kind == "near" for r in removals),
            "near_threshold": config.near_dup_threshold,
        },
        "unique": len(kept),
        "tasks": _task_stats(kept, rejects),
        "diversity": {
            "embedder": config.embedder,
            "vendi": vendi,
            "distinct_1": round(distinct_n((i.text for i in kept), 1), 4),
            "distinct_2": round(distinct_n((i.text for i in kept), 2), 4),
        },
        "domain_coverage": domain_coverage(kept, {d.name: len(d.tasks) for d in taxonomy.domains}),
        "complexity_mix": {
            c: {"intents": mix[c], "share": round(mix[c] / len(kept), 4) if kept else 0.0} for c in config.complexity
        },
        "sampling_space": sampling_space(taxonomy, config.complexity),
        "config": {
            "seed": config.seed,
            "taxonomy": taxonomy.source,
            "renderer_model": model,
            "prompt_version": PROMPT_VERSION,
            "complexity_weights": {c: s.weight for c, s in config.complexity.items()},
            "max_render_attempts": config.max_render_attempts,
        },
        "run": run,
    }


def _task_stats(kept: Sequence[Intent], rejects: Sequence[dict]) -> dict[str, object]:
    """How many kept intents carry a validated task, by who authored it, and why tasks were rejected."""
    origins = Counter(i.task_origin for i in kept if i.has_task)
    rejected = Counter(r["reason"].removeprefix("task_") for r in rejects if r["reason"].startswith("task_"))
    with_task = sum(origins.values())
    return {
        "with_task": with_task,
        "share_with_task": round(with_task / len(kept), 4) if kept else 0.0,
        "unverified": len(kept) - with_task,
        "by_origin": dict(sorted(origins.items())),
        "rejected_by_reason": dict(sorted(rejected.items())),
    }
