"""`ise-trace demo`, the README's main job, end to end: the embedded model, real sandboxes, a
dataset folder that `load_dataset` reads. Kept to one intent and one user turn so it fits CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_demo_writes_a_loadable_dataset_and_resumes(tmp_path, sandbox_image):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    cmd = [sys.executable, "-m", "ise_trace.cli", "demo", "--n-intents", "1", "--max-user-turns", "1"]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Next steps" in first.stdout and "load_dataset" in first.stdout
    folder = tmp_path / "ise-trace"
    assert (folder / "README.md").is_file()

    from datasets import load_dataset

    splits = load_dataset(str(folder))  # the intent's id hash decides its split
    rows = [row for split in splits.values() for row in split]
    assert len(rows) == 1
    row = rows[0]
    assert row["messages"][0]["role"] == "system"
    assert any(m["role"] == "user" for m in row["messages"])
    assert row["provenance"]["sandbox_image"].startswith("ise-trace-sandbox:")

    # A second run reuses everything: no intent is rendered or simulated again.
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    ledger = tmp_path / "ise-trace-runs" / "demo" / "run" / "trajectories.jsonl"
    assert len(ledger.read_text().splitlines()) == 1
