"""Reading run directories and intents files: every record validated, every bad line named."""

from __future__ import annotations

import json

import pytest

from ise_trace.dataset.ledger import LedgerError, RunDir, read_intents
from tests.dataset.synthetic import make_trajectory, write_intents, write_run_dir


def test_reads_every_trajectory_of_a_run_dir(tmp_path):
    run = RunDir(write_run_dir(tmp_path / "run", 5, user_turns=2))
    ids = [t.id for t in run.trajectories()]
    assert ids == [make_trajectory(i, user_turns=2).id for i in range(5)]
    assert run.failure_count() == 1
    assert run.run_info()["run_key"] == "synthetic"


def test_torn_last_line_is_skipped_with_a_warning_and_the_ledger_left_alone(tmp_path, caplog):
    # A crash mid-append, or a run still writing: the ledger as of its last finished append.
    run_dir = write_run_dir(tmp_path / "run", 3, user_turns=1)
    ledger = run_dir / "trajectories.jsonl"
    ledger.write_bytes(ledger.read_bytes() + make_trajectory(3, user_turns=1).model_dump_json().encode()[:200])
    before = ledger.read_bytes()
    with caplog.at_level("WARNING", logger="ise_trace.records"):
        assert len(list(RunDir(run_dir).trajectories())) == 3
    assert f"{ledger}:4: skipped a torn last line (200 bytes" in caplog.text
    assert ledger.read_bytes() == before


def test_complete_json_without_its_newline_is_a_whole_record(tmp_path):
    run_dir = write_run_dir(tmp_path / "run", 2, user_turns=1)
    ledger = run_dir / "trajectories.jsonl"
    ledger.write_bytes(ledger.read_bytes().rstrip(b"\n"))
    assert len(list(RunDir(run_dir).trajectories())) == 2


def test_foreign_record_names_the_line_and_the_field(tmp_path):
    run_dir = write_run_dir(tmp_path / "run", 3, user_turns=1)
    ledger = run_dir / "trajectories.jsonl"
    lines = ledger.read_text().splitlines()
    foreign = json.loads(lines[1])
    foreign["messages"][1]["role"] = "narrator"
    lines[1] = json.dumps(foreign)
    ledger.write_text("\n".join(lines) + "\n")
    with pytest.raises(LedgerError) as e:
        list(RunDir(run_dir).trajectories())
    assert f"{ledger}:2: field 'messages.1" in str(e.value)
    assert "not a trajectory as ise-trace writes them" in str(e.value) and "ise-trace simulate --out" in str(e.value)


def test_a_record_of_another_tool_is_foreign_not_truncated(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "trajectories.jsonl").write_text('{"conversation": [], "model": "x"}\n')
    with pytest.raises(LedgerError, match=r"trajectories.jsonl:1: field 'id': Field required .*not a trajectory as ise-trace writes them"):
        list(RunDir(run_dir).trajectories())


def test_garbage_line_in_the_middle_is_reported(tmp_path):
    run_dir = write_run_dir(tmp_path / "run", 3, user_turns=1)
    ledger = run_dir / "trajectories.jsonl"
    lines = ledger.read_text().splitlines()
    lines.insert(1, '{"id": "t-x", "intent": ')
    ledger.write_text("\n".join(lines) + "\n")
    with pytest.raises(LedgerError, match=r"trajectories.jsonl:2: not valid JSON \(EOF while parsing"):
        list(RunDir(run_dir).trajectories())


def test_missing_run_dir_and_missing_ledger_say_what_to_give(tmp_path):
    with pytest.raises(LedgerError, match="no such run directory"):
        RunDir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LedgerError, match="no trajectories.jsonl here"):
        RunDir(tmp_path / "empty")


def test_intents_file_is_validated_too(tmp_path):
    path = write_intents(tmp_path / "intents.jsonl", 4)
    assert len(list(read_intents(path))) == 4
    with path.open("a") as f:
        f.write('{"id": "x", "text": "hello"}\n')
    with pytest.raises(LedgerError, match=r"intents.jsonl:5: field 'persona': Field required .*ise-trace intents --out"):
        list(read_intents(path))
