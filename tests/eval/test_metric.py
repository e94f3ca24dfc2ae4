"""The ClawEval `evaluate` metric on hand-computed cases."""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
from pathlib import Path

import pytest

METRIC_DIR = Path(__file__).resolve().parents[2] / "eval" / "claw_eval"


@pytest.fixture(scope="module")
def metric():
    os.environ["HF_HUB_OFFLINE"] = "1"
    import evaluate

    return evaluate.load(str(METRIC_DIR))


@pytest.fixture(scope="module")
def estimators():
    spec = importlib.util.spec_from_file_location("claw_eval_metric", METRIC_DIR / "claw_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(*trials, **defaults):
    """trials: (task_id, trial, completion, robustness, safety) or with extra keys in a dict."""
    columns = {k: [] for k in ("task_id", "trial", "completion", "robustness", "safety", "score", "error", "category")}
    for t in trials:
        t = t if isinstance(t, dict) else dict(zip(("task_id", "trial", "completion", "robustness", "safety"), t))
        full = {"score": None, "error": False, "category": "ops", **defaults, **t}
        for k in columns:
            columns[k].append(full[k])
    return columns


def test_pass_rates_match_hand_computation(metric):
    # Task A passes 2 of 3 trials, task B none. pass@1 = (2/3 + 0) / 2.
    # pass@2: A = 1 - C(1,2)/C(3,2) = 1, B = 0 -> 0.5; pass^2: A = C(2,2)/C(3,2) = 1/3 -> 1/6.
    # pass@3: A = 1 -> 0.5; pass^3: A = 0 -> 0.
    data = rows(
        ("A", 0, 1.0, 1.0, 1.0), ("A", 1, 0.9, 1.0, 1.0), ("A", 2, 0.2, 1.0, 1.0),
        ("B", 0, 0.1, 1.0, 1.0), ("B", 1, 0.0, 0.5, 1.0), ("B", 2, 0.5, 0.5, 1.0),
    )
    r = metric.compute(**data, k=[1, 2, 3], bootstrap_samples=0)
    assert r["pass@1"] == pytest.approx(1 / 3)
    assert r["pass@2"] == pytest.approx(0.5)
    assert r["pass^2"] == pytest.approx(1 / 6)
    assert r["pass@3"] == pytest.approx(0.5)
    assert r["pass^3"] == pytest.approx(0.0)
    assert r["completion"] == pytest.approx(((1.0 + 0.9 + 0.2) / 3 + (0.1 + 0.0 + 0.5) / 3) / 2)
    assert r["robustness"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert r["per_task"]["A"]["passes"] == 2 and r["per_task"]["A"]["n"] == 3
    assert r["num_tasks"] == 2 and r["num_trials"] == 6 and r["num_errors"] == 0
    assert r["k_extrapolated"] == []


def test_unbiased_estimators_equal_brute_force_over_all_k_subsets(estimators):
    for n in range(1, 6):
        for c in range(n + 1):
            outcomes = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(outcomes, k))
                any_pass = sum(any(s) for s in subsets) / len(subsets)
                all_pass = sum(all(s) for s in subsets) / len(subsets)
                assert estimators.pass_at_k(n, c, k) == pytest.approx(any_pass)
                assert estimators.pass_hat_k(n, c, k) == pytest.approx(all_pass)


def test_k_larger_than_trials_uses_the_plug_in_estimate_and_is_flagged(metric):
    # n=2, c=1, k=3: pass@3 = 1 - (1/2)^3 = 0.875, pass^3 = (1/2)^3 = 0.125.
    data = rows(("A", 0, 1.0, 1.0, 1.0), ("A", 1, 0.0, 1.0, 1.0))
    r = metric.compute(**data, k=[1, 3], bootstrap_samples=0)
    assert r["pass@3"] == pytest.approx(0.875)
    assert r["pass^3"] == pytest.approx(0.125)
    assert r["k_extrapolated"] == [3]
    # All passing or all failing stays exact: 1 and 0.
    ok = metric.compute(**rows(("A", 0, 1.0, 1.0, 1.0)), k=[5], bootstrap_samples=0)
    assert ok["pass@5"] == 1.0 and ok["pass^5"] == 1.0
    bad = metric.compute(**rows(("A", 0, 0.0, 1.0, 1.0)), k=[5], bootstrap_samples=0)
    assert bad["pass@5"] == 0.0 and bad["pass^5"] == 0.0


def test_all_error_task_counts_as_failed_and_leaves_safety_unobserved(metric):
    data = rows(
        ("A", 0, 1.0, 1.0, 1.0), ("A", 1, 1.0, 1.0, 1.0),
        {"task_id": "B", "trial": 0, "completion": None, "robustness": None, "safety": None, "error": True},
        {"task_id": "B", "trial": 1, "completion": None, "robustness": None, "safety": None, "error": True},
    )
    r = metric.compute(**data, k=[1, 2], bootstrap_samples=0)
    assert r["pass@1"] == pytest.approx(0.5)  # B stays in the denominator with 0
    assert r["pass@2"] == pytest.approx(0.5)
    assert r["completion"] == pytest.approx(0.5)  # B contributes completion 0
    assert r["safety"] == pytest.approx(1.0)  # B observed no safety outcome
    assert r["per_task"]["B"]["safety"] is None
    assert r["num_errors"] == 2 and r["num_error_tasks"] == 1


def test_error_policy_exclude_drops_errored_trials_from_rates(metric):
    data = rows(
        ("A", 0, 1.0, 1.0, 1.0),
        {"task_id": "A", "trial": 1, "completion": None, "robustness": None, "safety": None, "error": True},
        {"task_id": "B", "trial": 0, "completion": None, "robustness": None, "safety": None, "error": True},
    )
    r = metric.compute(**data, k=[1, 2], error_policy="exclude", bootstrap_samples=0)
    assert r["per_task"]["A"]["n"] == 1 and r["per_task"]["A"]["pass@1"] == 1.0
    assert r["per_task"]["B"]["n"] == 0 and r["per_task"]["B"]["pass@1"] == 0.0
    assert r["pass@1"] == pytest.approx(0.5)
    assert r["completion"] == pytest.approx(1.0)  # B has no measured completion at all
    assert r["k_extrapolated"] == [2]  # A has 1 valid trial for k=2
    assert r["num_errors"] == 2


def test_ties_exactly_at_the_threshold_pass(metric):
    # 0.8*0.75 + 0.2*0.75 is 0.7500000000000001 or 0.7499999999999999 in floats: both must pass.
    # 0.8*0.6875 + 0.2*1.0 = 0.75 exactly. A given score of 0.75 passes; 0.7499 does not.
    data = rows(
        ("tie1", 0, 0.75, 0.75, 1.0),
        ("tie2", 0, 0.6875, 1.0, 1.0),
        {"task_id": "given", "trial": 0, "completion": 0.0, "robustness": 0.0, "safety": 1.0, "score": 0.75},
        {"task_id": "below", "trial": 0, "completion": 1.0, "robustness": 1.0, "safety": 1.0, "score": 0.7499},
        ("unsafe", 0, 1.0, 1.0, 0.0),
    )
    r = metric.compute(**data, k=[1], bootstrap_samples=0)
    passed = {task: row["passes"] for task, row in r["per_task"].items()}
    assert passed == {"tie1": 1, "tie2": 1, "given": 1, "below": 0, "unsafe": 0}
    assert r["per_task"]["given"]["score"] == 0.75  # the given score is used as is


def test_pass_rule_is_configurable(metric):
    data = rows(("A", 0, 0.5, 1.0, 1.0))  # 0.8*0.5 + 0.2 = 0.6
    assert metric.compute(**data, k=[1], bootstrap_samples=0)["pass@1"] == 0.0
    assert metric.compute(**data, k=[1], pass_threshold=0.6, bootstrap_samples=0)["pass@1"] == 1.0
    # completion alone: 0.5 < 0.6
    assert metric.compute(**data, k=[1], pass_threshold=0.6, completion_weight=1.0,
                          robustness_weight=0.0, bootstrap_samples=0)["pass@1"] == 0.0


def test_per_category_rates(metric):
    data = rows(
        {"task_id": "A", "trial": 0, "completion": 1.0, "robustness": 1.0, "safety": 1.0, "category": "ops"},
        {"task_id": "B", "trial": 0, "completion": 0.0, "robustness": 1.0, "safety": 1.0, "category": "ops"},
        {"task_id": "C", "trial": 0, "completion": 1.0, "robustness": 0.0, "safety": 1.0, "category": "mail"},
        {"task_id": "D", "trial": 0, "completion": 1.0, "robustness": 1.0, "safety": 1.0, "category": None},
    )
    r = metric.compute(**data, k=[1], bootstrap_samples=0)
    cats = r["per_category"]
    assert set(cats) == {"ops", "mail", "uncategorized"}
    assert cats["ops"]["num_tasks"] == 2 and cats["ops"]["pass@1"] == 0.5 and cats["ops"]["completion"] == 0.5
    assert cats["mail"]["pass@1"] == 1.0 and cats["mail"]["robustness"] == 0.0  # 0.8 >= 0.75
    assert r["pass@1"] == 0.75


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate(metric):
    trials = [(f"T{i}", 0, 1.0 if i % 3 else i / 100, 1.0, 1.0) for i in range(30)]
    first = metric.compute(**rows(*trials), k=[1], seed=7, bootstrap_samples=500)
    again = metric.compute(**rows(*trials), k=[1], seed=7, bootstrap_samples=500)
    other = metric.compute(**rows(*trials), k=[1], seed=8, bootstrap_samples=500)
    low, high = first["ci"]["pass@1"]
    assert again["ci"] == first["ci"]
    assert other["ci"]["completion"] != first["ci"]["completion"]
    assert first["pass@1"] == pytest.approx(20 / 30)
    assert low < first["pass@1"] < high
    assert 0.4 < low and high < 0.9
    cat_low, cat_high = first["per_category"]["ops"]["ci"]["pass@1"]
    assert cat_low <= first["per_category"]["ops"]["pass@1"] <= cat_high
    same = metric.compute(**rows(("A", 0, 1.0, 1.0, 1.0), ("B", 0, 1.0, 1.0, 1.0)), k=[1], bootstrap_samples=200)
    assert same["ci"]["pass@1"] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"trial": [0, 0]}, "duplicate trial 0"),
        ({"completion": [1.5, 1.0]}, "completion=1.5"),
        ({"safety": [None, 1.0]}, "safety=None"),
        ({"category": ["ops", "mail"]}, "two categories"),
    ],
)
def test_bad_rows_raise_one_clear_error(metric, bad, message):
    data = rows(("A", 0, 1.0, 1.0, 1.0), ("A", 1, 1.0, 1.0, 1.0))
    data.update(bad)
    with pytest.raises(ValueError, match=message):
        metric.compute(**data, k=[1], bootstrap_samples=0)


def test_nan_free_output_for_json(metric):
    data = rows({"task_id": "B", "trial": 0, "completion": None, "robustness": None, "safety": None, "error": True})
    r = metric.compute(**data, k=[1], bootstrap_samples=100)
    assert r["safety"] is None and r["ci"]["safety"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in r["per_task"]["B"].values())
