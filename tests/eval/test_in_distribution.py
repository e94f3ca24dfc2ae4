"""`ise-trace eval --tasks-from`: held-out ise-trace tasks, played in REAL sandboxes, scored by
their checks through the `eval/claw_eval` metric.

The model under test is a SCRIPTED stand-in OpenAI-compatible server on loopback
(tests/llm/standin_server.py): a scripted agent that runs the task's reference through the
`exec` tool, and one that answers without doing anything. Every test using it says "standin".
"""

from __future__ import annotations

import json

import pytest

from ise_trace.cli import main
from tests.llm.standin_server import Scripted, StandinServer, completion
from tests.simulate.scripted import make_intent
from tests.tasks.handmade import REFERENCE, task_intent

MODEL = "standin-model"


def _reference_agent(body):
    """Scripted agent: run the reference in the workspace once, then report; as the simulated
    user (its system prompt says so): open with the intent, then confirm the goal."""
    messages = body["messages"]
    if "You play a human USER" in messages[0]["content"]:
        opened = any(m["role"] == "assistant" for m in messages)
        verdict = ({"completed": True, "query": "Thanks, that is what I needed.", "reason": "totals checked",
                    "is_success": True} if opened else
                   {"completed": False, "query": "Please sum sales.csv per region into totals.csv (region,total).",
                    "reason": "first step", "is_success": False})
        return Scripted(completion(json.dumps(verdict)))
    if not any(m["role"] == "tool" for m in messages):
        call = {"id": "call_1", "type": "function",
                "function": {"name": "exec", "arguments": json.dumps({"command": REFERENCE})}}
        return Scripted(completion(None, [call], finish="tool_calls"))
    return Scripted(completion("I wrote totals.csv with the per-region totals (north 12.5, south 4.25)."))


def _idle_agent(body):
    return Scripted(completion("Sure, that sounds like a good plan."))


@pytest.fixture
def reference_server():
    with StandinServer([_reference_agent]) as server:
        yield server


@pytest.fixture
def idle_server():
    with StandinServer([_idle_agent]) as server:
        yield server


@pytest.fixture
def held_out_dataset(tmp_path):
    """A built dataset folder's intents config: two tasks (and an unverified intent) in `test`,
    one task in `train` that the eval must leave alone."""
    from ise_trace.dataset.features import intent_features, intent_row
    from ise_trace.dataset.shards import ShardedWriter

    folder = tmp_path / "dataset"
    writer = ShardedWriter(folder / "data" / "intents", intent_features(), 1 << 20)
    for intent in (task_intent("held-1"), task_intent("held-2"), make_intent("unverified")):
        writer.add("test", intent_row(intent))
    writer.add("train", intent_row(task_intent("seen-in-training")))
    writer.close()
    return folder


def _eval(server, tasks_from, out, *extra):
    return main(["eval", "--tasks-from", str(tasks_from), "--model-base-url", server.base_url, "--model", MODEL,
                 "--parallel", "1", "--out", str(out), *extra])


def _results(out):
    return json.loads((out / "results.json").read_text())


