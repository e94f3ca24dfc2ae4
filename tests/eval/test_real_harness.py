"""Opt-in: the REAL Claw-Eval harness, when a checkout is named by CLAW_EVAL_DIR.

The checkout is not part of this repository and cannot be fetched during tests, so these run
only where a user has one (with the harness's dependencies, fastapi and uvicorn for its mock
services, importable by the Python running the tests or in the checkout's .venv). The model is
the scripted stand-in server on loopback; grading is the real task's rule-based grader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ise_trace.cli import main
from ise_trace.evaluation import load_checkout, select_tasks
from ise_trace.evaluation.tasks import describe_tasks

CHECKOUT = os.environ.get("CLAW_EVAL_DIR")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHECKOUT, reason="set CLAW_EVAL_DIR to a Claw-Eval checkout to test the real harness"),
]


def test_real_checkout_default_selection_is_offline_t_family():
    selection = select_tasks(load_checkout(CHECKOUT))
    assert selection.tasks and all(t.family == "T" and t.offline for t in selection.tasks)
    assert all(t.excluded_because for t in selection.excluded)
    live = [t for t in selection.excluded if "live web" in t.excluded_because]
    assert live, "the T family has live-web research tasks; none was recognised"


def test_real_checkout_judge_free_selection_is_the_rule_graded_t_tasks():
    checkout = load_checkout(CHECKOUT)
    free = select_tasks(checkout, "judge-free").tasks
    assert free and all(t.family == "T" and t.offline and not t.needs_judge for t in free)
    if checkout.commit() and checkout.commit().startswith("9365e1a"):  # the commit the docs describe
        assert describe_tasks(free) == "T039-T044, T086-T099"


def test_real_harness_grades_a_rule_based_task_against_the_scripted_model(model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkout = load_checkout(CHECKOUT)
    rule_based = [t for t in select_tasks(checkout).tasks if not t.needs_judge]
    task = rule_based[0]
    out = tmp_path / "run"
    rc = main(["eval", "--claw-eval-dir", CHECKOUT, "--model-base-url", model_server.base_url,
               "--model", "scripted-good", "--tasks", task.folder.name, "--trials", "1", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    trial = results["trials"][0]
    assert rc == 0, trial["error"]
    assert trial["error"] is None and trial["score"] is not None
    events = [json.loads(line) for line in Path(out / trial["trace"]).read_text().splitlines()]
    assert events[0]["type"] == "trace_start" and events[-1]["type"] == "grading_result"
    assert any(e["type"] == "tool_dispatch" for e in events)  # the scripted model called a mock service
