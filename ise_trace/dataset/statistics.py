"""Corpus statistics: the figures of the paper's "at a glance" table and what the plots show.

Statistics are accumulated from one small summary per trajectory, so the same code serves a run
directory (pydantic records) and a built folder (parquet columns) without holding the corpus.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

from pydantic import BaseModel, Field

from ..intents.diversity import distinct_n
from ..schemas import AssistantMessage, Intent, Trajectory

COMPLEXITIES = ("simple", "medium", "complex")

DRIFT_RATE = (
    "Role drift: simulator turns regenerated because the drift check rejected them / all simulator "
    "turns checked (kept user turns + regenerated ones)."
)


def drift_rate(regenerated: int, kept: int) -> float:
    """The role-drift rate, the one definition (the card, `ise-trace stats` and summary.json use it):
    regenerated simulator turns over all simulator turns the drift check saw, kept + regenerated.
    `kept` is the user turns in the trajectories; `regenerated` their `stats.drift_turns`."""
    checked = kept + regenerated
    return round(regenerated / checked, 5) if checked else 0.0


@dataclass
class TrajectorySummary:
    """What statistics need of one trajectory."""

    intent_id: str
    complexity: str
    domains: list[str]
    status: str
    user_turns: int
    dialogue_turns: int
    tool_calls: int
    unique_tools: int
    failed_calls: int
    recovered_calls: int
    drift_turns: int
    tools: list[str]  # tool name of every call, in order
    verified: bool | None = None  # the checks passed / failed / the intent had none
    scripted_turns: int = 0

    @classmethod
    def of(cls, t: Trajectory) -> TrajectorySummary:
        tools = [tc.function.name for m in t.messages if isinstance(m, AssistantMessage) for tc in m.tool_calls]
        s = t.stats
        return cls(
            intent_id=t.intent.id,
            complexity=t.intent.complexity,
            domains=[d.name for d in t.intent.domains],
            status=t.outcome.status,
            user_turns=s.user_turns,
            dialogue_turns=s.dialogue_turns,
            tool_calls=s.tool_calls,
            unique_tools=s.unique_tools,
            failed_calls=s.failed_calls,
            recovered_calls=s.recovered_calls,
            drift_turns=s.drift_turns,
            scripted_turns=s.scripted_turns,
            tools=tools,
            verified=t.verification.passed,
        )


class Summary(BaseModel):
    mean: float
    median: float
    min: int
    max: int

    @classmethod
    def of(cls, values: list[int]) -> Summary:
        if not values:
            return cls(mean=0.0, median=0.0, min=0, max=0)
        return cls(
            mean=round(statistics.fmean(values), 2),
            median=float(statistics.median(values)),
            min=min(values),
            max=max(values),
        )


class CorpusStats(BaseModel):
    """Statistics of one corpus; `ise-trace stats --json` prints exactly this."""

    intents: int = Field(description="Distinct intents (the intents config, or those with a trajectory).")
    trajectories: int
    failures: int | None = Field(None, description="Intents the run gave up on (failures.jsonl), when known.")
    splits: dict[str, int] = Field(default_factory=dict, description="Trajectories per split, for a built folder.")
    user_turns: Summary
    dialogue_turns: Summary
    tool_calls: Summary
    unique_tools: Summary = Field(description="Distinct tools per trajectory.")
    distinct_tools: int = Field(description="Distinct tools over the whole corpus.")
    failed_call_rate: float = Field(description="Failed tool calls / tool calls.")
    recovered_call_rate: float = Field(description="Failed calls later followed by a success of the same tool.")
    drift_rate: float = Field(description=DRIFT_RATE)
    scripted_turn_rate: float = Field(
        0.0, description="User turns written from a template after the simulator drifted (stats.scripted_turns) / user turns."
    )
    complexity_mix: dict[str, float] = Field(description="Share of trajectories per complexity.")
    domain_counts: dict[str, int] = Field(description="Trajectories touching each domain.")
    outcome_counts: dict[str, int]
    simulator_success_rate: float = Field(0.0, description="Trajectories the simulated user called a success / all.")
    verification_counts: dict[str, int] = Field(
        default_factory=dict, description="Trajectories whose checks passed, failed, or that had no checks (unverified)."
    )
    verified_success_rate: float | None = Field(
        None, description="Trajectories whose checks all passed / trajectories with checks; None when none had checks."
    )
    false_successes: int = Field(0, description="The simulated user said success, the checks failed.")
    false_success_rate: float | None = Field(
        None, description="False successes / simulator successes that had checks; None when there were none."
    )
    missed_successes: int = Field(0, description="The checks passed, the simulated user did not say success.")
    intents_with_task: int | None = Field(None, description="Intents carrying a validated executable task, when known.")
    tool_call_counts: dict[str, int] = Field(description="Calls per tool name.")
    tool_cooccurrence: dict[str, dict[str, int]] = Field(
        description="Trajectories in which both tools were called (symmetric; diagonal: trajectories using the tool)."
    )
    user_turn_histogram: dict[int, int] = Field(description="Trajectories per user-turn count.")
    distinct_n: dict[str, float] = Field(default_factory=dict, description="Distinct-1/2 of intent texts.")
    vendi: float | None = Field(None, description="Vendi score of intent texts (cosine kernel, q=1).")
    vendi_note: str = Field("", description="Embedder used, or why Vendi is unavailable.")


@dataclass
class StatsAccumulator:
    """Feed trajectory summaries (and intent texts), then `result()`."""

    user_turns: list[int] = field(default_factory=list)
    dialogue_turns: list[int] = field(default_factory=list)
    tool_calls: list[int] = field(default_factory=list)
    unique_tools: list[int] = field(default_factory=list)
    failed: int = 0
    recovered: int = 0
    drift: int = 0
    scripted: int = 0
    complexity: Counter = field(default_factory=Counter)
    domains: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    tool_counts: Counter = field(default_factory=Counter)
    pairs: Counter = field(default_factory=Counter)
    intent_ids: set[str] = field(default_factory=set)
    intent_texts: dict[str, str] = field(default_factory=dict)
    verification: Counter = field(default_factory=Counter)
    intent_tasks: dict[str, bool] = field(default_factory=dict)
    false_successes: int = 0
    checked_successes: int = 0
    missed_successes: int = 0

    def add(self, s: TrajectorySummary) -> None:
        self.verification[{True: "passed", False: "failed", None: "unverified"}[s.verified]] += 1
        if s.status == "success" and s.verified is not None:
            self.checked_successes += 1
            self.false_successes += s.verified is False
        self.missed_successes += s.verified is True and s.status != "success"
        self.user_turns.append(s.user_turns)
        self.dialogue_turns.append(s.dialogue_turns)
        self.tool_calls.append(s.tool_calls)
        self.unique_tools.append(s.unique_tools)
        self.failed += s.failed_calls
        self.recovered += s.recovered_calls
        self.drift += s.drift_turns
        self.scripted += s.scripted_turns
        self.complexity[s.complexity] += 1
        self.domains.update(set(s.domains))
        self.outcomes[s.status] += 1
        self.tool_counts.update(s.tools)
        used = sorted(set(s.tools))
        self.pairs.update((a, a) for a in used)
        self.pairs.update(combinations(used, 2))
        self.intent_ids.add(s.intent_id)

    def add_intent(self, intent: Intent) -> None:
        self.intent_texts[intent.id] = intent.text
        self.intent_tasks[intent.id] = intent.has_task

    def result(
        self, *, failures: int | None = None, splits: dict[str, int] | None = None, embedder: str | None = None
    ) -> CorpusStats:
        n = len(self.user_turns)
        calls = sum(self.tool_calls)
        tools = sorted(self.tool_counts)
        co = {a: {b: self.pairs[tuple(sorted((a, b)))] for b in tools} for a in tools}
        texts = list(self.intent_texts.values())
        vendi, note = vendi_of(texts, embedder) if embedder else (None, "not computed (disabled)")
        return CorpusStats(
            intents=len(self.intent_texts) or len(self.intent_ids),
            trajectories=n,
            failures=failures,
            splits=splits or {},
            user_turns=Summary.of(self.user_turns),
            dialogue_turns=Summary.of(self.dialogue_turns),
            tool_calls=Summary.of(self.tool_calls),
            unique_tools=Summary.of(self.unique_tools),
            distinct_tools=len(tools),
            failed_call_rate=round(self.failed / calls, 4) if calls else 0.0,
            recovered_call_rate=round(self.recovered / self.failed, 4) if self.failed else 0.0,
            drift_rate=drift_rate(self.drift, sum(self.user_turns)),
            scripted_turn_rate=round(self.scripted / sum(self.user_turns), 5) if sum(self.user_turns) else 0.0,
            complexity_mix={c: round(self.complexity[c] / n, 4) if n else 0.0 for c in COMPLEXITIES},
            domain_counts=dict(self.domains.most_common()),
            outcome_counts=dict(self.outcomes.most_common()),
            simulator_success_rate=round(self.outcomes["success"] / n, 4) if n else 0.0,
            verification_counts={k: self.verification[k] for k in ("passed", "failed", "unverified")},
            verified_success_rate=_rate(self.verification["passed"], self.verification["passed"] + self.verification["failed"]),
            false_successes=self.false_successes,
            false_success_rate=_rate(self.false_successes, self.checked_successes),
            missed_successes=self.missed_successes,
            intents_with_task=sum(self.intent_tasks.values()) if self.intent_tasks else None,
            tool_call_counts=dict(self.tool_counts.most_common()),
            tool_cooccurrence=co,
            user_turn_histogram=dict(sorted(Counter(self.user_turns).items())),
            distinct_n={f"distinct_{k}": round(distinct_n(texts, k), 4) for k in (1, 2)},
            vendi=vendi,
            vendi_note=note,
        )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def vendi_of(texts: list[str], embedder: str) -> tuple[float | None, str]:
    """Vendi score of `texts` with Stage I's embedder, or (None, why not)."""
    if len(texts) < 2:
        return None, "unavailable (fewer than two intents)"
    try:
        from ..intents.diversity import vendi_score
        from ..intents.embeddings import embed
    except ImportError as e:
        return None, f"unavailable (embedder not importable: {e})"
    try:
        score = float(vendi_score(embed(texts, model=embedder), q=1.0))
    except Exception as e:  # a missing model package or weights must not fail the whole build
        return None, f"unavailable ({type(e).__name__}: {e})"
    return round(score, 2), f"{embedder} embeddings, cosine kernel, q=1, {len(texts)} intent texts"
