"""`ise-trace simulate` as a user runs it: clear errors, and a real SIGKILL of a real run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ise_trace.schemas import Trajectory

from .scripted import make_intent

CLI = [sys.executable, "-m", "ise_trace.cli", "simulate"]


def _intents(tmp_path: Path, n: int) -> Path:
    texts = ["List the files in the workspace.", "Create hello.txt containing hi.", "Show the date.",
             "Make a folder named data.", "Print the kernel version.", "Count lines in /etc/hosts."]
    path = tmp_path / "intents.jsonl"
    path.write_text("".join(make_intent(f"cli-{k}", texts[k % len(texts)]).model_dump_json() + "\n" for k in range(n)))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_intents_file_names_file_line_and_field(tmp_path):
    good = make_intent("a").model_dump_json()
    bad = json.loads(make_intent("b").model_dump_json())
    bad["persona"].pop("name")
    path = tmp_path / "intents.jsonl"
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    p = subprocess.run([*CLI, "--intents", str(path), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"ise-trace simulate: error: {path}:2: field 'persona.name': Field required"
    ]
    assert not (tmp_path / "out").exists()


def test_bad_option_value_is_a_clear_error(tmp_path):
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"), "--max-user-turns", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "field 'max_user_turns'" in p.stderr


def test_unreachable_model_server_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"),
                        "--agent-backend", "openai", "--agent-base-url", url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    [line] = p.stderr.strip().splitlines()
    assert line.startswith("ise-trace simulate: error: agent model at") and "cannot reach" in line and url in line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_docker_not_available_is_one_clear_line(tmp_path, llm_server):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"),
                        "--agent-backend", "openai", "--agent-base-url", llm_server.base_url],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2
    [line] = p.stderr.strip().splitlines()
    assert "Docker engine does not answer" in line


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
@pytest.mark.docker
def test_sigkill_then_rerun_records_every_intent_exactly_once(tmp_path, llm_server, sandbox_image):
    """Kill a real `ise-trace simulate` with SIGKILL twice (during start-up, then mid-run), rerun it."""
    n = 3
    intents, out = _intents(tmp_path, n), tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"  # small budgets: what is tested is the ledger, not the dialogue
    recipe.write_text("simulate:\n  drift_regenerations: 1\n  agent_max_tokens: 40\n  user_max_tokens: 48\n")
    command = [*CLI, "--intents", str(intents), "--out", str(out), "--config", str(recipe), "--agent-backend", "openai",
               "--agent-base-url", llm_server.base_url, "--concurrency", "2", "--max-user-turns", "1",
               "--max-agent-steps", "2", "--max-tool-calls", "2", "--time-budget-s", "15", "--max-attempts", "2"]
    ledger = out / "trajectories.jsonl"

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    # 1: killed while starting up (models checked, workspaces starting, first episodes in flight).
    p = start()
    time.sleep(4)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    # 2: killed mid-run, right after a record was appended, with another episode in flight.
    before = len(_lines(ledger))
    p = start()
    deadline = time.monotonic() + 240
    while len(_lines(ledger)) <= before and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    killed_with = len(_lines(ledger))
    assert killed_with > before, "the mid-run kill came before any record was written"
    assert killed_with < n, "the run finished before it could be killed mid-way; use more intents"
    # 3: the rerun finishes the rest.
    p = start()
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err

    records = [Trajectory.model_validate_json(line) for line in _lines(ledger)]  # every line whole
    ids = [r.intent.id for r in records]
    assert sorted(ids) == [f"cli-{k}" for k in range(n)], "each intent exactly once"
    assert ledger.read_bytes().endswith(b"\n")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recorded"] == n and summary["missing"] == 0
    assert f"simulate: {n}/{n} recorded" in err
    # The killed runs' workspaces are gone (their daemons exit when our end of the pipe closes).
    pool_id = "sim-" + hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:8]
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=ise_trace.run={pool_id}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == []
