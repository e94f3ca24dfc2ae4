"""Vendi score against the `vendi-score` package's reference, Distinct-n and domain coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vendi_score import vendi

from ise_trace.intents.diversity import distinct_n, domain_coverage, vendi_score
from ise_trace.schemas import DomainSpec, Intent, Persona, RendererInfo, TaskSpec


def _unit_rows(n: int, d: int, seed: int, clusters: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if clusters:  # correlated rows, so the spectrum is far from flat
        centres = rng.normal(size=(clusters, d))
        X = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, d))
    else:
        X = rng.normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("n, d, clusters", [(60, 16, None), (200, 32, 5), (12, 64, None), (150, 48, 3)])
def test_q1_agrees_with_the_reference_score_X(n, d, clusters):
    X = _unit_rows(n, d, seed=n + d, clusters=clusters)
    assert vendi_score(X) == pytest.approx(vendi.score_X(X), rel=1e-5)


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, 3.5, math.inf])
@pytest.mark.parametrize("n, d, clusters", [(80, 24, 4), (30, 64, None)])
def test_any_order_q_agrees_with_the_reference_score_K(q, n, d, clusters):
    # score_X ignores q, so the other orders are checked against the n x n kernel route.
    X = _unit_rows(n, d, seed=7 * n + d, clusters=clusters)
    K = X @ X.T
    reference = vendi.score_K(K, q="inf" if math.isinf(q) else q)
    assert vendi_score(X, q=q) == pytest.approx(reference, rel=1e-5)


def test_bounds_identical_and_orthogonal_rows():
    same = np.tile(_unit_rows(1, 8, 0), (25, 1))
    assert vendi_score(same) == pytest.approx(1.0, abs=1e-5)  # float32 products: ~1e-6 round-off
    assert vendi_score(np.eye(10)) == pytest.approx(10.0, rel=1e-6)
    assert vendi_score(np.eye(10), q=0) == pytest.approx(10.0, rel=1e-6)  # counts non-zero eigenvalues


def test_rows_are_normalised_unless_told_otherwise():
    X = _unit_rows(40, 12, 3, clusters=3)
    scaled = X * np.linspace(0.5, 4.0, 40)[:, None]
    assert vendi_score(scaled) == pytest.approx(vendi_score(X), rel=1e-5)


def test_negative_q_is_rejected():
    with pytest.raises(ValueError, match="q"):
        vendi_score(np.eye(3), q=-1)


def test_distinct_n_counts_unique_ngrams_over_all_ngrams():
    texts = ["the cat sat", "the cat ran"]
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)  # the, cat, sat, ran
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)  # the cat (twice), cat sat, cat ran
    assert distinct_n([], 2) == 0.0


def _intent(domains: dict[str, list[str]]) -> Intent:
    return Intent(
        id="i",
        text="t",
        persona=Persona(
            id="p", name="n", role="r", industry="i", experience_level="e", communication_style="c", work_context="w"
        ),
        domains=[DomainSpec(name=d, tasks=[TaskSpec(name=t, description="x") for t in ts]) for d, ts in domains.items()],
        complexity="medium",
        seed=0,
        renderer=RendererInfo(model="m", prompt_version="v"),
    )


def test_domain_coverage_counts_intents_and_tasks_used():
    intents = [
        _intent({"File-IO": ["a", "b"]}),
        _intent({"File-IO": ["a"], "Multimedia": ["z"]}),
        _intent({"Multimedia": ["y"]}),
    ]
    cov = domain_coverage(intents, {"File-IO": 16, "Multimedia": 16, "Agent-Memory": 16})
    assert cov["File-IO"] == {"intents": 2, "share": round(2 / 3, 4), "tasks_used": 2, "tasks_total": 16}
    assert cov["Multimedia"]["tasks_used"] == 2
    assert cov["Agent-Memory"] == {"intents": 0, "share": 0.0, "tasks_used": 0, "tasks_total": 16}
