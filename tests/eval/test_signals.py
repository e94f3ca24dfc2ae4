"""`ise-trace eval` stopped by a signal, with STAND-INS: the stand-in harness checkout
(tests/eval/standin_checkout) and the scripted stand-in model server, which holds T002's model
calls (`slow_phrases`) so that its trial is still running when the signal comes.

The eval runs as a real process, started as a user (or a batch system) would; the harness's
process group is read from /proc while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

T1 = "T001_fixture_notes_lookup"
T2 = "T002_fixture_notes_digest"


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, process group) of a live process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies only wait for a parent to reap them)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and stat[2] == pgid and stat[1] != "Z":
                members.append(int(entry.name))
    return members


def harness_group(eval_pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and stat[0] == eval_pid:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                if b"claw_eval" in cmdline and b"batch" in cmdline:
                    return stat[2]
    return None


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_standin_harness_ends_the_harness_group_and_writes_partial_results(
    stop_signal, standin_checkout, model_server, tmp_path
):
    out = tmp_path / "run"
    model_server.slow_phrases.add("Summarise what my notes say")
    argv = [sys.executable, "-m", "ise_trace.cli", "eval", "--claw-eval-dir", str(standin_checkout),
            "--model-base-url", model_server.base_url, "--model", "scripted-good",
            "--judge-model", "scripted-judge", "--trials", "1", "--parallel", "1", "--out", str(out)]
    # A shell starting a job in the background hands it SIGINT ignored; restore the default so
    # that the SIGINT case tests the eval, not this test's parent.
    eval_proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        log = out / "tasks" / T2 / "harness.log"
        wait_for(lambda: log.exists() and "service notes on port" in log.read_text(), 90, "T002's mock service")
        pgid = wait_for(lambda: harness_group(eval_proc.pid), 10, "the harness process")
        assert len(group_members(pgid)) >= 2  # the harness and its mock service
        eval_proc.send_signal(stop_signal)
        _, err = eval_proc.communicate(timeout=60)
    finally:
        model_server.slow_phrases.clear()
        if eval_proc.poll() is None:
            eval_proc.kill()
    wait_for(lambda: not group_members(pgid), 5, f"the harness group to end (left: {group_members(pgid)})")
    assert eval_proc.returncode == 128 + stop_signal, err
    assert "interrupted; rerun the same command to resume" in err
    assert "Traceback" not in err

    results = json.loads((out / "results.json").read_text())
    assert results["partial"] is True and results["stopped_because"] == "interrupted"
    assert [(t["task_id"], t["error"]) for t in results["trials"]] == [(T1, None)]  # T1 finished first
    assert results["metric"]["num_trials"] == 1
