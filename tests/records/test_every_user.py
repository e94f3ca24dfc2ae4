"""Every reader and appender of JSONL files follows the one policy of `ise_trace.records`.

For each user: a torn last line (no newline, not JSON) is cut off by an appender and skipped by a
reader, with a warning; a bad line anywhere else is an error naming file:line.
"""

from __future__ import annotations

import json
import logging

import pytest

from ise_trace.dataset.ledger import RunDir, read_intents
from ise_trace.errors import UserError
from ise_trace.simulate.intents_file import load_intents
from ise_trace.simulate.ledger import FailureLedger, TrajectoryLedger
from tests.dataset.synthetic import make_intent, make_trajectory, write_run_dir

TORN = '{"id": "half-a-rec'


def _failure(intent_id: str, attempt: int) -> str:
    return json.dumps({"intent_id": intent_id, "attempt": attempt, "reason": "x", "termination": "agent_error"})


def _intents_file(tmp_path):
    path = tmp_path / "intents.jsonl"
    path.write_text("".join(make_intent(i).model_dump_json() + "\n" for i in range(2)))
    return path, lambda: [i.id for i in load_intents(path)], [make_intent(i).id for i in range(2)]


def _dataset_intents(tmp_path):
    path, _, ids = _intents_file(tmp_path)
    return path, lambda: [i.id for i in read_intents(path)], ids


def _dataset_trajectories(tmp_path):
    run = write_run_dir(tmp_path / "run", 2, user_turns=1)
    return run / "trajectories.jsonl", lambda: [t.id for t in RunDir(run).trajectories()], [
        make_trajectory(i, user_turns=1).id for i in range(2)
    ]


def _dataset_failures(tmp_path):
    run = write_run_dir(tmp_path / "run", 2, user_turns=1)
    (run / "failures.jsonl").write_text(_failure("a", 1) + "\n" + _failure("b", 1) + "\n")
    return run / "failures.jsonl", lambda: RunDir(run).failure_count(), 2


READERS = {
    "simulate --intents (load_intents)": _intents_file,
    "dataset intents (read_intents)": _dataset_intents,
    "dataset trajectories (RunDir)": _dataset_trajectories,
    "dataset failure count (RunDir)": _dataset_failures,
}


@pytest.mark.parametrize("user", READERS)
def test_readers_skip_a_torn_last_line_with_a_warning_and_leave_the_file(user, tmp_path, caplog):
    path, read, expected = READERS[user](tmp_path)
    path.write_bytes(path.read_bytes() + TORN.encode())
    before = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="ise_trace.records"):
        assert read() == expected
    assert f"{path}:3: skipped a torn last line" in caplog.text
    assert path.read_bytes() == before


@pytest.mark.parametrize("user", READERS)
def test_readers_stop_on_a_bad_line_elsewhere_naming_file_and_line(user, tmp_path):
    path, read, _ = READERS[user](tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + TORN.encode() + b"\n" + b"".join(lines[1:]))
    if user.startswith("dataset failure"):  # counting failures does not parse them
        assert read() == 3
        return
    with pytest.raises(UserError, match=rf"{path.name}:2: not valid JSON"):
        read()


APPENDERS = {
    "simulate trajectories": (TrajectoryLedger, lambda ledger: sorted(ledger.finished_intents()),
                              lambda i: make_trajectory(i, user_turns=1).model_dump_json()),
    "simulate failures": (FailureLedger, lambda ledger: ledger.attempts(), lambda i: _failure(f"i{i}", 1)),
}


@pytest.mark.parametrize("user", APPENDERS)
def test_ledgers_cut_a_torn_last_line_on_open_and_append_after_it(user, tmp_path, caplog):
    cls, state, line = APPENDERS[user]
    path = tmp_path / "ledger.jsonl"
    path.write_text(line(0) + "\n" + line(1) + "\n" + TORN)
    with caplog.at_level(logging.WARNING, logger="ise_trace.records"), cls(path) as ledger:
        assert ledger.dropped_bytes == len(TORN)
        before = state(ledger)
        ledger.append(line(2))
        after = state(ledger)
    assert "cut off a torn last line" in caplog.text
    assert path.read_text() == line(0) + "\n" + line(1) + "\n" + line(2) + "\n"
    assert len(after) == len(before) + 1 == 3


@pytest.mark.parametrize("user", APPENDERS)
def test_ledgers_stop_on_a_bad_line_elsewhere_naming_file_and_line(user, tmp_path):
    cls, state, line = APPENDERS[user]
    path = tmp_path / "ledger.jsonl"
    path.write_text(line(0) + "\n" + TORN + "\n" + line(1) + "\n")
    with cls(path) as ledger, pytest.raises(UserError, match=r"ledger.jsonl:2: not valid JSON .*remove that line"):
        state(ledger)
