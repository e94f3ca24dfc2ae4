"""Ledger lines -> Arrow tables of dataset rows, a bounded chunk at a time, without a Python object per record.

The record path (`Trajectory.model_validate_json`, `trajectory_row`, `Table.from_pylist`) costs
about 2 ms of CPU per paper-sized trajectory, most of it in building and walking Python objects.
Here a chunk of whole lines (`CHUNK_BYTES`) goes through C++ and numpy instead:

1. Structure (numpy): the unescaped quotes of the chunk, and the brackets outside strings with
   their depth, so every key found by a byte pattern is known to be a key, at a known depth.
2. `Json()` fields (tool-call arguments at depth 6, `tools` at 1, `seeds` and `prompt_versions`
   at 2): their values are cut out of the bytes, validated by pydantic in one call per field and
   chunk (`TypeAdapter.validate_json`, the types of `schemas.py`), and encoded with the same
   `json` settings as `features.trajectory_row`; in the bytes each becomes `null`.
3. `pyarrow.json` parses the rest with the explicit storage schema; an unknown field, a value of
   another JSON type, a duplicate key or an unparseable line is an Arrow error.
4. What pydantic checks and Arrow cannot see: required fields, literals (roles, complexity,
   status, termination), the fields each message role may carry, the file-mode pattern; keys
   that must be present even when null (`exit_code`, `passed`) are counted per record, and keys
   whose explicit `null` pydantic rejects but Arrow reads as "absent" are looked for by name.
5. Defaults as pydantic fills them (`tool_calls=[]` on assistant messages, `truncated=False`,
   an unverified `verification`, ...), so the rows are those of `trajectory_row`.

A chunk the fast path does not take in full goes to the record path, line by line, exactly as
before (`ise_trace.records.validate`, and its repair policy for a torn last line): a record that
violates the schema fails the build with file:line and pydantic's own message, and a record
pydantic accepts but the fast path does not (a lax coercion such as `"3"` for an int, a key
written with escapes or odd spacing) is still converted, only slower.
So what is guaranteed is what the record path guarantees: every row written is a record that
`Trajectory.model_validate_json` accepts, turned into the same row values.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import TypeAdapter, ValidationError

from ..errors import where
from ..records import RecordError, validate
from ..schemas import TerminationReason, Trajectory
from .features import trajectory_features, trajectory_row
from .shards import storage_schema

log = logging.getLogger(__name__)

CHUNK_BYTES = 8 * 1024 * 1024  # whole lines per chunk (a paper-sized trajectory is ~37 KB)
READ_AHEAD = 1  # chunks turned into rows ahead of the one being written

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # == features._json
_ARGUMENTS = TypeAdapter(list[dict[str, Any]])
_TOOLS = TypeAdapter(list[list[dict[str, Any]]])
_SEEDS = TypeAdapter(list[dict[str, int]])
_PROMPT_VERSIONS = TypeAdapter(list[dict[str, str]])

# Keys whose position matters: Json() values to cut out, the message list, keys counted per record.
_KEYS = (b"arguments", b"tools", b"seeds", b"prompt_versions", b"messages", b"exit_code", b"passed")
# Keys whose explicit null pydantic rejects (or allows in one place only) while Arrow reads it as absent.
_NULL_KEYS = (
    b"expertise", b"files", b"setup", b"verification", b"checks", b"snapshot", b"snapshot_truncated", b"truncated",
    b"timed_out", b"recycled", b"drift_turns", b"scripted_turns", b"type", b"tool_calls", b"output", b"name", b"tool_call_id",
    b"reasoning_content",
)  # fmt: skip
_NULL_ALLOWED = (b"checks", b"reasoning_content")  # on the intent; on assistant messages
_KEY_BEFORE = re.compile(rb'"(\w+)"[ \t\r]*:[ \t\r]*$')
_MAX_TOOLS_CACHE = 256

ROLES = ("system", "user", "assistant", "tool")
COMPLEXITIES = ("simple", "medium", "complex")
TASK_ORIGINS = ("llm", "generator", "hand")
STATUSES = ("success", "failure", "max_turns", "error")
MODE_PATTERN = r"^0?[0-7]{3}$"  # schemas.WorkspaceFile.mode


class _Slow(Exception):
    """The fast path does not take this chunk; the record path decides, line by line."""


@dataclass
class RowBatch:
    """Rows of consecutive ledger lines, in the storage schema (`Json()` fields as strings)."""

    table: Any  # pyarrow.Table
    first_line: int
    prompt_versions: list[dict[str, str]]  # per row, decoded, for the provenance summary
    fast: bool  # False: the chunk went through the record path


@dataclass
class FastReader:
    """Reads a trajectories ledger as `RowBatch`es of at most `chunk_bytes` of lines each."""

    path: Path
    fix: str  # what to do about a bad line, ending its error message (as `RunDir.trajectories` says it)
    chunk_bytes: int = CHUNK_BYTES
    slow_chunks: int = 0
    max_chunk_bytes_seen: int = 0
    _schema: Any = field(default=None, repr=False)
    _tools_cache: dict[bytes, list[str]] = field(default_factory=dict, repr=False)  # a run gives every agent the same tools

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._schema = storage_schema(trajectory_features().arrow_schema)
        self._parse_schema = _parse_schema(self._schema)

    def batches(self) -> Iterator[RowBatch]:
        """The ledger's rows in order, a chunk at a time.

        One worker thread turns the next chunk into rows while the caller writes the current one
        (numpy, pyarrow and the parquet writer release the GIL), so at most `READ_AHEAD + 1`
        chunks are in memory at once. An error in a chunk is raised when its turn comes, after
        every row before it.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-reader") as pool:
            pending: deque = deque()
            for first_line, chunk in _chunks(self.path, self.chunk_bytes):
                self.max_chunk_bytes_seen = max(self.max_chunk_bytes_seen, len(chunk))
                pending.append(pool.submit(self._batch, first_line, chunk))
                if len(pending) > READ_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _batch(self, first_line: int, chunk: bytes) -> RowBatch:
        if chunk.endswith(b"\n"):
            try:
                table, versions = _fast_table(chunk, self._parse_schema, self._schema, self._tools_cache)
            except _Slow:
                pass
            else:
                return RowBatch(table, first_line, versions, fast=True)
        self.slow_chunks += 1
        return self._record_batch(first_line, chunk)

    def _record_batch(self, first_line: int, chunk: bytes) -> RowBatch:
        """The chunk line by line through `records.validate`, as `RunDir.trajectories` reads it."""
        rows, versions = [], []
        lines = chunk.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            raw = line if last else line + b"\n"
            if not raw.strip():
                continue
            number = first_line + i
            if last and not _is_json(raw):  # the repair policy of `ise_trace.records`: a torn last line is no record
                log.warning(
                    "%s: skipped a torn last line (%d bytes, no newline, not valid JSON): the remnant of an "
                    "append cut short by a crash or kill, not a record", where(self.path, number), len(raw),
                )
                break
            t = validate(self.path, number, Trajectory, raw, self.fix)
            rows.append(trajectory_row(t))
            versions.append(dict(t.provenance.prompt_versions))
        return RowBatch(pa.Table.from_pylist(rows, schema=self._schema), first_line, versions, fast=False)


