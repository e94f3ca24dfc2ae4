"""Seeded, weighted sampling of structured intents (persona x domains x tasks x complexity).

Tuple i of a run comes from its own generator seeded with (seed, i), so the first n tuples of a
seed never change when n grows, and a resumed run regenerates exactly the tuples it had before.
A tuple equal to an earlier one (same persona, complexity and task set) is redrawn. Draws use only
`random.Random.random()`, the one method whose stream Python promises to keep across versions.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from ..config import ComplexityShape, IntentConfig
from ..errors import ConfigError
from ..schemas import Complexity, DomainSpec, Persona, TaskSpec
from .taxonomy import Taxonomy


@dataclass(frozen=True)
class SampledIntent:
    """A structured intent before rendering."""

    index: int
    id: str
    seed: int
    complexity: Complexity
    persona: Persona
    domains: list[DomainSpec]
    keywords: tuple[tuple[str, ...], ...]  # per task, in the order of `domains[*].tasks`

    @property
    def tasks(self) -> list[tuple[str, TaskSpec]]:
        return [(d.name, t) for d in self.domains for t in d.tasks]


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _below(rng: random.Random, n: int) -> int:
    return min(int(rng.random() * n), n - 1)


def _weighted(rng: random.Random, cumulative: list[float]) -> int:
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def _distinct(rng: random.Random, n: int, k: int, cumulative: list[float] | None = None) -> list[int]:
    """k distinct indices below n, uniform or by weight (weighted draws redraw a taken index)."""
    if cumulative is None:  # partial Fisher-Yates
        pool = list(range(n))
        for i in range(k):
            j = i + _below(rng, n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]
    picked: list[int] = []
    while len(picked) < k:
        i = _weighted(rng, cumulative)
        if i not in picked:
            picked.append(i)
    return picked


class IntentSampler:
    """Iterate for the endless tuple sequence of `config.seed`, or `sample(n)` for its first n."""

    def __init__(self, taxonomy: Taxonomy, config: IntentConfig):
        self.taxonomy = taxonomy
        self.config = config
        self.seed = config.seed
        self._complexities = list(config.complexity)
        self._complexity_cum = list(itertools.accumulate(config.complexity[c].weight for c in self._complexities))
        self._domain_cum = list(itertools.accumulate(d.weight for d in taxonomy.domains))
        for name, shape in config.complexity.items():
            if shape.domains[0] > len(taxonomy.domains):
                raise ConfigError(
                    f"complexity '{name}' needs {shape.domains[0]} domains but the taxonomy has {len(taxonomy.domains)}"
                )

    # ------------------------------------------------------------------ one draw

    def _persona(self, rng: random.Random) -> tuple[Persona, tuple]:
        p = self.taxonomy.personas
        role = p.roles[_below(rng, len(p.roles))]
        picked = sorted(_distinct(rng, len(role.expertise), p.expertise_per_persona))
        parts = (
            p.industries[_below(rng, len(p.industries))],
            role.name,
            p.experience_levels[_below(rng, len(p.experience_levels))],
            p.communication_styles[_below(rng, len(p.communication_styles))].name,
            p.work_contexts[_below(rng, len(p.work_contexts))],
            tuple(role.expertise[i] for i in picked),
        )
        digest = _digest(parts)
        h = int(digest[:16], 16)
        first = p.first_names[h % len(p.first_names)]
        last = p.last_names[(h // len(p.first_names)) % len(p.last_names)]
        persona = Persona(
            id="p-" + digest[:12],
            name=f"{first} {last}",
            industry=parts[0],
            role=parts[1],
            experience_level=parts[2],
            communication_style=parts[3],
            work_context=parts[4],
            expertise=list(parts[5]),
        )
        return persona, parts

    def _tasks(self, rng: random.Random, shape: ComplexityShape) -> list[tuple[int, list[int]]]:
        """[(domain index, [task indices])] with shape.domains domains and shape.tasks tasks in all."""
        domains = self.taxonomy.domains
        (dl, dh), (tl, th) = shape.domains, shape.tasks
        total = tl + _below(rng, th - tl + 1)
        top = max(dl, min(dh, total, len(domains)))
        k = dl + _below(rng, top - dl + 1)
        chosen = _distinct(rng, len(domains), k, self._domain_cum)
        capacity = [len(domains[i].tasks) for i in chosen]
        counts = [1] * k
        for _ in range(min(total, sum(capacity)) - k):
            open_slots = [j for j in range(k) if counts[j] < capacity[j]]
            counts[open_slots[_below(rng, len(open_slots))]] += 1
        return [(d, sorted(_distinct(rng, cap, c))) for d, cap, c in zip(chosen, capacity, counts)]

    def _draw(self, rng: random.Random) -> tuple[Complexity, Persona, tuple, list[tuple[int, list[int]]]]:
        complexity = self._complexities[_weighted(rng, self._complexity_cum)]
        persona, parts = self._persona(rng)
        return complexity, persona, parts, self._tasks(rng, self.config.complexity[complexity])

    # ------------------------------------------------------------------ the sequence

    def __iter__(self) -> Iterator[SampledIntent]:
        seen: set[str] = set()
        index = 0
        while True:
            rng = random.Random(f"ise-trace:{self.seed}:{index}")
            for _ in range(self.config.max_sample_tries):
                complexity, persona, parts, picks = self._draw(rng)
                key = _digest([complexity, parts, sorted((d, t) for d, ts in picks for t in ts)])
                if key not in seen:
                    break
            else:
                raise ConfigError(
                    f"the sampling space is exhausted after {index} distinct intents "
                    f"({self.config.max_sample_tries} redraws found only repeats); lower --n or enlarge the taxonomy"
                )
            seen.add(key)
            yield self._build(index, key, complexity, persona, picks)
            index += 1

    def sample(self, n: int) -> list[SampledIntent]:
        return list(itertools.islice(self, n))

    def _build(self, index, key, complexity, persona, picks) -> SampledIntent:
        domains, keywords = [], []
        for d, task_ids in picks:
            entry = self.taxonomy.domains[d]
            tasks = [entry.tasks[t] for t in task_ids]
            domains.append(
                DomainSpec(name=entry.name, tasks=[TaskSpec(name=t.name, description=t.description) for t in tasks])
            )
            keywords.extend(t.keywords for t in tasks)
        return SampledIntent(
            index=index,
            id=_digest([key, self.seed])[:16],
            seed=self.seed,
            complexity=complexity,
            persona=persona,
            domains=domains,
            keywords=tuple(keywords),
        )
