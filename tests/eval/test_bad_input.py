"""Each bad input to `ise-trace eval` gets one clear error (exit 2) before any trial starts, and
nothing is written. Uses the stand-in harness checkout and the scripted stand-in model server."""

from __future__ import annotations

import shutil
import socket

import pytest

from ise_trace.cli import main


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def eval_args(checkout, url, *extra, model="scripted-good"):
    return ["eval", "--claw-eval-dir", str(checkout), "--model-base-url", url, "--model", model, *extra]


def expect_error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ise-trace eval: error: ")
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_no_checkout_is_one_clear_error(tmp_path, model_server, capsys):
    out = tmp_path / "out"
    expect_error(capsys, eval_args(tmp_path / "nowhere", model_server.base_url, "--out", str(out)),
                 "nowhere: no such folder", "claw-eval/claw-eval")
    assert not out.exists()


def test_wrong_folder_is_one_clear_error_with_a_hint_for_the_tasks_folder(tmp_path, standin_checkout, model_server, capsys):
    (tmp_path / "empty").mkdir()
    expect_error(capsys, eval_args(tmp_path / "empty", model_server.base_url), "not a Claw-Eval checkout")
    expect_error(capsys, eval_args(standin_checkout / "tasks", model_server.base_url),
                 "not a Claw-Eval checkout", f"pass its parent {standin_checkout}")


def test_checkout_without_harness_cli_is_one_clear_error(tmp_path, standin_checkout, model_server, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(standin_checkout, bare, ignore=shutil.ignore_patterns("src"))
    expect_error(capsys, eval_args(bare, model_server.base_url, "--tasks", "T001"),
                 "no harness CLI found", "--harness-cmd")


def test_harness_command_that_is_not_the_harness_is_one_clear_error(standin_checkout, model_server, capsys):
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--tasks", "T001",
                                   "--harness-cmd", "python3 -c pass"),
                 "is not the Claw-Eval CLI")


def test_model_server_down_is_one_clear_error(standin_checkout, tmp_path, capsys):
    out = tmp_path / "out"
    expect_error(capsys, eval_args(standin_checkout, closed_port_url(), "--tasks", "T001", "--out", str(out)),
                 "--model-base-url", "no OpenAI-compatible server answers", "ise-trace serve")
    assert not out.exists()


def test_model_not_served_is_one_clear_error(standin_checkout, model_server, capsys):
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--tasks", "T001", model="qwen3-8b"),
                 "--model qwen3-8b: not served", "scripted-good")


def test_judge_server_down_is_one_clear_error(standin_checkout, model_server, capsys):
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--judge-model", "j",
                                   "--judge-base-url", closed_port_url()),
                 "--judge-base-url", "no OpenAI-compatible server answers")


def test_tasks_needing_a_judge_without_one_is_one_clear_error(standin_checkout, model_server, tmp_path, capsys):
    out = tmp_path / "out"
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--out", str(out)),
                 "1 selected task(s) are graded with an LLM judge (T002_fixture_notes_digest)", "--judge-model",
                 "run the 1 rule-graded task(s) with --tasks judge-free (T001)")
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("T999", ["unknown task 'T999'"]),
        ("T001_fixture_notes_lookpu", ["unknown task 'T001_fixture_notes_lookpu'", "Did you mean T001_fixture_notes_lookup"]),
        ("T4-T1", ["range 'T4-T1' runs backwards"]),
        ("T50-T60", ["range 'T50-T60' matches no T-family task"]),
        ("T003_fixture_live_search", ["no runnable task selected", "needs the live web"]),
    ],
)
def test_unknown_or_unrunnable_task_selection_is_one_clear_error(standin_checkout, model_server, capsys, spec, needles):
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--tasks", spec), *needles)


def test_out_folder_of_another_model_is_refused(run_eval_cli, standin_checkout, model_server, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_eval_cli("--tasks", "T001", "--trials", "1", "--out", str(out)) == 0
    results = (out / "results.json").read_bytes()
    capsys.readouterr()
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--tasks", "T001", "--out", str(out),
                                   model="scripted-weak"),
                 "holds a run with model='scripted-good'", "pick a new --out")
    assert (out / "results.json").read_bytes() == results


def test_unknown_config_key_is_one_clear_error(standin_checkout, model_server, tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    config.write_text("eval:\n  trails: 3\n")
    expect_error(capsys, eval_args(standin_checkout, model_server.base_url, "--config", str(config)),
                 str(config), "field 'trails'")


def test_missing_required_flags_and_bad_compare_file(tmp_path, capsys):
    expect_error(capsys, ["eval", "--model", "m"], "missing --claw-eval-dir, --model-base-url")
    bad = tmp_path / "bad.json"
    bad.write_text('{"label": "x"}')
    expect_error(capsys, ["eval", "--compare", str(bad)], "not an `ise-trace eval` results file", "'metric'")
    expect_error(capsys, ["eval", "--compare", str(tmp_path / "none.json")], "no such results file")


def test_harness_error_with_a_traceback_is_shown_as_one_line():
    from ise_trace.evaluation.harness import one_line

    recorded = ("Service 'gmail' exited immediately (rc=1): Traceback (most recent call last):\n"
                '  File "mock_services/gmail/server.py", line 44, in _load_fixtures\n'
                "FileNotFoundError: [Errno 2] No such file or directory: 'inbox.json'\n")
    assert one_line(recorded) == ("Service 'gmail' exited immediately (rc=1): Traceback (most recent call last): ... "
                                  "FileNotFoundError: [Errno 2] No such file or directory: 'inbox.json'")
    assert one_line("HTTP Error 500") == "HTTP Error 500"
