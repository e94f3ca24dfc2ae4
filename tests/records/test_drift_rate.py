"""One drift rate: summary.json, `ise-trace stats` and the card compute the same figure from a ledger."""

from __future__ import annotations

from ise_trace.dataset.corpus_stats import stats_of_run
from ise_trace.dataset.statistics import CorpusStats, drift_rate
from ise_trace.simulate.ledger import FailureLedger, TrajectoryLedger
from ise_trace.simulate.summary import summarize, summary_line
from tests.dataset.synthetic import make_trajectory


def test_drift_rate_is_regenerated_over_all_simulator_turns_checked():
    assert drift_rate(regenerated=1, kept=3) == 0.25  # 4 turns checked, 1 rejected and regenerated
    assert drift_rate(0, 0) == 0.0
    assert drift_rate(2, 0) == 1.0
    assert "kept user turns + regenerated" in CorpusStats.model_fields["drift_rate"].description


def test_summary_and_corpus_stats_give_the_same_rate(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = []
    for i, drift in enumerate([0, 3, 1, 0]):
        t = make_trajectory(i, user_turns=2)
        rows.append(t.model_copy(update={"stats": t.stats.model_copy(update={"drift_turns": drift})}))
    with TrajectoryLedger(run / "trajectories.jsonl") as ledger, FailureLedger(run / "failures.jsonl") as failures:
        ledger.append(*(t.model_dump_json() for t in rows))
        summary = summarize(ledger, failures, [t.intent.id for t in rows], {})
    kept = sum(t.stats.user_turns for t in rows)
    assert kept == 8
    assert summary["drift"] == {"regenerated_turns": 4, "checked_turns": 12, "rate": round(4 / 12, 5)}
    assert stats_of_run(run, embedder=None).drift_rate == summary["drift"]["rate"]


def test_template_turns_are_counted_in_the_summary_the_stats_and_the_card(tmp_path):
    """A run with drift_fallback: scripted says how many user turns were templates, everywhere."""
    from ise_trace.dataset.card import glance_rows

    run = tmp_path / "run"
    run.mkdir()
    rows = []
    for i, scripted in enumerate([0, 2, 1, 0]):
        t = make_trajectory(i, user_turns=2)
        rows.append(t.model_copy(update={"stats": t.stats.model_copy(update={"scripted_turns": scripted})}))
    with TrajectoryLedger(run / "trajectories.jsonl") as ledger, FailureLedger(run / "failures.jsonl") as failures:
        ledger.append(*(t.model_dump_json() for t in rows))
        summary = summarize(ledger, failures, [t.intent.id for t in rows], {})
    assert summary["scripted_turns"] == 3
    assert "3 user turns from a template" in summary_line(summary)
    stats = stats_of_run(run, embedder=None)
    assert stats.scripted_turn_rate == round(3 / 8, 5)
    row = next(r for r in glance_rows(stats) if "template" in r["label"])
    assert row["ours"] == "37.5%"
