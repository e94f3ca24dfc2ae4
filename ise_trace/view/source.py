"""What `ise-trace view` shows: the trajectories of a run folder or of a built dataset folder.

Both sources keep an index in memory with one small `Summary` per trajectory (what the list shows
and filters on) and where its full record lives; the full record is read only when a trajectory is
opened.

- A run folder (`ise-trace simulate --out`): `trajectories.jsonl` is indexed by byte offset. Every
  `refresh()` reads only what was appended since the last one, so a run that is still being written
  shows its new trajectories on the next request. The ledger's repair policy holds
  (`ise_trace.records`): a torn last line is not a record yet; a bad line anywhere else is an error
  naming file:line. A record written twice by a resumed run is listed once (the first, as `build`
  keeps it).
- A dataset folder (`ise-trace build --out`): the shards under `data/trajectories/` are indexed by
  (shard, row) from the list columns alone (`LIST_LEAVES`: ids, intent text, persona, domains,
  outcome, verification, stats, agent model), read with pyarrow in batches; messages, workspace
  files and outputs are never read for the list. Opening a trajectory reads the one row group that
  holds it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..dataset.ledger import TRAJECTORIES_FILE
from ..dataset.shards import SHARD_NAME
from ..dataset.splits import SPLITS
from ..errors import UserError, where
from ..records import RecordError, _is_json, parse_dict, validate
from ..schemas import Trajectory

VERIFICATION = ("passed", "failed", "unverified")
FIX = "fix or remove that line, or rerun `ise-trace simulate` into this folder to repair its ledger"


@dataclass(slots=True)
class Summary:
    """One row of the list: what it shows and what the filters read."""

    pos: int  # position in the source's index: the handle the pages use
    id: str
    text: str
    persona: str
    role: str
    complexity: str
    domains: list[str]
    model: str
    outcome: str
    verified: bool | None
    user_turns: int
    tool_calls: int
    failed_calls: int
    recovered_calls: int
    drift_turns: int
    split: str | None = None

    @property
    def verification(self) -> str:
        return "unverified" if self.verified is None else ("passed" if self.verified else "failed")

    @property
    def false_success(self) -> bool:
        return self.outcome == "success" and self.verified is False

    def haystack(self) -> str:
        return " ".join([self.id, self.text, self.persona, self.role, self.model, *self.domains]).lower()

    def as_json(self) -> dict[str, Any]:
        return {
            "pos": self.pos, "id": self.id, "text": self.text, "persona": self.persona, "role": self.role,
            "complexity": self.complexity, "domains": self.domains, "model": self.model, "outcome": self.outcome,
            "verification": self.verification, "false_success": self.false_success, "user_turns": self.user_turns,
            "tool_calls": self.tool_calls, "failed_calls": self.failed_calls, "recovered_calls": self.recovered_calls,
            "drift_turns": self.drift_turns, "split": self.split,
        }  # fmt: skip


def summary_of(pos: int, d: dict[str, Any], split: str | None = None) -> Summary:
    """A Summary from a trajectory as a plain dict (a ledger line, or a dataset row's list columns)."""
    intent = d.get("intent") or {}
    persona = intent.get("persona") or {}
    stats = d.get("stats") or {}
    verification = d.get("verification") or {}
    return Summary(
        pos=pos,
        id=str(d.get("id", "")),
        text=intent.get("text") or "",
        persona=persona.get("name") or "",
        role=persona.get("role") or "",
        complexity=intent.get("complexity") or "",
        domains=[x.get("name") or "" for x in intent.get("domains") or ()],
        model=(d.get("provenance") or {}).get("agent_model") or "",
        outcome=(d.get("outcome") or {}).get("status") or "",
        verified=verification.get("passed"),
        user_turns=int(stats.get("user_turns") or 0),
        tool_calls=int(stats.get("tool_calls") or 0),
        failed_calls=int(stats.get("failed_calls") or 0),
        recovered_calls=int(stats.get("recovered_calls") or 0),
        drift_turns=int(stats.get("drift_turns") or 0),
        split=split,
    )


# ------------------------------------------------------------------------------------ queries

FILTERS = ("outcome", "verification", "domain", "complexity", "model", "failed", "q")
SORTS = {
    "order": None,
    "failed": lambda s: -s.failed_calls,
    "tool_calls": lambda s: -s.tool_calls,
    "user_turns": lambda s: -s.user_turns,
}
MAX_LIMIT = 500


@dataclass
class Query:
    """The list's filters, paging and order, as the page sends them (empty = no filter)."""

    outcome: str = ""
    verification: str = ""  # passed | failed | unverified | false_success
    domain: str = ""
    complexity: str = ""
    model: str = ""
    failed: bool = False  # only trajectories with a failed tool call
    q: str = ""  # words that must all appear in id, intent text, persona, model or domains
    offset: int = 0
    limit: int = 50
    sort: str = "order"

    @classmethod
    def from_params(cls, params: dict[str, str]) -> Query:
        def number(name: str, default: int) -> int:
            try:
                return max(0, int(params.get(name, default)))
            except ValueError:
                return default

        return cls(
            **{k: params.get(k, "") for k in ("outcome", "verification", "domain", "complexity", "model", "q")},
            failed=params.get("failed", "") in ("1", "true", "yes", "on"),
            offset=number("offset", 0),
            limit=min(MAX_LIMIT, number("limit", 50) or 50),
            sort=params.get("sort", "order") if params.get("sort") in SORTS else "order",
        )

    def matches(self, s: Summary, words: list[str]) -> bool:
        if self.outcome and s.outcome != self.outcome:
            return False
        if self.verification:
            if self.verification == "false_success":
                if not s.false_success:
                    return False
            elif s.verification != self.verification:
                return False
        if self.domain and self.domain not in s.domains:
            return False
        if self.complexity and s.complexity != self.complexity:
            return False
        if self.model and s.model != self.model:
            return False
        if self.failed and not s.failed_calls:
            return False
        if words:
            hay = s.haystack()
            return all(w in hay for w in words)
        return True


def facets(rows: list[Summary]) -> dict[str, Any]:
    """Counts per filter value over `rows`: what the filter menus offer."""
    domains: Counter = Counter()
    for s in rows:
        domains.update(s.domains)
    verification = Counter(s.verification for s in rows)
    return {
        "outcome": dict(Counter(s.outcome for s in rows).most_common()),
        "verification": {k: verification.get(k, 0) for k in VERIFICATION}
        | {"false_success": sum(s.false_success for s in rows)},
        "domain": dict(sorted(domains.items())),
        "complexity": dict(Counter(s.complexity for s in rows).most_common()),
        "model": dict(Counter(s.model for s in rows).most_common()),
        "failed": sum(1 for s in rows if s.failed_calls),
    }


def run_query(rows: list[Summary], query: Query) -> dict[str, Any]:
    """One page of the rows that match, with the counts of all that match and the menus' facets."""
    words = query.q.lower().split()
    matched = [s for s in rows if query.matches(s, words)]
    key = SORTS[query.sort]
    if key is not None:
        matched.sort(key=key)  # stable: ties keep the source's order
    page = matched[query.offset : query.offset + query.limit]
    return {
        "total": len(rows),
        "matched": len(matched),
        "offset": query.offset,
        "limit": query.limit,
        "rows": [s.as_json() for s in page],
        "counts": facets(matched),
        "facets": facets(rows),
    }


# ------------------------------------------------------------------------------------ sources


class Source:
    """The common face of both sources; `refresh()` before reading `rows`."""

    kind: str
    path: Path
    rows: list[Summary]

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._by_id: dict[str, int] = {}

    def refresh(self) -> None:
        """Bring the index up to date with what is on disk now."""

    def list(self, query: Query) -> dict[str, Any]:
        with self.lock:
            self.refresh()
            out = run_query(self.rows, query)
        out["source"] = self.describe()
        return out

    def position(self, trajectory_id: str) -> int | None:
        with self.lock:
            self.refresh()
            return self._by_id.get(trajectory_id)

    def trajectory(self, pos: int) -> dict[str, Any]:
        """The full record at `pos` as JSON-ready dict, with `view` (where it is, problems) added."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.path.name, "trajectories": len(self.rows)}


class RunSource(Source):
    """A run folder's trajectories.jsonl, indexed by byte offset and read incrementally."""

    kind = "run"

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.file = path / TRAJECTORIES_FILE
        self.rows = []
        self._offsets: list[tuple[int, int]] = []  # (byte offset, line number) per row
        self._scanned = 0  # bytes read up to the end of the last newline-terminated line
        self._line = 0  # lines (blank ones too) in those bytes
        self._provisional = 0  # rows at the end indexed from a last line without its newline
        self._identity: tuple[int, int] | None = None
        self.refresh()

    def _reset(self) -> None:
        self.rows, self._offsets, self._by_id = [], [], {}
        self._scanned = self._line = self._provisional = 0

    def refresh(self) -> None:
        try:
            st = self.file.stat()
        except FileNotFoundError:
            raise UserError(f"{self.file}: no such file any more; was the run folder moved or removed?") from None
        identity = (st.st_dev, st.st_ino)
        if identity != self._identity or st.st_size < self._scanned:  # replaced or rewritten: start over
            self._reset()
            self._identity = identity
        if self._provisional:  # rescan a last line that had no newline yet
            for s in self.rows[-self._provisional :]:
                del self._by_id[s.id]
            del self.rows[-self._provisional :], self._offsets[-self._provisional :]
            self._provisional = 0
        if st.st_size == self._scanned:
            return
        with self.file.open("rb") as f:
            f.seek(self._scanned)
            data = f.read(st.st_size - self._scanned)
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:  # the last line has no newline yet: a record only if it is whole JSON
                tail = data[start:]
                if tail.strip() and _is_json(tail):
                    self._add(self._scanned + start, self._line + 1, tail, provisional=True)
                break
            self._line += 1
            self._add(self._scanned + start, self._line, data[start:end], provisional=False)
            start = end + 1
        self._scanned += data.rfind(b"\n") + 1 if b"\n" in data else 0

    def _add(self, offset: int, number: int, raw: bytes, *, provisional: bool) -> None:
        if not raw.strip():
            return
        d = parse_dict(self.file, number, raw, FIX)
        if str(d.get("id", "")) in self._by_id:  # a resumed run wrote it twice: keep the first
            return
        s = summary_of(len(self.rows), d)
        self.rows.append(s)
        self._offsets.append((offset, number))
        self._by_id[s.id] = s.pos
        self._provisional += provisional

    def trajectory(self, pos: int) -> dict[str, Any]:
        with self.lock:
            offset, number = self._offsets[pos]
        with self.file.open("rb") as f:
            f.seek(offset)
            raw = f.readline()
        view = {"pos": pos, "location": f"{TRAJECTORIES_FILE} line {number}", "problem": None}
        try:
            out = validate(self.file, number, Trajectory, raw, FIX).model_dump(mode="json")
        except RecordError as e:  # shown on the page rather than hidden
            out, view["problem"] = parse_dict(self.file, number, raw, FIX), str(e)
        out["view"] = view
        return out


# The columns the list reads from a dataset shard: leaf paths, list levels left out.
LIST_LEAVES = (
    "id",
    "intent.text",
    "intent.complexity",
    "intent.persona.name",
    "intent.persona.role",
    "intent.domains.name",
    "outcome.status",
    "verification.passed",
    "stats.user_turns",
    "stats.tool_calls",
    "stats.failed_calls",
    "stats.recovered_calls",
    "stats.drift_turns",
    "provenance.agent_model",
)
_LIST_LEVELS = {"list", "element", "item"}


def _leaf(path: str) -> str:
    return ".".join(p for p in path.split(".") if p not in _LIST_LEVELS)


def _shard_split(name: str) -> str:
    return name.split("-", 1)[0]


@dataclass
class _Shard:
    path: Path
    split: str
    row_group_starts: list[int] = field(default_factory=list)  # first row of each row group, and the total


class DatasetSource(Source):
    """The trajectories config of a dataset folder, indexed by (shard, row) from the list columns."""

    kind = "dataset"

    def __init__(self, path: Path, *, batch_size: int = 4096):
        super().__init__()
        self.path = path
        self.rows = []
        self.shards: list[_Shard] = []
        self._where: list[tuple[int, int]] = []  # (shard, row in shard) per row
        self.columns_read: set[str] = set()  # every column path read for the index, for the tests and -v
        self.row_groups_read = 0  # whole row groups read (one per trajectory opened)
        self._cache: tuple[tuple[int, int], Any] | None = None
        self._build(batch_size)

    def _shard_files(self) -> list[Path]:
        folder = self.path / "data" / "trajectories"
        files = [p for p in folder.glob("*.parquet") if SHARD_NAME.fullmatch(p.name)]
        order = {s: i for i, s in enumerate(SPLITS)}
        files.sort(key=lambda p: (order.get(_shard_split(p.name), len(order)), p.name))
        if not files:
            raise UserError(f"{folder}: no parquet shards (<split>-NNNNN-of-NNNNN-*.parquet); rebuild with `ise-trace build`")
        return files

    def _build(self, batch_size: int) -> None:
        import pyarrow.parquet as pq

        for shard_no, file in enumerate(self._shard_files()):
            try:
                pf = pq.ParquetFile(file)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise UserError(f"{file}: not a readable parquet file ({e}); rebuild the folder") from None
            meta = pf.metadata
            columns = [meta.schema.column(i).path for i in range(meta.num_columns)]
            wanted = [c for c in columns if _leaf(c) in LIST_LEAVES]
            if "id" not in wanted:
                raise UserError(f"{file}: not a trajectories shard of ise-trace (no 'id' column); rebuild the folder")
            self.columns_read.update(wanted)
            starts = [0]
            for g in range(meta.num_row_groups):
                starts.append(starts[-1] + meta.row_group(g).num_rows)
            shard = _Shard(file, _shard_split(file.name), starts)
            self.shards.append(shard)
            row = 0
            for batch in pf.iter_batches(batch_size=batch_size, columns=wanted):
                for d in batch.to_pylist():
                    s = summary_of(len(self.rows), d, shard.split)
                    self.rows.append(s)
                    self._where.append((shard_no, row))
                    self._by_id.setdefault(s.id, s.pos)
                    row += 1

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"shards": len(self.shards)}

    def _row(self, pos: int) -> tuple[dict[str, Any], str]:
        import bisect

        import pyarrow.parquet as pq

        shard_no, row = self._where[pos]
        shard = self.shards[shard_no]
        group = bisect.bisect_right(shard.row_group_starts, row) - 1
        with self.lock:
            if self._cache and self._cache[0] == (shard_no, group):
                table = self._cache[1]
            else:
                table = pq.ParquetFile(shard.path).read_row_group(group)
                self.row_groups_read += 1
                self._cache = ((shard_no, group), table)
        record = table.slice(row - shard.row_group_starts[group], 1).to_pylist()[0]
        rel = shard.path.relative_to(self.path).as_posix()
        return record, f"{rel} row {row}"

    def trajectory(self, pos: int) -> dict[str, Any]:
        record, location = self._row(pos)
        data = from_row(record)
        view = {"pos": pos, "location": location, "problem": None}
        try:
            out = Trajectory.model_validate(data).model_dump(mode="json")
        except ValidationError as e:  # shown on the page rather than hidden
            err = e.errors()[0]
            view["problem"] = f"{where(location, field='.'.join(map(str, err['loc'])))}: {err['msg']}"
            out = data
        out["view"] = view
        return out


