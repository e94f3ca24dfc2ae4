"""The append-only ledgers: whole records only, a torn tail cut away, finished intents found.

The policy itself (and SIGKILL) is tested in tests/records/.
"""

from __future__ import annotations

import json

import pytest

from ise_trace.errors import UserError
from ise_trace.simulate.ledger import FailureLedger, JsonlLedger, TrajectoryLedger


def _trajectory_line(traj_id: str, intent_id: str) -> str:
    # The prefix Trajectory.model_dump_json() writes; the body is irrelevant to the ledger.
    return json.dumps({"id": traj_id, "intent": {"id": intent_id, "text": "x"}}, separators=(",", ":"))


def test_append_writes_one_line_per_record(tmp_path):
    path = tmp_path / "t.jsonl"
    with JsonlLedger(path) as ledger:
        ledger.append('{"a":1}')
        ledger.append('{"a":2}')
    assert path.read_text() == '{"a":1}\n{"a":2}\n'


def test_torn_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(_trajectory_line("t1", "i1") + "\n" + '{"id":"t2","intent":{"id":"i2","te')
    with TrajectoryLedger(path) as ledger:
        assert ledger.dropped_bytes > 0
        assert ledger.finished_intents() == {"i1"}
        ledger.append(_trajectory_line("t3", "i3"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["intent"]["id"] for line in lines] == ["i1", "i3"]


def test_file_that_is_only_a_torn_line_becomes_empty(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"id":"t1","int' * 10000)  # longer than one scan block, no newline at all
    with TrajectoryLedger(path) as ledger:
        assert ledger.finished_intents() == set()
    assert path.read_bytes() == b""


def test_whole_file_is_left_alone(tmp_path):
    path = tmp_path / "t.jsonl"
    content = "".join(_trajectory_line(f"t{i}", f"i{i}") + "\n" for i in range(3))
    path.write_text(content)
    with TrajectoryLedger(path) as ledger:
        assert ledger.dropped_bytes == 0
        assert ledger.finished_intents() == {"i0", "i1", "i2"}
    assert path.read_text() == content


def test_finished_intents_reads_ids_with_escapes(tmp_path):
    path = tmp_path / "t.jsonl"
    with TrajectoryLedger(path) as ledger:
        ledger.append(_trajectory_line("t1", 'odd "id" \\ here'))
        assert ledger.finished_intents() == {'odd "id" \\ here'}


def test_a_corrupt_whole_line_names_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(_trajectory_line("t1", "i1") + "\nnot json at all\n")
    with TrajectoryLedger(path) as ledger, pytest.raises(UserError, match=r"t.jsonl:2: not valid JSON .*remove that line"):
        ledger.finished_intents()


def test_a_whole_last_record_without_its_newline_counts_and_gets_its_newline(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(_trajectory_line("t1", "i1") + "\n" + _trajectory_line("t2", "i2"))
    with TrajectoryLedger(path) as ledger:
        assert ledger.dropped_bytes == 0 and ledger.finished_intents() == {"i1", "i2"}
        ledger.append(_trajectory_line("t3", "i3"))
        assert ledger.finished_intents() == {"i1", "i2", "i3"}
    assert path.read_text().count("\n") == 3


def test_failure_ledger_counts_attempts_per_intent(tmp_path):
    with FailureLedger(tmp_path / "f.jsonl") as ledger:
        for intent_id, attempt in [("a", 1), ("b", 1), ("a", 2)]:
            ledger.append(json.dumps({"intent_id": intent_id, "attempt": attempt, "reason": "x", "termination": "agent_error"}))
        assert ledger.attempts() == {"a": 2, "b": 1}
