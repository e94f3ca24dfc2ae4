"""The closing summary of a simulate run, over the whole ledger (earlier sessions included)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from ..dataset.statistics import drift_rate
from .ledger import FailureLedger, TrajectoryLedger


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "max": 0}
    return {"mean": round(statistics.fmean(values), 2), "median": statistics.median(values), "max": max(values)}


def summarize(
    trajectories: TrajectoryLedger,
    failures: FailureLedger,
    intent_ids: list[str],
    session: dict[str, Any],
) -> dict[str, Any]:
    status: Counter[str] = Counter()
    termination: Counter[str] = Counter()
    user_turns, tool_calls, unique_tools = [], [], []
    failed_calls = recovered = drift = scripted = 0
    recorded: set[str] = set()
    for record in trajectories.records():
        recorded.add(record["intent"]["id"])
        status[record["outcome"]["status"]] += 1
        termination[record["outcome"]["termination"]] += 1
        stats = record["stats"]
        user_turns.append(stats["user_turns"])
        tool_calls.append(stats["tool_calls"])
        unique_tools.append(stats["unique_tools"])
        failed_calls += stats["failed_calls"]
        recovered += stats["recovered_calls"]
        drift += stats.get("drift_turns", 0)
        scripted += stats.get("scripted_turns", 0)
    total_turns = sum(user_turns)
    count = sum(status.values())
    return {
        "intents": len(intent_ids),
        "recorded": count,
        "missing": sum(1 for i in intent_ids if i not in recorded),
        "status": dict(status),
        "termination": dict(termination),
        "success_rate": round(status["success"] / count, 4) if count else 0.0,
        "user_turns": _spread(user_turns),
        "tool_calls": _spread(tool_calls),
        "unique_tools": _spread(unique_tools),
        "failed_calls": failed_calls,
        "recovered_calls": recovered,
        # `rate`: regenerated simulator turns / all simulator turns checked (kept + regenerated),
        # the same `drift_rate` as the dataset card and `ise-trace stats`.
        "drift": {"regenerated_turns": drift, "checked_turns": total_turns + drift, "rate": drift_rate(drift, total_turns)},
        # user turns sent from fallback_turn's templates when a turn stayed out of role (drift_fallback: scripted)
        "scripted_turns": scripted,
        "errored_attempts": sum(1 for _ in failures.lines()),
        "session": session,
    }


def summary_line(summary: dict[str, Any]) -> str:
    s = summary
    return (
        f"simulate: {s['recorded']}/{s['intents']} recorded, status {s['status']}, "
        f"{s['user_turns']['mean']} user turns and {s['tool_calls']['mean']} tool calls per trajectory, "
        f"drift {s['drift']['rate']:.2%}, {s['errored_attempts']} errored attempts retried or recorded"
        + (f", {s['scripted_turns']} user turns from a template" if s.get("scripted_turns") else "")
    )
