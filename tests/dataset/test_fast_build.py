"""The fast ledger reader (`fast_rows`): the record path's rows, its verdicts on bad records, bounded memory.

The corpus here has what the synthetic default lacks: intents with executable tasks (workspace,
checks, reference), trajectories with verification results and snapshots, reasoning text, calls
that timed out or recycled their workspace, non-ASCII and nested arguments, and records written
with their defaults left out (as a shorter writer would).
"""

from __future__ import annotations

import copy
import json
import random

import pyarrow as pa
import pytest

from ise_trace.dataset.fast_rows import FastReader
from ise_trace.dataset.features import trajectory_features, trajectory_row
from ise_trace.dataset.folder import build_folder
from ise_trace.dataset.ledger import LedgerError
from ise_trace.dataset.shards import ShardedWriter, storage_schema
from ise_trace.schemas import (
    Check,
    CheckResult,
    ExecutionRecord,
    SnapshotEntry,
    Trajectory,
    Verification,
    WorkspaceFile,
    WorkspaceSpec,
)
from tests.dataset.synthetic import make_trajectory

N = 40


def _rich(i: int) -> Trajectory:
    """A synthetic trajectory, every other one with an executable task and its verification."""
    rng = random.Random(i)
    t = make_trajectory(i, seed=3, user_turns=1 + i % 4)
    intent = t.intent
    if i % 2:
        intent = intent.model_copy(
            update={
                "workspace": WorkspaceSpec(
                    files=[
                        WorkspaceFile(path="data/a.csv", content="id,name\n1,Zoë\n"),
                        WorkspaceFile(path="run.sh", content="#!/bin/sh\necho \"ok\" \\\n", mode="0755"),
                    ],
                    setup=["git init -q && git add -A && git commit -qm init"],
                ),
                "checks": [Check(name="csv parses", command="python3 -c 'import csv'"), Check(name="t", command="test -f out")],
                "reference": "cp data/a.csv out" if i % 4 == 1 else None,
                "task_origin": ["llm", "generator", "hand"][i % 3],
            }
        )
    calls = [tc.id for m in t.messages if m.role == "assistant" for tc in m.tool_calls]
    executions = [
        ExecutionRecord(
            tool_call_id=e.tool_call_id,
            exit_code=None if k % 7 == 3 else e.exit_code,
            duration_ms=e.duration_ms,
            is_error=e.is_error,
            truncated=e.truncated,
            timed_out=k % 5 == 1,
            recycled=k % 11 == 2,
        )
        for k, e in enumerate(t.executions)
    ]
    messages = []
    for k, m in enumerate(t.messages):
        if m.role == "assistant" and m.tool_calls and k % 2:
            tc = m.tool_calls[0]
            args = {**tc.function.arguments, "nested": {"a": [1, 2.5, None, True], "b": "\"quoted\" \\ ünï €"}}
            m = m.model_copy(update={"tool_calls": [tc.model_copy(update={"function": tc.function.model_copy(update={"arguments": args})}), *m.tool_calls[1:]]})
        messages.append(m)
    if i % 2:
        verification = Verification(
            passed=rng.random() < 0.5,
            checks=[CheckResult(name="csv parses", passed=True, exit_code=0, output="ok\n"), CheckResult(name="t", passed=False, exit_code=None, output="")],
            snapshot=[SnapshotEntry(path="out", size=12, sha256="ab" * 32)],
            snapshot_truncated=i % 3 == 0,
            error=None if i % 5 else "checks timed out",
        )
    elif i % 4 == 2:
        verification = Verification(passed=None, error="the intent has no checks")
    else:
        verification = Verification(passed=None)
    prov = t.provenance.model_copy(update={"seeds": {} if i % 6 == 0 else t.provenance.seeds, "prompt_versions": {"user": "v3", "agent": "v1", "judge": "ü"}})
    assert len(calls) == len(executions)
    stats = t.stats.model_copy(update={"scripted_turns": i % 3})  # 0 is left out of every third record
    return t.model_copy(update={"intent": intent, "messages": messages, "executions": executions, "verification": verification, "provenance": prov, "stats": stats})