_MESSAGE_KEYS = {
    "system": ("role", "content"),
    "user": ("role", "content"),
    "assistant": ("role", "content", "reasoning_content", "tool_calls"),
    "tool": ("role", "tool_call_id", "name", "content"),
}


def _json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _no_nulls(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dataset row back in the Trajectory's shape: `Json()` fields decoded, each message with the
    keys of its role only, absent optional fields absent again (parquet stores them as nulls)."""
    out = dict(row)
    messages = []
    for m in row.get("messages") or ():
        keys = _MESSAGE_KEYS.get(m.get("role"), tuple(m))
        msg = {k: m.get(k) for k in keys if m.get(k) is not None or k == "content"}
        if m.get("role") == "assistant":
            msg["tool_calls"] = [
                {**tc, "function": {**tc["function"], "arguments": _json_field(tc["function"].get("arguments")) or {}}}
                for tc in m.get("tool_calls") or ()
            ]
        messages.append(msg)
    out["messages"] = messages
    out["tools"] = [_json_field(t) for t in row.get("tools") or ()]
    intent = _no_nulls(dict(row.get("intent") or {}))
    if isinstance(intent.get("workspace"), dict):
        ws = _no_nulls(intent["workspace"])
        ws["files"] = [_no_nulls(f) for f in ws.get("files") or ()]
        intent["workspace"] = ws
    out["intent"] = intent
    out["executions"] = [_no_nulls(e) | {"exit_code": e.get("exit_code")} for e in row.get("executions") or ()]
    if row.get("verification") is None:
        out.pop("verification", None)
    else:
        v = _no_nulls(dict(row["verification"])) | {"passed": row["verification"].get("passed")}
        v["checks"] = [c | {"output": c.get("output") or ""} for c in v.get("checks") or ()]
        out["verification"] = v
    prov = _no_nulls(dict(row.get("provenance") or {}))
    for k in ("seeds", "prompt_versions"):
        if k in prov:
            prov[k] = _json_field(prov[k]) or {}
    out["provenance"] = prov
    out["stats"] = _no_nulls(dict(row.get("stats") or {}))
    return out


def open_source(path: str | Path) -> Source:
    """The source at `path`, or one clear UserError saying what `view` expects there."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such folder; give a run folder of `ise-trace simulate` or a dataset folder of `ise-trace build`")
    if not path.is_dir():
        raise UserError(f"{path}: not a folder; give a run folder (with {TRAJECTORIES_FILE}) or a dataset folder (with data/trajectories/)")
    if (path / "data" / "trajectories").is_dir():
        return DatasetSource(path)
    if (path / TRAJECTORIES_FILE).is_file():
        return RunSource(path)
    raise UserError(
        f"{path}: neither a run folder ({TRAJECTORIES_FILE}) nor a dataset folder (data/trajectories/); "
        "give the --out folder of `ise-trace simulate` or of `ise-trace build`"
    )