# --------------------------------------------------------------------------- the record path


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError:
        return False
    return True


def _chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, whole lines of about `chunk_bytes`); only the last may lack its newline."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    lineno, rest = 1, b""
    with f:
        while True:
            block = f.read(chunk_bytes)
            if not block:
                if rest:
                    yield lineno, rest
                return
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a chunk: read on until it ends
                rest += block
                continue
            chunk = rest + block[:cut] if rest else block[:cut] if cut < len(block) else block
            rest = block[cut:]
            yield lineno, chunk
            lineno += chunk.count(b"\n")


# --------------------------------------------------------------------------- schemas


def _parse_schema(schema):
    """The storage schema with each `Json()` field as a null column (its value is cut out)."""

    def fn_type(tool_calls_type):
        tc = tool_calls_type.value_type
        fn = tc.field("function").type
        fn = pa.struct([f if f.name != "arguments" else f.with_type(pa.null()) for f in fn])
        tc = pa.struct([f if f.name != "function" else f.with_type(fn) for f in tc])
        return pa.list_(tc)

    msg = schema.field("messages").type.value_type
    msg = pa.struct([f if f.name != "tool_calls" else f.with_type(fn_type(f.type)) for f in msg])
    prov = schema.field("provenance").type
    prov = pa.struct([f.with_type(pa.null()) if f.name in ("seeds", "prompt_versions") else f for f in prov])
    fields = []
    for f in schema:
        if f.name == "messages":
            f = f.with_type(pa.list_(msg))
        elif f.name == "tools":
            f = f.with_type(pa.null())
        elif f.name == "provenance":
            f = f.with_type(prov)
        fields.append(f)
    return pa.schema(fields)