def _line(t: Trajectory, i: int) -> str:
    if i % 3 != 2:
        return t.model_dump_json()
    # every third record leaves its defaults out, as a shorter writer would (the role stays: it is the tag)
    record = t.model_dump(mode="json", exclude_defaults=True)
    for m, full in zip(record["messages"], t.messages, strict=True):
        m["role"] = full.role
    return json.dumps(record, ensure_ascii=False)


@pytest.fixture(scope="module")
def rich_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("rich") / "run"
    run.mkdir()
    lines = [_line(_rich(i), i) for i in range(N)]
    (run / "trajectories.jsonl").write_text("\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n", encoding="utf-8")
    return run


def _record_rows(path) -> list[dict]:
    schema = storage_schema(trajectory_features().arrow_schema)
    rows = []
    for raw in path.read_bytes().splitlines():
        if raw.strip():
            rows.append(trajectory_row(Trajectory.model_validate_json(raw)))
    return pa.Table.from_pylist(rows, schema=schema).to_pylist()


def _fast_rows(path, **kw) -> tuple[list[dict], FastReader]:
    reader = FastReader(path, fix="repair it", **kw)
    tables = [b.table for b in reader.batches()]
    return pa.concat_tables(tables).to_pylist(), reader


def test_fast_rows_equal_the_record_path_rows(rich_run):
    """Rows of every kind (tasks, verification, defaults left out, nested and non-ASCII arguments)
    come out as `trajectory_row` makes them, and the fast path took every chunk itself."""
    path = rich_run / "trajectories.jsonl"
    got, reader = _fast_rows(path)
    assert reader.slow_chunks == 0, "the fast path must take a ledger ise-trace writes"
    want = _record_rows(path)
    assert len(got) == N
    assert got == want
    assert any(r["verification"]["checks"] for r in got) and any(r["intent"]["workspace"] for r in got)
    assert any(r["executions"] and any(e["exit_code"] is None for e in r["executions"]) for r in got)


def test_fast_build_writes_the_record_path_folder(rich_run, tmp_path, small_build):
    """The same shards (content fingerprints equal, so byte for byte), statistics and card."""
    fast = build_folder(small_build, tmp_path / "fast" / "ise-trace", run_dir=rich_run, show_progress=False)
    records = build_folder(small_build, tmp_path / "records" / "ise-trace", run_dir=rich_run, show_progress=False, reader="records")
    assert fast.stats == records.stats
    assert fast.stats.intents_with_task == N // 2
    assert fast.stats.verification_counts["passed"] + fast.stats.verification_counts["failed"] == N // 2
    names = lambda r: {c: {s: [p.rsplit("/", 1)[-1] for p in v] for s, v in d.items()} for c, d in r.files.items()}  # noqa: E731
    assert names(fast) == names(records)
    for config, splits in fast.files.items():
        for split, files in splits.items():
            for a, b in zip(files, records.files[config][split], strict=True):
                assert (fast.out / a).read_bytes() == (records.out / b).read_bytes()

    def card(r):
        return [line for line in (r.out / "README.md").read_text().splitlines() if " built " not in line]

    assert card(fast) == card(records)


def test_reader_streams_in_bounded_chunks(rich_run):
    """Memory is bounded by the chunk, not the corpus: no batch holds more than one chunk of lines
    (plus the line that crosses its end), and the whole ledger never sits in one batch."""
    path = rich_run / "trajectories.jsonl"
    lengths = [len(line) + 1 for line in path.read_bytes().splitlines() if line]
    chunk = 4 * max(lengths)
    reader = FastReader(path, fix="repair it", chunk_bytes=chunk)
    sizes = [b.table.num_rows for b in reader.batches()]
    assert sum(sizes) == N
    assert reader.max_chunk_bytes_seen <= chunk + max(lengths)  # a chunk, and the line that crosses its end
    assert max(sizes) * min(lengths) <= chunk + max(lengths)
    assert len(sizes) >= sum(lengths) // (chunk + max(lengths))
    got, _ = _fast_rows(path, chunk_bytes=chunk)
    assert got == _record_rows(path)


