"""`ise-trace demo`, the README's main job, end to end: the embedded model, real sandboxes, a
dataset folder that `load_dataset` reads. Kept to one intent and one user turn so it fits CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    # The intent's task ran: with a task the checks decided (true/false); unverified: null.
    intent = row["intent"]
    assert (row["verification"]["passed"] is None) == (not intent["checks"])
    assert row["verification"]["snapshot"] or intent["workspace"] is None
    card = (folder / "README.md").read_text()
    assert "Intents with a validated executable task" in card and "Success, verified by the checks" in card

    # A second run reuses everything: no intent is rendered or simulated again.
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    ledger = tmp_path / "ise-trace-runs" / "demo" / "run" / "trajectories.jsonl"
    assert len(ledger.read_text().splitlines()) == 1

    # The next steps it prints run as printed (from the checkout, where sft/ lives).
    steps = [l.strip() for l in first.stdout.split("Next steps:")[1].splitlines() if l.strip()]
    chain = [l for l in steps if l.startswith(("python sft/tiny.py", "accelerate launch"))]
    assert len(chain) == 2, steps
    repo = Path(__file__).resolve().parents[1]
    bin_dir = Path(sys.executable).parent
    for line in chain:  # run where the demo ran (out/ is relative to it), with the checkout's sft/
        argv = line.split()
        argv[0] = sys.executable if argv[0] == "python" else str(bin_dir / argv[0])
        argv = [str(repo / a) if a.startswith("sft/") else a for a in argv]
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, (line, r.stderr[-3000:])
    assert (tmp_path / "out" / "demo-sft").is_dir()