# --------------------------------------------------------------------------- structure of a chunk


_HEAD_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _head(name: bytes) -> np.uint64:
    return np.frombuffer(name[:8].ljust(8, b"\0"), np.uint64)[0]


class _Structure:
    """Quotes and brackets of a chunk of JSON lines, as the JSON grammar sees them."""

    def __init__(self, chunk: bytes) -> None:
        a = np.frombuffer(chunk, np.uint8)
        self.a = a
        q = np.flatnonzero(a == 34)
        # A quote is escaped when an odd number of backslashes precede it.
        k = np.flatnonzero((q > 0) & (a[np.maximum(q - 1, 0)] == 92))
        if len(k):
            run = np.ones(len(k), np.int64)
            pos = q[k] - 2
            live = np.flatnonzero(pos >= 0)
            while len(live):
                hit = a[pos[live]] == 92
                live = live[hit]
                run[live] += 1
                pos[live] -= 1
                live = live[pos[live] >= 0]
            q = np.delete(q, k[run % 2 == 1])
        self.quotes = q
        br = np.flatnonzero((a == 123) | (a == 125) | (a == 91) | (a == 93))
        br = br[np.searchsorted(q, br) % 2 == 0]  # outside strings
        opening = (a[br] == 123) | (a[br] == 91)
        self.brackets = br
        self.opening = opening
        self.depth = np.cumsum(np.where(opening, 1, -1), dtype=np.int64)  # depth after each bracket
        self.newlines = np.flatnonzero(a == 10)
        if len(br) and self.depth.min() < 0:
            raise _Slow("unbalanced brackets")
        # every line closes what it opens, outside a string
        if len(self.newlines):
            if np.any(self.depth_at(self.newlines) != 0) or np.any(np.searchsorted(q, self.newlines) % 2):
                raise _Slow("a line does not close its brackets or strings")
        self._keys = None
        closers = np.flatnonzero(~opening)
        self._m = len(br) + 1
        self._closer_keys = np.sort(self.depth[closers] * self._m + closers)

    def keys(self, names: tuple[bytes, ...], *, null: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Object keys spelled as one of `names`: (index in names, position of the key, of its value);
        with `null`, only those whose value is `null`.

        A key is a string followed by `:` (compact, or with one space either side, as JSON writers
        put it); a key written with escapes is not matched, and the checks that need it fail.
        """
        if self._keys is None:
            self._keys = self._key_table()
        opens, value, length, head = self._keys
        a = self.a
        codes = np.unique([_head(name) for name in names])
        at = np.minimum(np.searchsorted(codes, head), len(codes) - 1)
        match = codes[at] == head  # keys whose first 8 bytes are those of a name
        if null:
            match &= a[value] == 110  # a value that starts with `n` is null (or not JSON: Arrow rejects that)
        cand = np.flatnonzero(match)
        found = []
        for i, name in enumerate(names):
            sel = cand[(head[cand] == _head(name)) & (length[cand] == len(name))]
            if len(sel) and len(name) > 8:
                rest = a[opens[sel, None] + 9 + np.arange(len(name) - 8)] == np.frombuffer(name[8:], np.uint8)
                sel = sel[np.all(rest, axis=1)]
            found.append((np.full(len(sel), i), opens[sel], value[sel]))
        which, at, value = (np.concatenate(x) for x in zip(*found))
        order = np.argsort(at, kind="stable")
        return which[order], at[order], value[order]

    def _key_table(self):
        """Every object key of the chunk: (position, position of its value, length, first 8 bytes)."""
        a, n = self.a, len(self.a)
        opens, closes = self.quotes[0::2], self.quotes[1::2]
        colon = np.minimum(closes + 1, n - 1)
        colon = np.minimum(np.where(a[colon] == 32, colon + 1, colon), n - 1)
        key = a[colon] == 58
        opens, closes, value = opens[key], closes[key], np.minimum(colon[key] + 1, n - 1)
        value = np.minimum(np.where(a[value] == 32, value + 1, value), n - 1)
        length = closes - opens - 1
        # the first 8 bytes of each key as one integer, bytes past its end cleared (a key shorter
        # than 4 bytes in the last 8 of the chunk reads other bytes: no name is that short)
        windows = np.lib.stride_tricks.as_strided(a, shape=(max(n - 7, 1), 8), strides=(1, 1))
        head = windows[np.minimum(opens + 1, max(n - 8, 0))].view(np.uint64)[:, 0]
        head &= _HEAD_MASKS[np.minimum(length, 8)]
        return opens, value, length, head

    def opens_string(self, p: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.quotes, p)
        ok = i < len(self.quotes)
        ok[ok] = self.quotes[i[ok]] == p[ok]
        return ok & (i % 2 == 0)

    def depth_at(self, p: np.ndarray) -> np.ndarray:
        j = np.searchsorted(self.brackets, p)
        return np.where(j > 0, self.depth[np.maximum(j - 1, 0)], 0)

    def span_end(self, p: np.ndarray) -> np.ndarray:
        """Position after the bracket closing the opening bracket at each of `p`."""
        if not len(p):
            return p
        j = np.searchsorted(self.brackets, p)
        if np.any(j >= len(self.brackets)) or np.any(self.brackets[np.minimum(j, len(self.brackets) - 1)] != p):
            raise _Slow("value is not an object or array")
        level = self.depth[j] - 1
        k = np.searchsorted(self._closer_keys, level * self._m + j)
        if np.any(k >= len(self._closer_keys)):
            raise _Slow("unclosed value")
        key = self._closer_keys[k]
        if np.any(key // self._m != level):
            raise _Slow("unclosed value")
        return self.brackets[key % self._m] + 1

    def openers_at(self, depth: int) -> np.ndarray:
        """Positions of the `{` and `[` that open depth `depth`."""
        return self.brackets[self.opening & (self.depth == depth)]


def _inside(p: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which positions fall in one of the disjoint, sorted spans [starts, ends)."""
    if not len(starts):
        return np.zeros(len(p), bool)
    i = np.searchsorted(starts, p, side="right") - 1
    return (i >= 0) & (p < ends[np.maximum(i, 0)])


def _require(ok) -> None:
    if isinstance(ok, (pa.Array, pa.ChunkedArray)):
        ok = ok.to_numpy(zero_copy_only=False)
    if not np.all(ok):
        raise _Slow("a check failed")


def _nonnull(*arrays) -> None:
    for arr in arrays:
        if arr.null_count:
            raise _Slow("a required value is null")


def _in(arr, values) -> None:
    _require(pc.fill_null(pc.is_in(arr, value_set=pa.array(values)), False))


def _filled(arr, value):
    """`arr` with nulls replaced by `value`, without a validity bitmap (as `Table.from_pylist` builds it,
    so the Arrow sizes the card reports are the record path's)."""
    arr = pc.fill_null(arr, value)
    if arr.null_count == 0 and arr.buffers()[0] is not None:
        arr = pa.Array.from_buffers(arr.type, len(arr), [None, *arr.buffers()[1:]], offset=arr.offset)
    return arr


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


# --------------------------------------------------------------------------- nested Arrow helpers


def _list_parts(lst):
    """(offsets from 0, values, null mask) of a ListArray; null entries must be empty."""
    offsets = _np(lst.offsets).astype(np.int32)
    values = lst.values
    if offsets[0] != 0 or len(values) != offsets[-1]:
        values = values.slice(offsets[0], offsets[-1] - offsets[0])
        offsets = offsets - offsets[0]
    nulls = _np(lst.is_null())
    if np.any(nulls & (np.diff(offsets) != 0)):
        raise _Slow("a null list with values")
    return offsets, values, nulls


def _list(offsets, values, nulls, typ):
    mask = pa.array(nulls) if nulls is not None and nulls.any() else None
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=typ, mask=mask)


