"""The `datasets` GeneratorBasedBuilder in builder/ise_trace.py, used directly (datasets 4+)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ise_trace.config import BUILD_PRESETS
from ise_trace.dataset.features import intent_features, trajectory_features

BUILDER_FILE = Path(__file__).resolve().parents[2] / "builder" / "ise_trace.py"


@pytest.fixture(scope="module")
def builder_module():
    spec = importlib.util.spec_from_file_location("ise_trace_builder", BUILDER_FILE)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_builder_configs_carry_the_presets(builder_module):
    configs = {c.name: c for c in builder_module.IseTrace.BUILDER_CONFIGS}
    assert set(configs) == {"demo", "paper"}
    paper = configs["paper"].build_config()
    assert paper == BUILD_PRESETS["paper"]
    assert paper.n_intents == 50_000 and paper.max_user_turns == 23 and paper.embedder == "mpnet"


def test_builder_produces_the_same_rows_as_the_built_folder(builder_module, built, run_dir, tmp_path):
    from datasets import load_dataset

    builder = builder_module.IseTrace(config_name="demo", run_dir=str(run_dir), cache_dir=str(tmp_path / "b"))
    assert builder.info.features == trajectory_features()
    builder.download_and_prepare()
    direct = builder.as_dataset()
    folder = load_dataset(str(built.out), cache_dir=str(tmp_path / "f"))
    assert set(direct) == set(folder)
    for split in direct:
        assert sorted(direct[split]["id"]) == sorted(folder[split]["id"])
        by_id = {r["id"]: r for r in folder[split]}
        for row in direct[split]:
            assert row == by_id[row["id"]]


def test_builder_intents_subset_and_overrides(builder_module, run_dir, intents_file, tmp_path):
    builder = builder_module.IseTrace(
        config_name="demo", run_dir=str(run_dir), intents_file=str(intents_file), subset="intents",
        test_fraction=0.5, cache_dir=str(tmp_path / "b"),
    )
    assert builder.info.features == intent_features()
    assert builder.config.build_config().test_fraction == 0.5
    builder.download_and_prepare()
    ds = builder.as_dataset()
    assert sum(len(d) for d in ds.values()) == 70
    assert 20 < len(ds["test"]) < 50


@pytest.mark.docker
def test_builder_without_a_run_dir_runs_the_stages_through_the_orchestrator(builder_module, tmp_path, sandbox_image):
    from tests.dataset.test_build_cli import standin_episode_server, write_intents

    intents = write_intents(tmp_path / "intents.jsonl", 1)
    with standin_episode_server() as server:
        builder = builder_module.IseTrace(
            config_name="demo", intents_file=str(intents), work_dir=str(tmp_path / "work"), backend="openai",
            base_url=server.base_url, max_user_turns=1, cache_dir=str(tmp_path / "b"),
        )
        builder.download_and_prepare()
    rows = [row for split in builder.as_dataset().values() for row in split]
    assert [row["intent"]["id"] for row in rows] == ["stage-0"]
    assert (tmp_path / "work" / "run" / "trajectories.jsonl").is_file()
