"""Fixtures of the SFT tests: a tiny random Qwen3 and a tiny ise-trace dataset, built locally, offline."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from .launch import OFFLINE, load_script


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> SimpleNamespace:
    """A tiny random Qwen3 (tokenizer included) and 8 trajectories, 6 of them successful."""
    model, dataset = load_script("tiny").make_tiny(tmp_path_factory.mktemp("tiny"), n=8)
    return SimpleNamespace(model=model, dataset=dataset)


@pytest.fixture(scope="session")
def train_script():
    return load_script("train")