def test_lines_longer_than_a_chunk_are_read_whole(rich_run):
    path = rich_run / "trajectories.jsonl"
    got, reader = _fast_rows(path, chunk_bytes=1000)
    assert reader.slow_chunks == 0
    assert got == _record_rows(path)


def test_writer_holds_at_most_one_batch_of_arrow_rows(tmp_path, rich_run):
    reader = FastReader(rich_run / "trajectories.jsonl", fix="repair it", chunk_bytes=1 << 16)
    writer = ShardedWriter(tmp_path / "shards", trajectory_features(), max_shard_bytes=1 << 17)
    for batch in reader.batches():
        writer.add_table("train", batch.table)
        w = writer._splits["train"]
        assert w._table_rows < w._batch_rows  # anything beyond a batch went to the parquet file
    info = writer.close()["train"]
    assert info.num_rows == N and len(info.files) > 1


def test_a_schema_violation_fails_the_build_with_file_and_line(tmp_path, rich_run, small_build):
    run = tmp_path / "run"
    run.mkdir()
    lines = (rich_run / "trajectories.jsonl").read_text().splitlines()
    bad = json.loads(lines[3])
    bad["messages"][1]["role"] = "robot"
    lines[3] = json.dumps(bad)
    (run / "trajectories.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ise-trace"
    with pytest.raises(LedgerError) as e:
        build_folder(small_build, out, run_dir=run, show_progress=False)
    assert f"{run / 'trajectories.jsonl'}:4: field 'messages.1'" in str(e.value)
    assert not out.exists()


def test_the_last_line_follows_the_records_repair_policy(tmp_path, rich_run, caplog):
    """A torn last line (no newline, not JSON) is skipped with a warning naming its line; a whole
    last record without its newline is read; a torn line before the last is an error at its line."""
    path = tmp_path / "trajectories.jsonl"
    text = (rich_run / "trajectories.jsonl").read_text()
    lines = text.count("\n")
    path.write_text(text + text.splitlines()[0][:500])
    rows, _ = _fast_rows(path)
    assert len(rows) == N
    assert f"{path}:{lines + 1}: skipped a torn last line" in caplog.text
    path.write_text(text + text.splitlines()[0])
    rows, _ = _fast_rows(path)
    assert len(rows) == N + 1
    path.write_text(text.splitlines()[0][:500] + "\n" + text)
    with pytest.raises(LedgerError, match=rf"{path}:1: not valid JSON"):
        _fast_rows(path)


# --------------------------------------------------------------------------- the same verdicts as pydantic


def _paths(obj, path=()):
    """Every (path, value) of a JSON value: the first two items of each list only."""
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*path, k))
    elif isinstance(obj, list):
        for k, v in enumerate(obj[:2]):
            yield from _paths(v, (*path, k))


def _mutations(record: dict):
    for path, value in list(_paths(record)):
        if not path:
            continue
        *parent, key = path
        yield f"drop {path}", parent, key, "drop"
        yield f"null {path}", parent, key, None
        if isinstance(value, dict):
            yield f"extra key in {path}", path, "unexpected", 1
        elif isinstance(value, str):
            yield f"number for {path}", parent, key, 7
        elif isinstance(value, bool):
            yield f"int for {path}", parent, key, 1
        elif isinstance(value, int):
            yield f"string for {path}", parent, key, str(value)
            yield f"float for {path}", parent, key, float(value)


