"""Exact and near-duplicate removal, with real all-MiniLM-L6-v2 embeddings where texts are involved."""

from __future__ import annotations

import numpy as np
import pytest

from ise_trace.intents.dedup import deduplicate, exact_duplicates, near_duplicates, normalise_text, similar_pairs
from ise_trace.intents.embeddings import embed


def test_exact_duplicates_ignore_case_spacing_and_punctuation():
    texts = [
        "Merge north.csv and south.csv, please!",
        "merge  north csv and south csv please",
        "Merge north.csv and east.csv, please!",
        "MERGE NORTH.CSV AND SOUTH.CSV -- PLEASE",
    ]
    removed = exact_duplicates(texts)
    assert [(r.index, r.duplicate_of, r.kind) for r in removed] == [(1, 0, "exact"), (3, 0, "exact")]
    assert normalise_text("Ｍerge\tTHE  files.") == "merge the files"


def test_blocked_similar_pairs_equal_the_brute_force_pairs():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 24))
    X = np.vstack([base, base[rng.integers(40, size=260)] + 0.15 * rng.normal(size=(260, 24))])
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    full = X @ X.T
    want = {(i, j) for i in range(len(X)) for j in range(i) if full[i, j] > 0.9}
    assert len(want) > 100
    for block in (7, 64, 4096):  # tiles that split rows unevenly, and one tile for all
        i, j, sim = similar_pairs(X, 0.9, block=block)
        assert set(zip(i.tolist(), j.tolist())) == want
        assert np.allclose(sim, full[i, j], atol=1e-5)


def test_near_dedup_is_greedy_against_kept_rows_only():
    # a ~ b and b ~ c, but a and c are far apart: b goes (duplicate of a), c stays.
    angle = np.deg2rad([0.0, 20.0, 40.0])
    X = np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
    removed = near_duplicates(X, threshold=0.9)  # cos 20 deg = 0.94, cos 40 deg = 0.77
    assert [(r.index, r.duplicate_of) for r in removed] == [(1, 0)]
    assert removed[0].similarity == pytest.approx(np.cos(np.deg2rad(20.0)), abs=1e-5)


def test_near_duplicates_found_with_real_minilm_embeddings():
    texts = [
        "Please merge the three CSV exports in sales/ into one file called sales_2024.csv with a single header.",
        "Please merge the three CSV exports in sales/ into a single file named sales_2024.csv with one header.",
        "Write a crontab entry that runs backup.sh every night at 2am and logs to /var/log/backup.log.",
        "Draw an SVG bar chart of monthly rainfall from rainfall.csv and save it as rainfall.svg.",
        "Merge the three CSV exports in sales/ into one file, sales_2024.csv, keeping only one header row!",
        "PLEASE merge the three CSV exports in sales/ into one file called sales_2024.csv -- with a single header",
    ]
    X = embed(texts)
    assert X.shape == (6, 384)
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    kept, removed, kept_X = deduplicate(texts, embed, threshold=0.9)
    assert kept == [0, 2, 3]
    assert {(r.index, r.kind, r.duplicate_of) for r in removed} == {(1, "near", 0), (4, "near", 0), (5, "exact", 0)}
    assert np.allclose(kept_X, X[kept], atol=1e-5)
    assert all(r.similarity > 0.9 for r in removed)


def test_deduplicate_handles_no_texts():
    kept, removed, X = deduplicate([], embed, threshold=0.9)
    assert kept == [] and removed == [] and len(X) == 0
