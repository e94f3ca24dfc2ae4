"""Statistics of a corpus on disk: a built dataset folder (parquet) or a simulation run directory."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..errors import UserError
from .ledger import TRAJECTORIES_FILE, RunDir, read_intents
from .splits import SPLITS
from .statistics import CorpusStats, StatsAccumulator, TrajectorySummary

_COLUMNS = ["intent", "outcome", "stats", "messages"]


def stats_of(path: str | Path, *, embedder: str | None = None, intents_file: str | Path | None = None) -> CorpusStats:
    """Statistics of `path`, whichever of the two it is; `embedder=None` skips Vendi."""
    path = Path(path)
    if (path / "data" / "trajectories").is_dir():
        return stats_of_folder(path, embedder=embedder)
    if (path / TRAJECTORIES_FILE).exists():
        return stats_of_run(path, embedder=embedder, intents_file=intents_file)
    raise UserError(
        f"{path}: neither a dataset folder (data/trajectories/) nor a run directory ({TRAJECTORIES_FILE}); "
        f"give the --out folder of `ise-trace build` or of `ise-trace simulate`"
    )


def stats_of_run(path: Path, *, embedder: str | None, intents_file: str | Path | None = None) -> CorpusStats:
    run = RunDir(path)
    acc = StatsAccumulator()
    seen: set[str] = set()
    for t in run.trajectories():
        if t.id in seen:
            continue
        seen.add(t.id)
        acc.add(TrajectorySummary.of(t))
        acc.intent_texts.setdefault(t.intent.id, t.intent.text)
    if intents_file is not None:
        acc.intent_texts = {}
        for intent in read_intents(intents_file):
            acc.add_intent(intent)
    return acc.result(failures=run.failure_count(), embedder=embedder)


def stats_of_folder(path: Path, *, embedder: str | None) -> CorpusStats:
    import pyarrow.parquet as pq

    acc = StatsAccumulator()
    splits: dict[str, int] = {}
    for split in SPLITS:
        files = sorted((path / "data" / "trajectories").glob(f"{split}-*.parquet"))
        for f in files:
            try:
                pf = pq.ParquetFile(f)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise UserError(f"{f}: not a readable parquet file ({e}); rebuild the folder") from None
            columns = _COLUMNS + [c for c in ("verification",) if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=512, columns=columns):
                for s in _summaries(batch):
                    acc.add(s)
                splits[split] = splits.get(split, 0) + batch.num_rows
    intent_dir = path / "data" / "intents"
    for f in sorted(intent_dir.glob("*.parquet")) if intent_dir.is_dir() else ():
        pf = pq.ParquetFile(f)
        has_checks = "checks" in pf.schema_arrow.names
        for batch in pf.iter_batches(batch_size=4096, columns=["id", "text"] + (["checks"] if has_checks else [])):
            ids = batch.column("id").to_pylist()
            acc.intent_texts.update(zip(ids, batch.column("text").to_pylist()))
            if has_checks:
                acc.intent_tasks.update((i, bool(c)) for i, c in zip(ids, batch.column("checks").to_pylist()))
    return acc.result(splits=splits, embedder=embedder)


def _summaries(batch) -> list[TrajectorySummary]:
    """Per-row summaries from Arrow columns; tool names come out of the nested messages column
    without turning whole conversations into Python objects."""
    import pyarrow.compute as pc

    msgs = batch.column("messages")
    tools: dict[int, list[str]] = defaultdict(list)
    # Arrow cannot take a field out of an empty list of structs holding JSON columns: a batch
    # whose trajectories made no tool call at all (an episode that ended before its first turn).
    flat = pc.list_flatten(msgs)
    tcs = pc.struct_field(flat, "tool_calls") if len(flat) else None
    if tcs is not None and (pc.sum(pc.list_value_length(tcs)).as_py() or 0) > 0:
        call_row = pc.take(pc.list_parent_indices(msgs), pc.list_parent_indices(tcs)).to_pylist()
        names = pc.struct_field(pc.list_flatten(tcs), ["function", "name"]).to_pylist()
    else:
        call_row, names = [], []
    for row, name in zip(call_row, names):
        tools[row].append(name)

    intent = batch.column("intent")
    ids = pc.struct_field(intent, "id").to_pylist()
    complexity = pc.struct_field(intent, "complexity").to_pylist()
    domains = pc.struct_field(intent, "domains").to_pylist()
    status = pc.struct_field(batch.column("outcome"), "status").to_pylist()
    st = batch.column("stats").to_pylist()
    names_ = batch.schema.names
    verified = (pc.struct_field(batch.column("verification"), "passed").to_pylist() if "verification" in names_
                else [None] * batch.num_rows)  # a folder built before executable tasks
    return [
        TrajectorySummary(
            intent_id=ids[i],
            complexity=complexity[i],
            domains=[d["name"] for d in domains[i]],
            status=status[i],
            tools=tools.get(i, []),
            verified=verified[i],
            **{k: v for k, v in st[i].items()},
        )
        for i in range(batch.num_rows)
    ]
