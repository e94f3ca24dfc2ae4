"""`ise-trace eval` driven end to end against STAND-INS: a stand-in harness CLI in a fixture
checkout (tests/eval/standin_checkout, the harness's task and trace formats) and a scripted
stand-in model server (a real OpenAI-compatible HTTP server on loopback). The last test swaps
the scripted server for the real embedded model server (`llm_server`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ise_trace.cli import main

T1 = "T001_fixture_notes_lookup"
T2 = "T002_fixture_notes_digest"


def load(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def graded_traces(out: Path, task: str) -> dict[Path, bytes]:
    """Every trace of the task that ends in a grading_result, with its bytes."""
    return {
        p: p.read_bytes() for p in (out / "tasks" / task).rglob("*.jsonl")
        if '"grading_result"' in p.read_text().splitlines()[-1]
    }


def test_driver_with_standin_harness_runs_default_selection_in_parallel_and_scores_it(run_eval_cli, tmp_path, capsys):
    """Default selection (offline T family), 2 trials on 2 port slots, judge on the same server."""
    out = tmp_path / "run"
    rc = run_eval_cli("--judge-model", "scripted-judge", "--trials", "2", "--parallel", "2", "--out", str(out))
    assert rc == 0, capsys.readouterr().err
    r = load(out)
    assert r["tasks"] == [T1, T2]
    excluded = {e["task_id"]: e["reason"] for e in r["excluded"]}
    assert set(excluded) == {"T003_fixture_live_search", "T004_fixture_shell_task"}  # C01 is not T family
    assert "live web" in excluded["T003_fixture_live_search"]
    assert "Docker sandbox" in excluded["T004_fixture_shell_task"]

    m = r["metric"]
    assert (m["num_tasks"], m["num_trials"], m["num_errors"]) == (2, 4, 0)
    assert m["pass@1"] == 1.0 and m["pass^2"] == 1.0
    assert m["per_task"][T1]["completion"] == 1.0
    assert m["per_task"][T2]["completion"] == 0.9  # the judge's score
    assert m["completion"] == 0.95
    assert set(m["per_category"]) == {"knowledge", "communication"}

    for trial in r["trials"]:
        events = [json.loads(line) for line in (out / trial["trace"]).read_text().splitlines()]
        assert events[0]["type"] == "trace_start" and events[-1]["type"] == "grading_result"
        assert trial["score"] == events[-1]["task_score"]
    logs = "".join(p.read_text() for p in (out / "tasks").rglob("harness.log"))
    ports = {int(p) for p in re.findall(r"on port (\d+)", logs)}
    assert len(ports) == 2 and max(ports) - min(ports) == 50  # two slots, the harness's stride

    md = (out / "results.md").read_text()
    assert "| scripted-good | 2 | 2 | 100.0 [100.0, 100.0] |" in md
    assert "T003_fixture_live_search: needs the live web" in md
    assert "| scripted-good |" in capsys.readouterr().out


def test_driver_with_standin_harness_resumes_without_rerunning_finished_trials(run_eval_cli, model_server, tmp_path):
    out = tmp_path / "run"
    before = model_server.requests["scripted-good"]
    assert run_eval_cli("--tasks", "T001", "--trials", "1", "--out", str(out)) == 0
    per_trial = model_server.requests["scripted-good"] - before  # tool call + answer
    assert per_trial == 2
    first = graded_traces(out, T1)
    assert len(first) == 1

    # More trials: only the new ones run; the finished trace is untouched.
    assert run_eval_cli("--tasks", "T001", "--trials", "3", "--out", str(out)) == 0
    assert model_server.requests["scripted-good"] - before == 3 * per_trial
    three = graded_traces(out, T1)
    assert len(three) == 3 and all(three[p] == data for p, data in first.items())
    assert load(out)["metric"]["num_trials"] == 3

    # A trial cut short (its grading_result never written) is run again, and only that one.
    cut = sorted(set(three) - set(first))[0]
    cut.write_text("".join(cut.read_text().splitlines(keepends=True)[:-1]))
    assert run_eval_cli("--tasks", "T001", "--trials", "3", "--out", str(out)) == 0
    assert model_server.requests["scripted-good"] - before == 4 * per_trial
    after = graded_traces(out, T1)
    assert len(after) == 3 and cut not in after
    assert all(after[p] == three[p] for p in three if p != cut)

    # Nothing left to do: no model call at all.
    assert run_eval_cli("--tasks", "T001", "--trials", "3", "--out", str(out)) == 0
    assert model_server.requests["scripted-good"] - before == 4 * per_trial


def test_driver_with_standin_harness_counts_errored_trials_and_retries_them_on_rerun(
    run_eval_cli, model_server, tmp_path
):
    """The scripted server fails every request of T002; those trials are errors, then rerun."""
    out = tmp_path / "run"
    model_server.broken_phrases.add("Summarise what my notes say")
    try:
        rc = run_eval_cli("--judge-model", "scripted-judge", "--trials", "2", "--parallel", "1", "--out", str(out))
    finally:
        model_server.broken_phrases.clear()
    assert rc == 1  # finished, with errors
    r = load(out)
    assert r["metric"]["num_errors"] == 2 and r["metric"]["num_error_tasks"] == 1
    assert r["metric"]["pass@1"] == 0.5  # T002 counts as failed
    errors = [t for t in r["trials"] if t["error"]]
    assert {t["task_id"] for t in errors} == {T2}
    assert "HTTP Error 500" in errors[0]["error"]  # the harness's own record of the failure
    assert "Errored trials" in (out / "results.md").read_text()

    assert run_eval_cli("--judge-model", "scripted-judge", "--trials", "2", "--out", str(out)) == 0
    r = load(out)
    assert r["metric"]["num_errors"] == 0 and r["metric"]["pass@1"] == 1.0


def test_driver_with_standin_harness_stops_early_when_the_first_tasks_get_no_grade(run_eval_cli, tmp_path, capsys):
    out = tmp_path / "run"
    rc = run_eval_cli("--tasks", "T001,C01_fixture_chat", "--trials", "2", "--parallel", "1", "--out", str(out),
                      model="scripted-broken")
    assert rc == 2
    err = capsys.readouterr().err
    assert "the harness graded no trial of the first 1 task(s)" in err and "HTTP Error 500" in err
    assert (out / "tasks" / "C01_fixture_chat" / "harness.log").exists()
    assert not (out / "tasks" / T1).exists()  # never started
    # The stop still leaves its results: the errored trials, marked partial, with the reason.
    r = load(out)
    assert r["partial"] is True and "graded no trial" in r["stopped_because"]
    assert [t["task_id"] for t in r["trials"]] == ["C01_fixture_chat", "C01_fixture_chat"]
    assert r["metric"]["num_errors"] == 2
    assert "Partial results" in (out / "results.md").read_text()


def test_compare_with_standin_harness_results_places_models_side_by_side(run_eval_cli, tmp_path, capsys):
    good, weak = tmp_path / "good", tmp_path / "weak"
    assert run_eval_cli("--tasks", "T001", "--trials", "2", "--out", str(good)) == 0
    assert run_eval_cli("--tasks", "T001", "--trials", "2", "--out", str(weak), "--label", "weak model",
                        model="scripted-weak") == 0
    capsys.readouterr()
    table_file = tmp_path / "table.md"
    assert main(["eval", "--compare", str(good / "results.json"), str(weak / "results.json"),
                 "--out", str(table_file)]) == 0
    table = capsys.readouterr().out
    assert table == table_file.read_text()
    lines = table.splitlines()
    assert lines[0] == "| Model | Tasks | Trials | pass@1 | pass^2 | Completion | Robustness | Errors |"
    assert lines[2].startswith("| scripted-good | 1 | 2 | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] | 100.0")
    assert lines[3].startswith("| weak model | 1 | 2 | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | 0.0")
    assert "different task sets" not in table


def test_dry_run_with_standin_checkout_lists_plan_and_starts_nothing(run_eval_cli, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_eval_cli("--tasks", "T1-4,C01_fixture_chat", "--judge-model", "scripted-judge",
                        "--dry-run", "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert "3 task(s) x 3 trial(s)" in err
    assert f"run   {T2} (communication, judge)" in err
    assert "run   C01_fixture_chat" in err
    assert "skip  T003_fixture_live_search: needs the live web" in err
    assert not out.exists()


@pytest.mark.slow
def test_driver_with_standin_harness_against_the_real_embedded_model_server(standin_checkout, llm_server, tmp_path,
                                                                            monkeypatch):
    """The real local model server (llama-cpp, SmolLM2-135M) passes the start-up check and
    drives a trial through the stand-in harness to a grade (its quality is not the point)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "run"
    rc = main(["eval", "--claw-eval-dir", str(standin_checkout), "--model-base-url", llm_server.base_url,
               "--model", llm_server.model, "--tasks", "T001", "--trials", "1", "--out", str(out)])
    trial = load(out)["trials"][0]
    assert rc == 0, trial["error"]
    assert trial["error"] is None and 0.0 <= trial["score"] <= 1.0
    events = [json.loads(line) for line in (out / trial["trace"]).read_text().splitlines()]
    assert any(e["type"] == "message" and e["message"]["role"] == "assistant" for e in events)


