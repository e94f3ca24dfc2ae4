"""`ise-trace build` and `ise-trace stats` from the command line, including every bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from ise_trace.cli import main
from tests.dataset.synthetic import make_trajectory, write_run_dir


def _build(out, run_dir, *extra):
    return main(["build", "--config", "demo", "--out", str(out), "--run-dir", str(run_dir), "--no-vendi", "--quiet", *extra])


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def good_folder(tmp_path, run_dir):
    out = tmp_path / "ise-trace"
    assert _build(out, run_dir) == 0
    return out


def test_build_prints_what_it_wrote_and_how_to_load_it(tmp_path, run_dir, capsys):
    out = tmp_path / "ise-trace"
    assert _build(out, run_dir) == 0
    printed = capsys.readouterr().out
    assert "60 trajectories" in printed
    assert "load_dataset(" in printed
    assert (out / "README.md").exists()


def test_build_prints_its_last_progress_line_once(tmp_path, run_dir, capsys):
    out = tmp_path / "ise-trace"
    assert main(["build", "--config", "demo", "--out", str(out), "--run-dir", str(run_dir), "--no-vendi"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("build ")]
    assert lines and lines[-1].startswith("build 60/60 ok=60 failed=0"), lines
    assert sum(line.startswith("build 60/60") for line in lines) == 1, lines


def test_truncated_record_fails_with_its_line_and_leaves_the_old_folder_intact(tmp_path, good_folder, capsys):
    """A record cut short in the middle of a ledger is damage, not a crash's torn tail (which the
    record layer skips): the build stops at its line."""
    before = _snapshot(good_folder)
    bad = write_run_dir(tmp_path / "bad-run", 4, user_turns=1)
    ledger = bad / "trajectories.jsonl"
    cut = make_trajectory(9, user_turns=1).model_dump_json().encode()[:120]
    whole = make_trajectory(10, user_turns=1).model_dump_json().encode()
    ledger.write_bytes(ledger.read_bytes() + cut + b"\n" + whole + b"\n")
    assert _build(good_folder, bad) == 2
    err = capsys.readouterr().err
    assert f"{ledger}:5: " in err
    assert err.count("\n") == 1, "one clear message"
    assert _snapshot(good_folder) == before
    assert [p.name for p in good_folder.parent.iterdir() if p.name.startswith(".")] == []


def test_foreign_record_fails_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "trajectories.jsonl").write_text('{"prompt": "hi", "completion": "hello"}\n')
    out = tmp_path / "ise-trace"
    assert _build(out, bad) == 2
    assert "trajectories.jsonl:1: field" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [bad]


def test_missing_card_template_fails_before_any_work(tmp_path, run_dir, capsys):
    out = tmp_path / "ise-trace"
    missing = tmp_path / "nowhere" / "dataset_card.md"
    assert _build(out, run_dir, "--card-template", str(missing)) == 2
    err = capsys.readouterr().err
    assert f"{missing}: card template not found" in err
    assert not out.exists()


def test_card_template_with_an_unknown_value_names_the_template(tmp_path, run_dir, capsys):
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n{{ no_such_value }}\n")
    out = tmp_path / "ise-trace"
    assert _build(out, run_dir, "--card-template", str(template)) == 2
    err = capsys.readouterr().err
    assert f"{template}: card template uses unknown values no_such_value" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_card_template_that_does_not_parse_names_its_line(tmp_path, run_dir, capsys):
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n{% for x in %}\n")
    assert _build(tmp_path / "ise-trace", run_dir, "--card-template", str(template)) == 2
    assert f"{template}:4: card template does not parse" in capsys.readouterr().err


def test_empty_run_is_an_error_not_an_empty_dataset(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "trajectories.jsonl").write_text("")
    assert _build(tmp_path / "ise-trace", run) == 2
    assert "no trajectories yet" in capsys.readouterr().err


def test_unknown_preset_and_bad_override_are_config_errors(tmp_path, run_dir, capsys):
    assert main(["build", "--config", "huge", "--out", str(tmp_path / "o"), "--run-dir", str(run_dir)]) == 2
    assert "no such preset (demo, paper)" in capsys.readouterr().err
    assert _build(tmp_path / "o", run_dir, "--test-fraction", "1.5") == 2
    assert "field 'test_fraction'" in capsys.readouterr().err


def test_yaml_config_with_an_unknown_key_is_rejected(tmp_path, run_dir, capsys):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("n_intents: 5\nshard_size: 3\n")
    assert main(["build", "--config", str(cfg), "--out", str(tmp_path / "o"), "--run-dir", str(run_dir)]) == 2
    assert "field 'shard_size'" in capsys.readouterr().err


def test_rebuild_replaces_the_folder_whole(tmp_path, run_dir, good_folder):
    small = write_run_dir(tmp_path / "small-run", 3, user_turns=1)
    assert _build(good_folder, small) == 0
    from ise_trace.dataset.corpus_stats import stats_of

    assert stats_of(good_folder).trajectories == 3


def test_duplicate_records_in_the_ledger_are_built_once(tmp_path, capsys):
    run = write_run_dir(tmp_path / "run", 5, user_turns=1)
    ledger = run / "trajectories.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    ledger.write_text("".join(lines + lines[:2]))
    assert _build(tmp_path / "ise-trace", run) == 0
    assert "skipped 2 duplicate records" in capsys.readouterr().out


def test_stats_of_folder_and_of_run_agree(built, run_dir, capsys):
    assert main(["stats", str(built.out), "--json"]) == 0
    folder = json.loads(capsys.readouterr().out)
    assert main(["stats", str(run_dir), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    for key in ("trajectories", "user_turns", "dialogue_turns", "tool_calls", "unique_tools", "distinct_tools",
                "tool_call_counts", "tool_cooccurrence", "complexity_mix", "domain_counts", "outcome_counts"):
        assert folder[key] == run[key], key
    assert sum(folder["splits"].values()) == folder["trajectories"] == 60
    assert run["failures"] == 1


def test_stats_table_is_readable(built, capsys):
    assert main(["stats", str(built.out)]) == 0
    table = capsys.readouterr().out
    s = built.stats
    line = next(x for x in table.splitlines() if x.startswith("user turns mean / median / max"))
    assert line.split()[-5:] == [f"{s.user_turns.mean:.2f}", "/", f"{s.user_turns.median:g}", "/", str(s.user_turns.max)]
    assert "vendi (intents)" in table


def test_stats_of_something_else_says_what_to_give(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 2
    assert "neither a dataset folder" in capsys.readouterr().err


def test_stats_of_a_damaged_shard_names_the_file(tmp_path, built, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(built.out, copy)
    shard = next((copy / "data" / "trajectories").glob("train-*.parquet"))
    shard.write_bytes(b"not parquet")
    assert main(["stats", str(copy)]) == 2
    assert f"{shard}: not a readable parquet file" in capsys.readouterr().err


# --------------------------------------------------------------------------- the build runs the stages


def standin_episode_server():
    """A loopback stand-in OpenAI server for one-turn episodes: the agent (given tools) answers in
    text, the simulator opens with one request. What is tested is the orchestration, not dialogue."""
    from tests.llm.standin_server import Scripted, StandinServer, completion

    user_turn = json.dumps({"completed": False, "query": "List the files, please.", "reason": "start", "is_success": False})
    return StandinServer([lambda body: Scripted(completion("There are no files yet." if body.get("tools") else user_turn))])


def write_intents(path, n):
    from tests.simulate.scripted import make_intent

    path.write_text("".join(make_intent(f"stage-{k}", "List the files in the workspace.").model_dump_json() + "\n"
                            for k in range(n)))
    return path


@pytest.mark.docker
def test_build_without_a_run_simulates_the_intents_in_process_and_resumes(tmp_path, sandbox_image, capsys):
    intents = write_intents(tmp_path / "intents.jsonl", 2)
    out = tmp_path / "ise-trace"
    with standin_episode_server() as server:
        argv = ["build", "--config", "demo", "--out", str(out), "--intents", str(intents), "--no-vendi", "--quiet",
                "--backend", "openai", "--base-url", server.base_url, "--max-user-turns", "1"]
        assert main(argv) == 0
        assert "wrote" in capsys.readouterr().out and (out / "README.md").is_file()
        ledger = tmp_path / "ise-trace-runs" / "demo" / "run" / "trajectories.jsonl"
        assert len(ledger.read_text().splitlines()) == 2
        asked = len(server.requests)
        assert main(argv) == 0  # the rerun reuses the run: only the start-up check asks the model
        assert len(server.requests) == asked + 1
    assert len(ledger.read_text().splitlines()) == 2


def test_a_stage_that_fails_is_one_line_naming_the_stage(tmp_path, intents_file, capsys):
    closed = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    code = main(["build", "--config", "demo", "--out", str(tmp_path / "ds"), "--intents", str(intents_file),
                 "--backend", "openai", "--base-url", closed, "--quiet"])
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ise-trace build: error: stage `ise-trace simulate`: agent model at") and closed in line
    assert line.endswith("fix that, then rerun the same build: finished work is reused")
    assert not (tmp_path / "ds").exists()


def test_stats_of_a_folder_whose_trajectories_made_no_tool_call(tmp_path, small_build, capsys):
    # The demo's episodes can all end before the agent calls a tool; `ise-trace demo` then printed
    # a pyarrow traceback from the folder's statistics instead of its next steps.
    from ise_trace.dataset.folder import build_folder
    from tests.dataset.synthetic import write_run_dir

    run = write_run_dir(tmp_path / "run", 3, user_turns=1, calls_per_turn=-10)
    out = build_folder(small_build, tmp_path / "ds", run_dir=run, show_progress=False).out
    assert main(["stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["trajectories"] == 3 and stats["tool_calls"]["max"] == 0 and stats["unique_tools"]["max"] == 0
    card = (out / "README.md").read_text()
    assert "| Failed tool calls | n/a (no calls) |" in card  # not "0.0%" of nothing


def test_card_says_how_many_user_turns_were_templates(tmp_path, small_build, capsys):
    """drift_fallback: scripted sends template turns; the card must say so, with their share."""
    from ise_trace.dataset.folder import build_folder

    run = write_run_dir(tmp_path / "run", 4, user_turns=2)
    lines = (run / "trajectories.jsonl").read_text().splitlines()
    marked = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        record["stats"]["scripted_turns"] = 1 if i == 0 else 0
        marked.append(json.dumps(record))
    (run / "trajectories.jsonl").write_text("\n".join(marked) + "\n")
    out = build_folder(small_build, tmp_path / "ds", run_dir=run, show_progress=False).out
    card = (out / "README.md").read_text()
    assert "a template message built from the record" in card and "12.5% of user turns" in card
    assert main(["stats", str(out)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("user turns from a template"))
    assert line.endswith("12.5%")
    plain = build_folder(small_build, tmp_path / "ds2", run_dir=write_run_dir(tmp_path / "run2", 4, user_turns=2), show_progress=False).out
    assert "template message" not in (plain / "README.md").read_text()