def _struct(arr, typ, **children):
    """`arr` (a StructArray) as `typ`, with some children replaced; its nulls kept."""
    cols = [children[f.name] if f.name in children else arr.field(f.name) for f in typ]
    mask = arr.is_null() if arr.null_count else None
    return pa.StructArray.from_arrays(cols, fields=list(typ), mask=mask)


def _filled_list(lst, typ, values=None):
    """A list column where null means "the default []"."""
    offsets, old, _ = _list_parts(lst)
    return _list(offsets, old if values is None else values, None, typ)


# --------------------------------------------------------------------------- Json() values


def _decode(adapter, spans: list[bytes]) -> list:
    try:
        return adapter.validate_json(b"[" + b",".join(spans) + b"]")
    except ValidationError:
        raise _Slow("a Json() value pydantic rejects") from None


def _json_column(chunk: bytes, starts: np.ndarray, ends: np.ndarray, adapter) -> tuple[Any, list]:
    """The values at [starts, ends) validated as `adapter`'s items, and a string array of each
    encoded as `trajectory_row` encodes it; also the decoded values.

    Encoding the whole list once and comparing it with the input tells whether every value is
    already written as `json.dumps` writes it (what ise-trace's own ledger does); then the input
    bytes are the strings, and no value is encoded on its own.
    """
    spans = [chunk[i:j] for i, j in zip(starts.tolist(), ends.tolist())]
    values = _decode(adapter, spans)
    if _encode(values).encode("utf-8") == b"[" + b",".join(spans) + b"]":
        offsets = np.zeros(len(spans) + 1, np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        if offsets[-1] < 2**31:
            data = pa.py_buffer(b"".join(spans))
            return pa.StringArray.from_buffers(len(spans), pa.py_buffer(offsets.astype(np.int32)), data), values
    return pa.array([_encode(v) for v in values], pa.string()), values


# --------------------------------------------------------------------------- one chunk


def _fast_table(chunk: bytes, parse_schema, schema, tools_cache: dict[bytes, list[str]]):
    s = _Structure(chunk)
    a = s.a
    nl = s.newlines
    starts = np.concatenate(([0], nl[:-1] + 1))
    lengths = nl - starts
    blank = lengths == 0
    if np.any(a[starts[~blank]] != 123):  # a record line starts with `{`; anything else is the record path's
        raise _Slow("line does not start with an object")
    row_of_line = np.cumsum(~blank) - 1
    n_rows = int((~blank).sum())

    def row_of(p):
        return row_of_line[np.searchsorted(nl, p)]

    which, key_at, value_at = s.keys(_KEYS)
    names = np.array(_KEYS, dtype=object)[which]
    depth = s.depth_at(key_at)

    def spans(name: bytes, at_depth: int, opener: int, keep=None):
        sel = (names == name) & (depth == at_depth)
        if keep is not None:
            sel &= keep
        v = value_at[sel]
        if np.any(a[np.minimum(v, len(a) - 1)] != opener):
            raise _Slow(f"{name!r} is not {chr(opener)}...")
        return v, s.span_end(v)

    tools_s, tools_e = spans(b"tools", 1, 91)
    seeds_s, seeds_e = spans(b"seeds", 2, 123)
    pv_s, pv_e = spans(b"prompt_versions", 2, 123)
    msgs_s, msgs_e = spans(b"messages", 1, 91)
    outer = np.concatenate((tools_s, seeds_s, pv_s))
    order = np.argsort(outer)
    outer_s, outer_e = outer[order], np.concatenate((tools_e, seeds_e, pv_e))[order]
    args_s, args_e = spans(b"arguments", 6, 123, keep=~_inside(key_at, outer_s, outer_e))

    json_s = np.concatenate((outer_s, args_s))
    order = np.argsort(json_s)
    json_s, json_e = json_s[order], np.concatenate((outer_e, args_e))[order]
    if np.any(json_s[1:] < json_e[:-1]):
        raise _Slow("overlapping values")

    # The Json() values, validated and encoded; in the bytes, null.
    arguments = _json_column(chunk, args_s, args_e, _ARGUMENTS)[0]
    seeds = _json_column(chunk, seeds_s, seeds_e, _SEEDS)[0]
    pv_strings, versions = _json_column(chunk, pv_s, pv_e, _PROMPT_VERSIONS)
    tools = []
    for i, j in zip(tools_s.tolist(), tools_e.tolist()):
        raw = chunk[i:j]
        hit = tools_cache.get(raw)
        if hit is None:
            if len(tools_cache) >= _MAX_TOOLS_CACHE:
                tools_cache.clear()
            hit = tools_cache[raw] = [_encode(t) for t in _decode(_TOOLS, [raw])[0]]
        tools.append(hit)
    pieces, last = [], 0
    for i, j in zip(json_s.tolist(), json_e.tolist()):
        pieces += (chunk[last:i], b"null")
        last = j
    pieces.append(chunk[last:])
    blanked = b"".join(pieces)

    try:
        table = pj.read_json(
            io.BytesIO(blanked),
            # one block: one chunk of the table, and no pyarrow threads beside the reader thread
            read_options=pj.ReadOptions(block_size=len(blanked) + 1, use_threads=False),
            parse_options=pj.ParseOptions(explicit_schema=parse_schema, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Slow("Arrow cannot parse the chunk") from None
    if table.num_rows != n_rows:
        raise _Slow("a line holds more or less than one record")
    table = table.combine_chunks()
    col = {name: table.column(name).chunk(0) if table.column(name).num_chunks else None for name in table.column_names}
    if n_rows == 0:
        return pa.Table.from_pylist([], schema=schema), []

    # --- one value per record of tools; at most one of seeds and prompt_versions
    def per_row(positions):
        return np.bincount(row_of(positions), minlength=n_rows) if len(positions) else np.zeros(n_rows, np.int64)

    _require(per_row(tools_s) == 1)
    seeds_n, pv_n = per_row(seeds_s), per_row(pv_s)
    _require((seeds_n <= 1) & (pv_n <= 1))

    # --- required fields, literals, roles
    for name in ("id", "intent", "messages", "executions", "outcome", "stats", "provenance"):
        _nonnull(col[name])
    intent = col["intent"]
    _nonnull(*(intent.field(n) for n in ("id", "text", "persona", "domains", "complexity", "seed", "renderer")))
    _in(intent.field("complexity"), COMPLEXITIES)
    origin = intent.field("task_origin")
    _require(pc.or_kleene(pc.is_null(origin), pc.is_in(origin, value_set=pa.array(TASK_ORIGINS))))
    persona = intent.field("persona")
    _nonnull(*(persona.field(n) for n in ("id", "name", "role", "industry", "experience_level", "communication_style", "work_context")))
    _nonnull(persona.field("expertise").values)
    domains = _list_parts(intent.field("domains"))[1]
    _nonnull(domains, domains.field("name"), domains.field("tasks"))
    tasks = _list_parts(domains.field("tasks"))[1]
    _nonnull(tasks, tasks.field("name"), tasks.field("description"))
    _nonnull(intent.field("renderer").field("model"), intent.field("renderer").field("prompt_version"))
    workspace = intent.field("workspace")
    files = _list_parts(workspace.field("files"))[1]
    _nonnull(files, files.field("path"), files.field("content"))
    mode = files.field("mode")
    _require(pc.or_kleene(pc.is_null(mode), pc.match_substring_regex(mode, MODE_PATTERN)))
    _nonnull(_list_parts(workspace.field("setup"))[1])
    checks = _list_parts(intent.field("checks"))[1]
    _nonnull(checks, checks.field("name"), checks.field("command"))

    msg_off, msgs, _ = _list_parts(col["messages"])
    _nonnull(msgs)
    role = msgs.field("role")
    _in(role, ROLES)
    role_np = _np(role)
    assistant, tool = role_np == "assistant", role_np == "tool"
    content_null = _np(msgs.field("content").is_null())
    _require(~content_null | assistant)
    for name in ("tool_call_id", "name"):
        nulls = _np(msgs.field(name).is_null())
        _require(np.where(tool, ~nulls, nulls))
    _require(_np(msgs.field("reasoning_content").is_null()) | assistant)
    tc_off, calls, tc_nulls = _list_parts(msgs.field("tool_calls"))
    _require(tc_nulls | assistant)
    _nonnull(calls, calls.field("id"), calls.field("function"), calls.field("function").field("name"))
    call_type = calls.field("type")
    _require(pc.or_kleene(pc.is_null(call_type), pc.equal(call_type, "function")))

    ex_off, execs, _ = _list_parts(col["executions"])
    _nonnull(execs, execs.field("tool_call_id"), execs.field("duration_ms"), execs.field("is_error"))
    outcome = col["outcome"]
    _in(outcome.field("status"), STATUSES)
    _nonnull(outcome.field("reason"))
    _in(outcome.field("termination"), [r.value for r in TerminationReason])
    ver = col["verification"]
    vc_off, vchecks, _ = _list_parts(ver.field("checks"))
    _nonnull(vchecks, vchecks.field("name"), vchecks.field("passed"))
    snap = _list_parts(ver.field("snapshot"))[1]
    _nonnull(snap, snap.field("path"), snap.field("size"), snap.field("sha256"))
    stats = col["stats"]
    _nonnull(*(stats.field(n) for n in ("user_turns", "dialogue_turns", "tool_calls", "unique_tools", "failed_calls", "recovered_calls")))
    prov = col["provenance"]
    _nonnull(*(prov.field(n) for n in ("agent_model", "user_model", "sandbox_image", "ise_trace_version", "created_at")))

    # --- each tool call has its arguments, in order
    msg_row = np.repeat(np.arange(n_rows), np.diff(msg_off))
    calls_per_row = np.bincount(msg_row, weights=np.diff(tc_off), minlength=n_rows).astype(np.int64)
    _require(per_row(args_s) == calls_per_row)

    # --- keys that must be there even when null: exit_code (executions, check results), passed
    outside_json = ~_inside(key_at, json_s, json_e)
    ver_present = ~_np(ver.is_null())
    vc_row = np.repeat(np.arange(n_rows), np.diff(vc_off))
    checks_per_row = np.bincount(vc_row, minlength=n_rows)
    _require(per_row(key_at[(names == b"exit_code") & outside_json]) == np.diff(ex_off) + checks_per_row)
    _require(per_row(key_at[(names == b"passed") & outside_json]) == checks_per_row + ver_present)

    # --- explicit nulls that pydantic rejects
    which, n_at, _ = s.keys(_NULL_KEYS, null=True)
    real = ~_inside(n_at, json_s, json_e)
    n_names, n_at = np.array(_NULL_KEYS, dtype=object)[which[real]], n_at[real]
    if len(n_at):
        _require(np.isin(n_names, _NULL_ALLOWED))
        # checks: null only on the intent (an intent without a task), never in verification
        at = n_at[n_names == b"checks"]
        _require(s.depth_at(at) == 2)
        objs = s.openers_at(2)
        for o in objs[np.searchsorted(objs, at) - 1].tolist():
            key = _KEY_BEFORE.search(chunk, max(0, o - 64), o)
            _require(key is not None and key.group(1) == b"intent")
        # reasoning_content: null only on assistant messages
        at = n_at[n_names == b"reasoning_content"]
        if len(at):
            _require(s.depth_at(at) == 3)
            opener3 = s.openers_at(3)
            message_openers = opener3[_inside(opener3, msgs_s, msgs_e)]
            _require(len(message_openers) == len(msgs))
            _require(assistant[np.searchsorted(message_openers, at) - 1])

    # --- rows with pydantic's defaults and the Json() values
    st = schema
    msg_t = st.field("messages").type
    item_t = msg_t.value_type
    tc_list_t = item_t.field("tool_calls").type
    call_t = tc_list_t.value_type
    fn_t = call_t.field("function").type
    fn = _struct(calls.field("function"), fn_t, arguments=arguments)
    new_calls = _struct(calls, call_t, type=_filled(call_type, "function"), function=fn)
    tool_calls = _list(tc_off, new_calls, tc_nulls & ~assistant, tc_list_t)
    messages = _list(msg_off, _struct(msgs, item_t, tool_calls=tool_calls), None, msg_t)

    tools_t = st.field("tools").type
    tools_off = np.concatenate(([0], np.cumsum([len(t) for t in tools]))).astype(np.int32)
    tools_col = _list(tools_off, pa.array([x for t in tools for x in t], pa.string()), None, tools_t)

    ex_t = st.field("executions").type
    ex_item_t = ex_t.value_type
    flags = {n: _filled(execs.field(n), False) for n in ("truncated", "timed_out", "recycled")}
    executions = _list(ex_off, _struct(execs, ex_item_t, **flags), None, ex_t)

    ver_t = st.field("verification").type
    vc_t = ver_t.field("checks").type
    vchecks_new = _struct(vchecks, vc_t.value_type, output=_filled(vchecks.field("output"), ""))
    ver_children = {
        "checks": _filled_list(ver.field("checks"), vc_t, vchecks_new),
        "snapshot": _filled_list(ver.field("snapshot"), ver_t.field("snapshot").type),
        "snapshot_truncated": _filled(ver.field("snapshot_truncated"), False),
    }
    # a record without verification gets the unverified default: passed null, no checks
    verification = pa.StructArray.from_arrays(
        [ver_children[f.name] if f.name in ver_children else ver.field(f.name) for f in ver_t], fields=list(ver_t)
    )

    stats_new = _struct(
        stats, st.field("stats").type,
        drift_turns=_filled(stats.field("drift_turns"), 0), scripted_turns=_filled(stats.field("scripted_turns"), 0),
    )

    intent_t = st.field("intent").type
    persona_t, ws_t = intent_t.field("persona").type, intent_t.field("workspace").type
    persona_new = _struct(persona, persona_t, expertise=_filled_list(persona.field("expertise"), persona_t.field("expertise").type))
    ws_new = _struct(
        workspace,
        ws_t,
        files=_filled_list(workspace.field("files"), ws_t.field("files").type),
        setup=_filled_list(workspace.field("setup"), ws_t.field("setup").type),
    )
    intent_new = _struct(intent, intent_t, persona=persona_new, workspace=ws_new)

    def per_record(values, present, default="{}"):
        """One string per record: the record's value, or `default` where it had none."""
        if present.all():
            return values
        out = np.full(n_rows, default, dtype=object)
        out[np.flatnonzero(present)] = values.to_pylist()
        return pa.array(out.tolist(), pa.string())

    seeds_col = per_record(seeds, seeds_n)
    pv_col = per_record(pv_strings, pv_n)
    prov_new = _struct(prov, st.field("provenance").type, seeds=seeds_col, prompt_versions=pv_col)
    versions_per_row = [{}] * n_rows
    for r, v in zip(np.flatnonzero(pv_n).tolist(), versions):
        versions_per_row[r] = v

    columns = {
        "id": col["id"],
        "intent": intent_new,
        "messages": messages,
        "tools": tools_col,
        "executions": executions,
        "outcome": col["outcome"],
        "verification": verification,
        "stats": stats_new,
        "provenance": prov_new,
    }
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema), versions_per_row