@pytest.mark.slow
def test_context_too_small_with_standin_harness_on_the_real_embedded_server_says_what_to_do(
    standin_checkout, tmp_path, capsys, monkeypatch
):
    """The real embedded server, started with a context smaller than a task's first prompt (as
    4,096 tokens is for Claw-Eval's T039, 5,267), answers HTTP 400 (context length exceeded)
    through the stand-in harness; the eval stops with one line naming `ise-trace serve --n-ctx`,
    and keeps the errored trial as partial results."""
    import shutil

    from ise_trace.config import LLMConfig
    from ise_trace.llm.server import ModelServer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkout = tmp_path / "claw-eval"
    shutil.copytree(standin_checkout, checkout)
    task_yaml = checkout / "tasks" / T1 / "task.yaml"
    long_prompt = "Where is the team offsite? " + "Please check every note, including the old ones. " * 40
    task_yaml.write_text(task_yaml.read_text().replace(
        '"Where is the team offsite? Look it up in my notes."', json.dumps(long_prompt)))
    out = tmp_path / "run"
    # 256: llama.cpp rounds smaller contexts up to it.
    with ModelServer("llama-cpp", host="127.0.0.1", config=LLMConfig(n_ctx=256, n_threads=1),
                     log_path=tmp_path / "server.log") as server:
        rc = main(["eval", "--claw-eval-dir", str(checkout), "--model-base-url", server.base_url,
                   "--model", server.model, "--tasks", "T001,C01_fixture_chat", "--parallel", "1",
                   "--trials", "1", "--out", str(out)])
    assert rc == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("ise-trace eval: error: the model server at ")
    assert f"has too small a context for {T1}" in line
    # 645 prompt tokens plus the server's default cap of 1,024 for the reply: 1,669; next power of two.
    assert "(1,669 tokens needed, 256 available)" in line
    assert "`ise-trace serve --n-ctx 2048`" in line and "larger context" in line
    r = load(out)
    assert r["partial"] is True and "too small a context" in r["stopped_because"]
    errors = [t["error"] for t in r["trials"] if t["error"]]
    assert len(errors) == 1 and "maximum context length is 256 tokens" in errors[0]
