"""Diversity of an intent corpus: Vendi score, Distinct-n, and coverage of the taxonomy.

The Vendi score of order q is exp of the Renyi entropy of the eigenvalues of K/n, K the cosine
kernel of the rows of X. K/n = X X^T / n shares its non-zero eigenvalues with X^T X / n, a d x d
matrix, so the score of 44,000 intents costs one matrix product and a 768 x 768 eigensolve
instead of an n x n kernel.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.linalg

from ..schemas import Intent

_WORD = re.compile(r"\w+")


def renyi_entropy(p: np.ndarray, q: float = 1.0) -> float:
    """Renyi entropy of order q of a probability vector (q=1: Shannon, q=inf: min-entropy)."""
    p = p[p > 0]
    if q == 1:
        return float(-(p * np.log(p)).sum())
    if math.isinf(q):
        return float(-np.log(p.max()))
    return float(np.log((p**q).sum()) / (1 - q))


def _row_normalised(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array of embeddings, got shape {X.shape}")
    squared = np.einsum("ij,ij->i", X, X)
    if np.allclose(squared, 1.0, atol=1e-5):  # embedders already give unit rows: skip a copy of X
        return X
    norms = np.sqrt(squared)[:, None]
    return X / np.where(norms > 0, norms, 1.0)


def vendi_score(X: np.ndarray, q: float = 1.0, normalize: bool = True) -> float:
    """Vendi score of the rows of X under the cosine kernel, of order q (q >= 0, or inf).

    Rows are L2-normalised first unless `normalize=False` (then they must already be unit
    vectors). Ranges from 1 (all rows alike) to min(n, d) (all orthogonal).
    """
    if q < 0:
        raise ValueError("the order q of the Vendi score must be >= 0")
    X = _row_normalised(X) if normalize else np.asarray(X, dtype=np.float32)
    n, d = X.shape
    if n == 0:
        return 0.0
    # The smaller Gram matrix has the same non-zero spectrum; float32 product, float64 eigensolve.
    gram = X.T @ X if d <= n else X @ X.T
    # LAPACK's relatively robust representations driver: the fastest for eigenvalues only.
    eigenvalues = scipy.linalg.eigvalsh(gram.astype(np.float64) / n, driver="evr")
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    # Round-off leaves tiny positive eigenvalues where the true ones are 0; they would count at q=0.
    eigenvalues[eigenvalues < eigenvalues.max() * 1e-9] = 0.0
    if eigenvalues.sum() == 0:  # only zero vectors: nothing to be diverse about
        return 0.0
    eigenvalues /= eigenvalues.sum()
    return float(np.exp(renyi_entropy(eigenvalues, q)))


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct-n: unique word n-grams over all word n-grams in the corpus (0 when there are none)."""
    total, unique = 0, set()
    for text in texts:
        words = _WORD.findall(text.lower())
        grams = list(zip(*(words[i:] for i in range(n))))
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def domain_coverage(intents: Sequence[Intent], tasks_per_domain: dict[str, int]) -> dict[str, dict[str, float | int]]:
    """Per domain: intents that include it, their share, and how many of its tasks appear at all."""
    intents_with: Counter[str] = Counter()
    tasks_seen: dict[str, set[str]] = {name: set() for name in tasks_per_domain}
    for intent in intents:
        for d in intent.domains:
            intents_with[d.name] += 1
            tasks_seen.setdefault(d.name, set()).update(t.name for t in d.tasks)
    total = len(intents)
    return {
        name: {
            "intents": intents_with[name],
            "share": round(intents_with[name] / total, 4) if total else 0.0,
            "tasks_used": len(tasks_seen[name]),
            "tasks_total": tasks_per_domain.get(name, len(tasks_seen[name])),
        }
        for name in tasks_seen
    }
