"""Each bad input stops the script before any model is loaded, with one clear message and exit code 2."""

from __future__ import annotations

import pytest

from .launch import ROOT, accelerate_launch, tiny_args


def _fails(train_script, capsys, argv, *needles) -> str:
    assert train_script.cli(argv) == 2
    err = capsys.readouterr().err
    messages = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(messages) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in messages[0], err
    return messages[0]


def test_recipe_with_an_unknown_key_names_file_line_and_key(train_script, tiny, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((ROOT / "sft/recipes/tiny-cpu.yaml").read_text() + "lerning_rate: 0.1\n")
    argv = tiny_args(tiny, tmp_path / "out")
    argv[1] = str(recipe)
    line = recipe.read_text().count("\n")
    _fails(train_script, capsys, argv, f"{recipe}:{line}: unknown key 'lerning_rate'", "did you mean 'learning_rate'")
    assert not (tmp_path / "out").exists()


def test_model_path_that_does_not_exist(train_script, tiny, tmp_path, capsys):
    argv = tiny_args(tiny, tmp_path / "out", "--model_name_or_path", str(tmp_path / "no-model"))
    _fails(train_script, capsys, argv, f"--model_name_or_path {tmp_path / 'no-model'}: no such folder")
    assert not (tmp_path / "out").exists()


def test_dataset_without_messages(train_script, tiny, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "intents-only"
    (folder / "data" / "trajectories").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "text": ["hello"]}), folder / "data/trajectories/train-00000-of-00001.parquet")
    argv = tiny_args(tiny, tmp_path / "out", "--dataset_name", str(folder))
    _fails(train_script, capsys, argv, "no 'messages' column", "columns: id, text")
    assert not (tmp_path / "out").exists()


def test_dataset_revision_that_does_not_exist_lists_the_tags(train_script, tiny, tmp_path, capsys, monkeypatch):
    """Against the stand-in Hub of tests/fixtures/hub_server.py, which answers as the Hub does."""
    from huggingface_hub import constants

    from tests.fixtures.hub_server import Blob, HubServer, Repo

    with HubServer(tokens=set()) as hub:
        repo = hub.state.repos[("dataset", "org/ise-trace")] = Repo("org/ise-trace", "dataset", private=False)
        commit = repo.add_commit("main", {"README.md": Blob(b"# ise-trace\n", lfs=False)}, "v1", "")
        repo.tags["v1.0.0"] = (commit.oid, "v1.0.0")
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        argv = tiny_args(tiny, tmp_path / "out", "--dataset_name", "org/ise-trace", "--dataset_revision", "v9.9.9")
        _fails(train_script, capsys, argv, "--dataset_revision v9.9.9: org/ise-trace has no such revision",
               "tags: v1.0.0; branches: main")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_accelerate_launch_exits_non_zero_with_the_message(tiny, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model_name_or_path: x\nmax_steps: 1\nwarmup: 3\n")
    proc = accelerate_launch("--config", str(recipe), "--output_dir", str(tmp_path / "out"))
    assert proc.returncode != 0
    assert f"error: {recipe}:3: unknown key 'warmup'" in proc.stderr
