"""Shared set-up of the dataset tests: a synthetic run and the folder built from it."""

from __future__ import annotations

import os

import pytest

# Nothing here may reach a real hub; set before datasets/huggingface_hub are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from ise_trace.config import BUILD_PRESETS  # noqa: E402
from tests.dataset.synthetic import write_intents, write_run_dir  # noqa: E402

N_TRAJECTORIES = 60
N_INTENTS = 70  # ten intents without a trajectory (failed or not simulated yet)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("run") / "run", N_TRAJECTORIES, user_turns=None)


@pytest.fixture(scope="session")
def intents_file(tmp_path_factory):
    return write_intents(tmp_path_factory.mktemp("intents") / "intents.jsonl", N_INTENTS)


@pytest.fixture(scope="session")
def small_build():
    """Demo preset with shards small enough that the test corpus needs several."""
    return BUILD_PRESETS["demo"].model_copy(update={"max_shard_mb": 0.25, "vendi": False})


@pytest.fixture(scope="session")
def built(tmp_path_factory, run_dir, intents_file, small_build):
    from ise_trace.dataset.folder import build_folder

    out = tmp_path_factory.mktemp("built") / "ise-trace"
    return build_folder(small_build, out, run_dir=run_dir, intents_file=intents_file, show_progress=False)
