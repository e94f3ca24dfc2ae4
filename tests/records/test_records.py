"""The record layer on real files: the one repair policy, errors that name file:line, durable appends."""

from __future__ import annotations

import itertools
import json
import logging
import os

import pytest

from ise_trace import records
from ise_trace.errors import UserError
from ise_trace.records import Appender, RecordError
from tests.dataset.synthetic import make_intent, make_trajectory
from ise_trace.schemas import Intent, Trajectory


def _write(path, *lines: str, tail: str = "") -> bytes:
    data = "".join(line + "\n" for line in lines).encode() + tail.encode()
    path.write_bytes(data)
    return data


def test_records_come_back_as_models_or_dicts_with_their_line_numbers(tmp_path):
    path = tmp_path / "t.jsonl"
    with Appender(path) as out:
        out.append(make_trajectory(0), make_trajectory(1))  # one batch: one write
        out.append('{"id":"raw"}')
    assert [(n, t.id) for n, t in itertools.islice(records.read(path, Trajectory, fix=""), 2)] == [
        (1, make_trajectory(0).id), (2, make_trajectory(1).id)
    ]
    with pytest.raises(RecordError, match=r"t.jsonl:3: field 'intent': Field required \(and \d+ more problems\)"):
        list(records.read(path, Trajectory, fix=""))
    assert [n for n, _ in records.read(path)] == [1, 2, 3]
    assert path.read_bytes().count(b"\n") == 3


def test_torn_last_line_is_skipped_by_a_reader_and_the_file_left_alone(tmp_path, caplog):
    path = tmp_path / "t.jsonl"
    whole = make_intent(1).model_dump_json()
    before = _write(path, make_intent(0).model_dump_json(), tail=whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING, logger="ise_trace.records"):
        got = [i.id for _, i in records.read(path, Intent)]
    assert got == [make_intent(0).id]
    assert path.read_bytes() == before
    assert f"{path}:2: skipped a torn last line" in caplog.text


def test_torn_last_line_is_cut_on_open_for_append_and_logged(tmp_path, caplog):
    path = tmp_path / "t.jsonl"
    first = json.dumps({"n": 0})
    _write(path, first, tail='{"n": 1, "pay')
    with caplog.at_level(logging.WARNING, logger="ise_trace.records"), Appender(path) as out:
        assert out.dropped_bytes == len('{"n": 1, "pay')
        out.append({"n": 2})
    assert path.read_text() == first + '\n{"n":2}\n'
    assert f"{path} (from byte {len(first) + 1}): cut off a torn last line (13 bytes" in caplog.text


def test_a_whole_record_without_its_newline_is_kept_and_the_newline_added(tmp_path, caplog):
    path = tmp_path / "t.jsonl"
    _write(path, '{"n": 0}', tail='{"n": 1}')  # e.g. a hand-edited file
    assert [r["n"] for _, r in records.read(path)] == [0, 1]
    with caplog.at_level(logging.WARNING), Appender(path) as out:
        assert out.dropped_bytes == 0
        out.append({"n": 2})
    assert [r["n"] for _, r in records.read(path)] == [0, 1, 2]
    assert caplog.text == ""


def test_a_file_that_is_one_torn_line_longer_than_a_scan_block_becomes_empty(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"id":"t1","int' * 10000)
    assert list(records.read(path)) == []
    with Appender(path) as out:
        assert out.dropped_bytes == 150000
    assert path.read_bytes() == b""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"n": 0}\nnot json\n{"n": 2}\n', r"t.jsonl:2: not valid JSON \(Expecting value at column 1\); DO THIS"),
        ('{"n": 0}\n{"n": 1, "cut\n{"n": 2}\n', r"t.jsonl:2: not valid JSON .*; DO THIS"),
        ('{"n": 0}\n{"n": 1, "cut\n', r"t.jsonl:2: not valid JSON"),  # has its newline: not a torn tail
        ('{"n": 0}\n[1, 2]\n', r"t.jsonl:2: expected a JSON object per line, found list; DO THIS"),
        ('{"n": 0}\n\n\n"text"', r"t.jsonl:4: expected a JSON object per line"),  # parses: not torn
        (b'{"n": 0}\n{"n": "\xff"}\n', r"t.jsonl:2: not valid JSON"),
    ],
)
def test_any_other_bad_line_is_an_error_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "t.jsonl"
    data = content if isinstance(content, bytes) else content.encode()
    data = data.replace(b'{"n": 0}', make_intent(0).model_dump_json().encode())  # line 1: a good record
    path.write_bytes(data)
    with pytest.raises(RecordError, match=message) as e:
        list(records.read(path, fix="DO THIS"))
    assert isinstance(e.value, UserError)  # the CLI prints it as one line, exit 2
    with pytest.raises(RecordError, match=message.split(" ")[0]):  # typed reads: the same lines
        list(records.read(path, Intent, fix="DO THIS"))
    with Appender(path):  # an appender never cuts a bad line that is not a torn tail
        pass
    assert path.read_bytes() == (data if data.endswith(b"\n") else data + b"\n")  # it parses: a record


def test_a_record_of_another_shape_names_its_field(tmp_path):
    path = tmp_path / "intents.jsonl"
    bad = json.loads(make_intent(1).model_dump_json())
    del bad["persona"]["name"]
    _write(path, make_intent(0).model_dump_json(), json.dumps(bad))
    with pytest.raises(RecordError, match=r"intents.jsonl:2: field 'persona.name': Field required$"):
        list(records.read(path, Intent, fix=""))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(RecordError, match=r"nope.jsonl: no such file"):
        list(records.read(tmp_path / "nope.jsonl"))
    assert list(records.read(tmp_path / "nope.jsonl", missing_ok=True)) == []
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(RecordError, match=r"dir.jsonl: cannot read it"):
        list(records.read(tmp_path / "dir.jsonl"))
    with pytest.raises(RecordError, match=r"cannot write .*dir.jsonl: .*choose another --out"):
        Appender(tmp_path / "dir.jsonl")


def test_a_record_with_a_newline_in_it_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "t.jsonl"
    with Appender(path) as out, pytest.raises(ValueError, match="one line"):
        out.append({"n": 1}, '{"a":\n1}')
    assert path.read_bytes() == b""


def test_rewrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "t.jsonl"
    _write(path, '{"old": 1}', tail='{"to')
    records.rewrite(path, ({"n": n} for n in range(3)))
    assert path.read_text() == '{"n":0}\n{"n":1}\n{"n":2}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


def test_an_append_is_one_write_and_one_fsync_per_batch(tmp_path, monkeypatch):
    calls = []
    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(records.os, "write", lambda fd, data: calls.append(("write", bytes(data))) or real_write(fd, data))
    monkeypatch.setattr(records.os, "fsync", lambda fd: calls.append(("fsync",)) or real_fsync(fd))
    with Appender(tmp_path / "t.jsonl") as out:
        calls.clear()
        out.append({"n": 0}, {"n": 1}, {"n": 2})
    assert calls == [("write", b'{"n":0}\n{"n":1}\n{"n":2}\n'), ("fsync",)]