@pytest.mark.docker
def test_standin_agent_running_the_reference_scores_1(reference_server, held_out_dataset, tmp_path, sandbox_image):
    out = tmp_path / "reference"
    assert _eval(reference_server, held_out_dataset, out, "--trials", "2", "--label", "reference") == 0
    result = _results(out)
    m = result["metric"]
    assert result["tasks"] == ["held-1", "held-2"] and result["split"] == "test"  # train task not evaluated
    assert result["intents_without_task"] == 1
    assert (m["num_tasks"], m["num_trials"], m["num_errors"]) == (2, 4, 0)
    assert (m["pass@1"], m["pass@2"], m["pass^2"], m["completion"]) == (1.0, 1.0, 1.0, 1.0)
    assert all(t["passed"] and t["termination"] == "agent_stopped" and t["tool_calls"] == 1 for t in result["trials"])
    assert all(c["passed"] for t in result["trials"] for c in t["checks"])
    assert "# In-distribution eval: reference" in (out / "results.md").read_text()
    transcripts = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert len(transcripts) == 4
    assert [msg["role"] for msg in transcripts[0]["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert transcripts[0]["messages"][1]["content"] == task_intent().text  # the intent is the opening message

    # A rerun resumes: every trial is finished, so the model is not asked again.
    asked = len(reference_server.requests)
    assert _eval(reference_server, held_out_dataset, out, "--trials", "2", "--label", "reference") == 0
    assert len(reference_server.requests) == asked
    assert _results(out)["metric"]["pass@1"] == 1.0


@pytest.mark.docker
def test_standin_agent_that_does_nothing_scores_0(idle_server, held_out_dataset, tmp_path, sandbox_image):
    out = tmp_path / "idle"
    assert _eval(idle_server, held_out_dataset, out, "--trials", "2", "--label", "idle") == 0
    m = _results(out)["metric"]
    assert (m["pass@1"], m["pass@2"], m["pass^2"], m["num_errors"]) == (0.0, 0.0, 0.0, 0)
    assert m["completion"] == 0.5  # 'sales.csv untouched' holds, the totals do not
    assert all(t["tool_calls"] == 0 and not t["passed"] for t in _results(out)["trials"])
    assert "failed totals.csv parses with the right totals" in (out / "results.md").read_text()


@pytest.mark.docker
def test_compare_puts_in_distribution_runs_side_by_side(reference_server, idle_server, held_out_dataset, tmp_path,
                                                        capsys, sandbox_image):
    runs = {"reference": reference_server, "idle": idle_server}
    for label, server in runs.items():
        assert _eval(server, held_out_dataset, tmp_path / label, "--trials", "1", "--label", label) == 0
    capsys.readouterr()
    table = tmp_path / "table.md"
    assert main(["eval", "--compare", *(str(tmp_path / label / "results.json") for label in runs),
                 "--out", str(table)]) == 0
    text = table.read_text()
    assert "| reference | 2 | 1 | 100.0" in text and "| idle | 2 | 1 | 0.0" in text
    assert "different task sets" not in text
    assert text == capsys.readouterr().out


@pytest.mark.docker
def test_standin_agent_with_the_simulated_user_is_verified_by_the_checks(reference_server, tmp_path, sandbox_image):
    tasks = tmp_path / "intents.jsonl"
    tasks.write_text(task_intent("sim-1").model_dump_json(exclude_none=True) + "\n")
    out = tmp_path / "simulated"
    assert _eval(reference_server, tasks, out, "--trials", "1", "--simulate-user") == 0
    result = _results(out)
    assert result["simulate_user"] is True and result["user_model"] == MODEL
    (trial,) = result["trials"]
    assert trial["passed"] and trial["user_turns"] >= 1 and trial["termination"] == "user_completed", trial
    assert result["metric"]["pass@1"] == 1.0


@pytest.mark.parametrize("args, expected", [
    (["--tasks-from", "{tmp}/nope.jsonl"], "no such intents file or dataset folder"),
    (["--tasks-from", "{tmp}/untasked.jsonl"], "no executable task to evaluate"),
    (["--tasks-from", "{tmp}/untasked.jsonl", "--claw-eval-dir", "{tmp}"], "cannot be combined with --tasks-from"),
    (["--tasks-from", "{tmp}/tasks.jsonl", "--split", "test"], "carries no splits"),
    (["--tasks-from", "{tmp}/tasks.jsonl", "--user-model", "x"], "add --simulate-user"),
    (["--split", "test"], "applies to in-distribution runs only"),
    (["--tasks-from", "{tmp}/tasks.jsonl", "--model-base-url", "http://127.0.0.1:9/v1"], "no OpenAI-compatible server"),
])
def test_bad_in_distribution_inputs_are_one_line_and_exit_2(tmp_path, capsys, args, expected):
    (tmp_path / "untasked.jsonl").write_text(make_intent("plain").model_dump_json() + "\n")
    (tmp_path / "tasks.jsonl").write_text(task_intent().model_dump_json(exclude_none=True) + "\n")
    argv = ["eval", *[a.replace("{tmp}", str(tmp_path)) for a in args]]
    if "--model" not in argv:
        argv += ["--model", MODEL]
    if "--model-base-url" not in argv:
        argv += ["--model-base-url", "http://127.0.0.1:9/v1"]
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err


@pytest.mark.docker
@pytest.mark.slow
def test_standin_server_failing_makes_errored_trials_that_a_rerun_retries(reference_server, tmp_path, sandbox_image):
    tasks = tmp_path / "intents.jsonl"
    tasks.write_text(task_intent("flaky-1").model_dump_json(exclude_none=True) + "\n")
    out = tmp_path / "flaky"
    with StandinServer([Scripted({"error": {"message": "scripted failure"}}, status=500)]) as broken:
        assert _eval(broken, tasks, out, "--trials", "1") == 1  # errors make a non-zero exit
    (trial,) = _results(out)["trials"]
    assert trial["error"] and not trial["passed"] and trial["termination"] == "agent_error", trial
    assert _results(out)["metric"]["num_errors"] == 1
    assert "Errored trials" in (out / "results.md").read_text()
    # The same run against a server that answers: the errored trial is run again, the result replaced.
    assert _eval(reference_server, tasks, out, "--trials", "1") == 0
    (trial,) = _results(out)["trials"]
    assert trial["passed"] and trial["error"] is None
    assert len((out / "trials.jsonl").read_text().splitlines()) == 2  # the ledger keeps both attempts
