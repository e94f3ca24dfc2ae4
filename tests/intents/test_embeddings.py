"""Embedders load offline from their PyPI packages; a missing one is a clear, actionable error."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from ise_trace.errors import UserError
from ise_trace.intents import embeddings
from ise_trace.intents.embeddings import embed

TEXTS = [
    "Merge the three CSV exports in sales/ into one file with a single header row.",
    "Combine the CSV files from the sales folder into a single CSV, keeping one header.",
    "Draw an SVG bar chart of monthly rainfall and save it as rainfall.svg.",
]


def _check(X: np.ndarray, dim: int) -> None:
    assert X.shape == (3, dim) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    sims = X @ X.T
    assert sims[0, 1] > 0.7 > sims[0, 2]  # paraphrases close, unrelated far


def test_minilm_default_embeds_offline_into_unit_rows():
    _check(embed(TEXTS), 384)
    assert embed([]).shape == (0, 384)


def test_unknown_embedder_is_a_user_error():
    with pytest.raises(UserError, match="unknown embedder 'bert'.*minilm.*mpnet"):
        embed(TEXTS, model="bert")


def test_missing_paper_embedder_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("ISE_TRACE_CACHE", str(tmp_path))
    monkeypatch.setattr(embeddings, "MPNET_PARTS", ["ise-trace-no-such-package-001"] + embeddings.MPNET_PARTS[1:])
    with pytest.raises(UserError) as err:
        embed(TEXTS, model="mpnet")
    assert "ise-trace-no-such-package-001" in str(err.value)
    assert "pip install 'ise-trace[paper-embedder]'" in str(err.value) and "--embedder minilm" in str(err.value)


def _mpnet_installed() -> bool:
    try:
        for name in embeddings.MPNET_PARTS:
            importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _mpnet_installed(), reason="extra paper-embedder (all-mpnet-base-v2 parts) not installed")
def test_paper_embedder_joins_its_five_parts_and_embeds(monkeypatch, tmp_path):
    monkeypatch.setenv("ISE_TRACE_CACHE", str(tmp_path))
    embeddings.load_embedder.cache_clear()
    try:
        _check(embed(TEXTS, model="mpnet"), 768)
        assert (embeddings.mpnet_dir() / "model.safetensors").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-unpacked leftovers
    finally:
        embeddings.load_embedder.cache_clear()
