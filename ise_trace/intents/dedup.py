"""Exact and near-duplicate removal over rendered intents.

Exact duplicates share their normalised text. Near duplicates have embedding cosine above a
threshold; the similarities come from blocked matrix products over the lower triangle (one
tile of a few thousand rows at a time, so 50,000 intents never need the 50,000^2 matrix), and
only the pairs above the threshold reach Python. In both cases the earlier intent is kept and a
later one is removed when it duplicates an intent that is itself kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """Case, accents-composition, punctuation and spacing folded away."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class Removal:
    index: int  # position of the removed text in the input
    kind: Literal["exact", "near"]
    duplicate_of: int  # position of the kept text it duplicates
    similarity: float  # 1.0 for exact duplicates


def exact_duplicates(texts: Sequence[str]) -> list[Removal]:
    first: dict[str, int] = {}
    removed = []
    for i, text in enumerate(texts):
        j = first.setdefault(normalise_text(text), i)
        if j != i:
            removed.append(Removal(i, "exact", j, 1.0))
    return removed


def similar_pairs(X: np.ndarray, threshold: float, block: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i, j) with j < i and X[i] . X[j] > threshold, as arrays (i, j, similarity).

    X must hold unit rows. Work is one float32 matrix product per lower-triangle tile.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    rows, cols, sims = [], [], []
    for a in range(0, n, block):
        b = min(a + block, n)
        for c in range(0, b, block):
            e = min(c + block, n)
            tile = X[a:b] @ X[c:e].T
            if c == a:
                np.fill_diagonal(tile, -np.inf)  # a row is not its own duplicate
            # Most rows of a tile have no partner: find the few that do before scanning cells.
            hit_rows = np.flatnonzero(tile.max(axis=1) > threshold)
            i, j = np.nonzero(tile[hit_rows] > threshold)
            i = hit_rows[i]
            if c == a:  # the diagonal tile holds each pair twice; keep j < i
                i, j = i[j < i], j[j < i]
            if i.size:
                rows.append(i + a)
                cols.append(j + c)
                sims.append(tile[i, j])
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def near_duplicates(X: np.ndarray, threshold: float, block: int = 4096) -> list[Removal]:
    """Greedy in input order: row i goes when it is above `threshold` with an earlier kept row."""
    i, j, sim = similar_pairs(X, threshold, block)
    if not i.size:
        return []
    order = np.lexsort((-sim, i))  # by row, most similar partner first
    i, j, sim = i[order], j[order], sim[order]
    kept = np.ones(X.shape[0], dtype=bool)
    removed = []
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
    # Only rows that have a partner above the threshold are visited, in input order.
    for lo, hi in zip(starts, np.r_[starts[1:], i.size]):
        live = kept[j[lo:hi]]
        if live.any():
            first = lo + int(np.argmax(live))
            kept[i[lo]] = False
            removed.append(Removal(int(i[lo]), "near", int(j[first]), float(sim[first])))
    return removed


def deduplicate(
    texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], threshold: float
) -> tuple[list[int], list[Removal], np.ndarray]:
    """Exact then near dedup. Returns the kept positions, the removals (sorted by position) and
    the embeddings of the kept texts (rows in the order of the kept positions)."""
    exact = exact_duplicates(texts)
    gone = {r.index for r in exact}
    survivors = [i for i in range(len(texts)) if i not in gone]
    X = embed([texts[i] for i in survivors]) if survivors else np.zeros((0, 1), dtype=np.float32)
    near = [
        Removal(survivors[r.index], "near", survivors[r.duplicate_of], r.similarity)
        for r in near_duplicates(X, threshold)
    ]
    gone_near = {r.index for r in near}
    keep_mask = [i not in gone_near for i in survivors]
    kept = [i for i, k in zip(survivors, keep_mask) if k]
    return kept, sorted(exact + near, key=lambda r: r.index), X[np.array(keep_mask, dtype=bool)]