SPECIFIC = [  # (what, parent path, key, value): role-specific fields, literals, lax coercions
    ("user message with tool_calls", ("messages", 1), "tool_calls", []),
    ("user message with name null", ("messages", 1), "name", None),
    ("user message with reasoning null", ("messages", 1), "reasoning_content", None),
    ("system message with tool_call_id", ("messages", 0), "tool_call_id", "x"),
    ("assistant with tool_call_id null", ("messages", 2), "tool_call_id", None),
    ("assistant with tool_calls null", ("messages", 2), "tool_calls", None),
    ("tool message without name", ("messages", 3), "name", "drop"),
    ("role robot", ("messages", 1), "role", "robot"),
    ("complexity hard", ("intent",), "complexity", "hard"),
    ("task origin other", ("intent",), "task_origin", "other"),
    ("mode 999", ("intent", "workspace", "files", 0), "mode", "999"),
    ("mode 755", ("intent", "workspace", "files", 0), "mode", "755"),
    ("status ok", ("outcome",), "status", "ok"),
    ("termination unknown", ("outcome",), "termination", "unknown"),
    ("call type other", ("messages", 2, "tool_calls", 0), "type", "other"),
    ("arguments as a JSON string", ("messages", 2, "tool_calls", 0, "function"), "arguments", '{"path": "x"}'),
    ("arguments as a list", ("messages", 2, "tool_calls", 0, "function"), "arguments", [1]),
    ("tools as an object", (), "tools", {"a": 1}),
    ("seed as a string", ("provenance", "seeds"), "run", "5"),
    ("seed as a float", ("provenance", "seeds"), "run", 5.0),
    ("seed as a word", ("provenance", "seeds"), "run", "five"),
    ("prompt version as a number", ("provenance", "prompt_versions"), "user", 3),
    ("verification empty", (), "verification", {}),
    ("intent checks null", ("intent",), "checks", None),
    ("verification checks null", ("verification",), "checks", None),
    ("duration as a string", ("executions", 0), "duration_ms", "1.5"),
    ("flag as a string", ("executions", 0), "truncated", "true"),
    ("argument value null", ("messages", 2, "tool_calls", 0, "function", "arguments"), "path", None),
    ("argument named like a key", ("messages", 2, "tool_calls", 0, "function", "arguments"), "exit_code", None),
]


def _apply(record: dict, parent, key, value) -> dict:
    r = copy.deepcopy(record)
    node = r
    for p in parent:
        node = node[p]
    if value == "drop":
        del node[key]
    else:
        node[key] = value
    return r


def _verdict_cases():
    base = _rich(1)  # a task, verification with checks, reasoning, every message role
    assert base.messages[2].role == "assistant" and base.messages[2].tool_calls and base.messages[3].role == "tool"
    record = json.loads(base.model_dump_json())
    cases = [(what, _apply(record, parent, key, value)) for what, parent, key, value in _mutations(record)]
    cases += [(what, _apply(record, parent, key, value)) for what, parent, key, value in SPECIFIC]
    return record, cases


def test_fast_path_gives_pydantic_s_verdict_on_every_mutated_record(tmp_path):
    """Each mutation of one valid record (a field dropped, nulled, of another type, unknown,
    forbidden for its role...) is rejected at its line when pydantic rejects it, and otherwise
    read to the row the record path makes."""
    record, cases = _verdict_cases()
    good = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    rejected = accepted = 0
    for what, mutated in cases:
        line = json.dumps(mutated, ensure_ascii=False, separators=(",", ":"))
        path = tmp_path / "trajectories.jsonl"
        path.write_text(f"{good}\n{line}\n{good}\n", encoding="utf-8")
        try:
            want = trajectory_row(Trajectory.model_validate_json(line))
        except Exception:
            want = None
        if want is None:
            with pytest.raises(LedgerError, match=rf"{path}:2: "):
                _fast_rows(path)
            rejected += 1
            continue
        try:
            rows, _ = _fast_rows(path)
        except (LedgerError, pa.ArrowException) as e:  # pragma: no cover - the failure message
            pytest.fail(f"{what}: pydantic accepts the record, the fast reader does not: {e}")
        schema = storage_schema(trajectory_features().arrow_schema)
        assert rows[1] == pa.Table.from_pylist([want], schema=schema).to_pylist()[0], what
        accepted += 1
    assert rejected > 100 and accepted > 20  # both verdicts are exercised


def test_compact_and_spaced_json_both_take_the_fast_path(tmp_path):
    """ise-trace writes compact JSON; `json.dumps` defaults (", " and ": ") are read fast too."""
    lines = [json.loads(_rich(i).model_dump_json()) for i in range(6)]
    path = tmp_path / "trajectories.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    rows, reader = _fast_rows(path)
    assert reader.slow_chunks == 0
    assert rows == _record_rows(path)
