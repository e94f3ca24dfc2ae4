"""Write the dataset folder: parquet shards per config and split, plots, and the rendered card.

Everything goes into a temporary folder beside the target, which replaces the target only when
the whole build succeeded (`fsio.atomic_dir`): a failed or interrupted build leaves the previous
folder as it was and nothing half-written.

The ledger is read in bounded chunks straight into Arrow (`fast_rows`, the default); the record
path (one pydantic object per line, `reader="records"`) gives the same rows and is what the fast
path falls back to, chunk by chunk, for anything it does not take.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..config import BuildConfig
from ..errors import ConfigError
from ..fsio import atomic_dir, write_text_atomic
from ..progress import Progress
from ..schemas import Intent, Trajectory
from .card import (
    DEFAULT_TEMPLATE,
    ConfigFiles,
    SplitFiles,
    card_context,
    card_data_yaml,
    check_template,
    render_card,
)
from .features import intent_features, intent_row, trajectory_features, trajectory_row
from .ledger import LedgerError, RunDir, read_intents
from .plots import write_plots
from .shards import ShardedWriter, SplitInfo
from .splits import SPLITS, split_of
from .statistics import CorpusStats, StatsAccumulator, TrajectorySummary

MIB = 1024 * 1024


@dataclass
class ProvenanceSummary:
    """Which models, images and versions made the corpus (a corpus may mix several)."""

    agent_models: Counter = field(default_factory=Counter)
    user_models: Counter = field(default_factory=Counter)
    sandbox_images: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)
    prompt_versions: dict[str, set[str]] = field(default_factory=dict)
    first: str | None = None
    last: str | None = None

    def add(self, t: Trajectory) -> None:
        p = t.provenance
        self.add_values(p.agent_model, p.user_model, p.sandbox_image, p.ise_trace_version, p.prompt_versions, p.created_at)

    def add_values(
        self,
        agent_model: str,
        user_model: str,
        sandbox_image: str,
        ise_trace_version: str,
        prompt_versions: dict[str, str],
        created_at: str,
    ) -> None:
        self.agent_models[agent_model] += 1
        self.user_models[user_model] += 1
        self.sandbox_images[sandbox_image] += 1
        self.versions[ise_trace_version] += 1
        for k, v in prompt_versions.items():
            self.prompt_versions.setdefault(k, set()).add(v)
        self.first = min(self.first or created_at, created_at)
        self.last = max(self.last or created_at, created_at)

    def table(self) -> dict[str, str]:
        def names(c: Counter) -> str:
            return ", ".join(f"`{k}` ({n})" for k, n in c.most_common()) or "n/a"

        return {
            "agent model": names(self.agent_models),
            "user simulator model": names(self.user_models),
            "sandbox image": names(self.sandbox_images),
            "ise-trace version (generation)": names(self.versions),
            "prompt versions": ", ".join(f"{k}={'/'.join(sorted(v))}" for k, v in sorted(self.prompt_versions.items()))
            or "n/a",
            "generated": f"{self.first} .. {self.last}" if self.first else "n/a",
        }


@dataclass
class BuildResult:
    out: Path
    stats: CorpusStats
    files: dict[str, dict[str, list[str]]]  # config -> split -> relative parquet paths
    duplicates: int  # ledger records dropped because their id was already seen


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


READERS = ("fast", "records")


@dataclass
class _IntentFacts:
    """What the statistics read of an intent (`StatsAccumulator.add_intent`)."""

    id: str
    text: str
    has_task: bool


@dataclass
class _IntentRows:
    """The intents the trajectories pursued, first occurrence of each id, kept as Arrow rows."""

    ids: set[str] = field(default_factory=set)
    tables: list = field(default_factory=list)  # pyarrow.Tables in the intents config's storage schema

    def add(self, intent, intent_ids: list[str]) -> None:
        import pyarrow as pa

        keep = []
        for intent_id in intent_ids:
            keep.append(intent_id not in self.ids)
            self.ids.add(intent_id)
        if any(keep):
            self.tables.append(pa.Table.from_struct_array(intent.filter(pa.array(keep))))


@dataclass
class _TrajectoryPass:
    """What one pass over the ledger gathers besides the shards it writes."""

    splits: dict[str, SplitInfo]
    stats: StatsAccumulator
    provenance: ProvenanceSummary
    intents: dict[str, Intent] | _IntentRows
    duplicates: int


def _ledger_fix(run: RunDir) -> str:
    """What `RunDir.trajectories` tells the user to do about a bad line."""
    return (
        "it is not a trajectory as ise-trace writes them (another tool or version, or an edit): "
        f"remove that line and rerun `ise-trace simulate --out {run.path}` to simulate its intent again"
    )


def _no_trajectories(run: RunDir) -> LedgerError:
    return LedgerError(f"{run.trajectories_file}: no trajectories yet; let `ise-trace simulate` finish some, then build")


def _write_trajectories(run: RunDir, folder: Path, build: BuildConfig, show_progress: bool) -> _TrajectoryPass:
    """The record path: one validated pydantic object per line."""
    writer = ShardedWriter(folder, trajectory_features(), int(build.max_shard_mb * MIB))
    acc, prov = StatsAccumulator(), ProvenanceSummary()
    intents: dict[str, Intent] = {}
    seen: set[str] = set()
    duplicates = 0
    progress = Progress(total=_count_lines(run.trajectories_file), label="build") if show_progress else None
    for t in run.trajectories():
        if t.id in seen:  # a resumed run may have written a record twice: keep the first
            duplicates += 1
            if progress:
                progress.update(ok=False, duplicates=duplicates)
            continue
        seen.add(t.id)
        writer.add(split_of(t.intent.id, build.validation_fraction, build.test_fraction), trajectory_row(t))
        acc.add(TrajectorySummary.of(t))
        prov.add(t)
        intents.setdefault(t.intent.id, t.intent)
        if progress:
            progress.update()
    if progress:
        progress.close()
    if not seen:
        raise _no_trajectories(run)
    return _TrajectoryPass(writer.close(), acc, prov, intents, duplicates)


def _write_trajectories_fast(
    run: RunDir, folder: Path, build: BuildConfig, show_progress: bool, chunk_bytes: int | None = None
) -> _TrajectoryPass:
    """The fast path: the ledger in bounded chunks straight into Arrow, the same rows and figures."""
    import pyarrow as pa

    from .fast_rows import CHUNK_BYTES, FastReader

    writer = ShardedWriter(folder, trajectory_features(), int(build.max_shard_mb * MIB))
    acc, prov, intents = StatsAccumulator(), ProvenanceSummary(), _IntentRows()
    seen: set[str] = set()
    duplicates = 0
    progress = Progress(total=_count_lines(run.trajectories_file), label="build") if show_progress else None
    reader = FastReader(run.trajectories_file, fix=_ledger_fix(run), chunk_bytes=chunk_bytes or CHUNK_BYTES)
    for batch in reader.batches():
        table, versions = batch.table, batch.prompt_versions
        keep = []
        for tid in table.column("id").to_pylist():  # a resumed run may have written a record twice: keep the first
            keep.append(tid not in seen)
            seen.add(tid)
        dropped = keep.count(False)
        if dropped:
            duplicates += dropped
            table = table.filter(pa.array(keep))
            versions = [v for v, k in zip(versions, keep) if k]
            if progress:
                progress.update(ok=False, n=dropped, duplicates=duplicates)
        if not table.num_rows:
            continue
        intent = table.column("intent").combine_chunks()
        intent_ids = intent.field("id").to_pylist()
        splits = [split_of(i, build.validation_fraction, build.test_fraction) for i in intent_ids]
        for split in SPLITS:
            mask = [s == split for s in splits]
            if any(mask):
                writer.add_table(split, table.filter(pa.array(mask)))
        for summary in _summaries(table, intent_ids):
            acc.add(summary)
        _add_provenance(prov, table, versions)
        intents.add(intent, intent_ids)
        if progress:
            progress.update(n=table.num_rows)
    if progress:
        progress.close()
    if not seen:
        raise _no_trajectories(run)
    return _TrajectoryPass(writer.close(), acc, prov, intents, duplicates)


def _list_offsets(lst) -> list[int]:
    """Offsets of a ListArray into its `flatten()`ed values (null entries are empty)."""
    offsets = lst.offsets.to_numpy()
    return (offsets - offsets[0]).tolist()


def _summaries(table, intent_ids: list[str]):
    """`TrajectorySummary.of` for every row of an Arrow table of trajectories."""
    intent = table.column("intent").combine_chunks()
    domains = intent.field("domains")
    domain_names, domain_off = domains.flatten().field("name").to_pylist(), _list_offsets(domains)
    messages = table.column("messages").combine_chunks()
    msg_off = _list_offsets(messages)
    tool_calls = messages.flatten().field("tool_calls")
    call_off = _list_offsets(tool_calls)
    call_names = tool_calls.flatten().field("function").field("name").to_pylist()
    outcome, stats = table.column("outcome").combine_chunks(), table.column("stats").combine_chunks()
    columns = {name: stats.field(name).to_pylist() for name in (
        "user_turns", "dialogue_turns", "tool_calls", "unique_tools", "failed_calls", "recovered_calls", "drift_turns",
        "scripted_turns",
    )}  # fmt: skip
    complexity, status = intent.field("complexity").to_pylist(), outcome.field("status").to_pylist()
    verified = table.column("verification").combine_chunks().field("passed").to_pylist()
    for r, intent_id in enumerate(intent_ids):
        yield TrajectorySummary(
            intent_id=intent_id,
            complexity=complexity[r],
            domains=domain_names[domain_off[r] : domain_off[r + 1]],
            status=status[r],
            tools=call_names[call_off[msg_off[r]] : call_off[msg_off[r + 1]]],
            verified=verified[r],
            **{name: values[r] for name, values in columns.items()},
        )


def _add_provenance(prov: ProvenanceSummary, table, versions: list[dict[str, str]]) -> None:
    p = table.column("provenance").combine_chunks()
    names = ("agent_model", "user_model", "sandbox_image", "ise_trace_version")
    columns = [p.field(n).to_pylist() for n in names]
    created = p.field("created_at").to_pylist()
    for r, pv in enumerate(versions):
        prov.add_values(*(c[r] for c in columns), pv, created[r])


def _write_intent_rows(rows: _IntentRows, folder: Path, build: BuildConfig, acc: StatsAccumulator) -> dict[str, SplitInfo]:
    """The intents config from the Arrow rows of the trajectories' intents, in first-seen order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    writer = ShardedWriter(folder, intent_features(), int(build.max_shard_mb * MIB))
    for table in rows.tables:
        ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
        n_checks = pc.fill_null(pc.list_value_length(table.column("checks")), 0).to_pylist()
        for i, text, n in zip(ids, texts, n_checks):
            acc.add_intent(_IntentFacts(i, text, n > 0))  # Intent.has_task: bool(checks)
        splits = [split_of(i, build.validation_fraction, build.test_fraction) for i in ids]
        for split in SPLITS:
            mask = [s == split for s in splits]
            if any(mask):
                writer.add_table(split, table.filter(pa.array(mask)))
    return writer.close()


def _write_intents(intents: dict[str, Intent], folder: Path, build: BuildConfig, acc: StatsAccumulator) -> dict[str, SplitInfo]:
    writer = ShardedWriter(folder, intent_features(), int(build.max_shard_mb * MIB))
    for intent in intents.values():
        acc.add_intent(intent)
        writer.add(split_of(intent.id, build.validation_fraction, build.test_fraction), intent_row(intent))
    return writer.close()


def build_folder(
    build: BuildConfig,
    out: str | Path,
    *,
    run_dir: str | Path,
    intents_file: str | Path | None = None,
    template: Path = DEFAULT_TEMPLATE,
    show_progress: bool = True,
    reader: str = "fast",
) -> BuildResult:
    """Build the dataset folder `out` from a run directory (and optionally the intents file).

    `reader` is how the ledger is read: "fast" (chunks straight into Arrow) or "records" (one
    pydantic object per line, the reference path); both write the same rows, statistics and card.
    """
    if reader not in READERS:
        raise ConfigError(f"reader {reader!r}: expected one of {', '.join(READERS)}")
    if build.validation_fraction + build.test_fraction >= 1:
        raise ConfigError("validation_fraction + test_fraction must leave some intents for train (sum < 1)")
    check_template(template)
    run = RunDir(Path(run_dir))
    out = Path(out)

    with atomic_dir(out) as tmp:
        write = _write_trajectories_fast if reader == "fast" else _write_trajectories
        traj = write(run, tmp / "data" / "trajectories", build, show_progress)
        # The intents config holds every intent given (also those without a trajectory), or, with
        # no intents file, the intents the trajectories pursued.
        intents = traj.intents
        if intents_file is not None:
            intents = {}
            for intent in read_intents(intents_file):
                intents.setdefault(intent.id, intent)
        if isinstance(intents, _IntentRows):
            intent_splits = _write_intent_rows(intents, tmp / "data" / "intents", build, traj.stats)
        else:
            intent_splits = _write_intents(intents, tmp / "data" / "intents", build, traj.stats)

        stats = traj.stats.result(
            failures=run.failure_count(),
            splits={s: traj.splits[s].num_rows for s in SPLITS if s in traj.splits},
            embedder=build.embedder if build.vendi else None,
        )
        configs = [
            _config_files(tmp, "trajectories", trajectory_features(), traj.splits),
            _config_files(tmp, "intents", intent_features(), intent_splits),
        ]
        split_rows = [
            {"name": s, "trajectories": _rows(traj.splits, s), "intents": _rows(intent_splits, s)} for s in SPLITS
        ]
        context = card_context(
            build=build,
            stats=stats,
            card_data=card_data_yaml(build, [c for c in configs if c.splits], stats.trajectories),
            plots=write_plots(stats, tmp / "assets"),
            splits=split_rows,
            provenance=traj.provenance.table(),
            run_info=run.run_info(),
            built_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            ise_trace_version=__version__,
        )
        write_text_atomic(tmp / "README.md", render_card(template, context))
        files = {c.name: {s: v.files for s, v in c.splits.items()} for c in configs if c.splits}

    return BuildResult(out=out, stats=stats, files=files, duplicates=traj.duplicates)


def _rows(splits: dict[str, SplitInfo], split: str) -> int:
    return splits[split].num_rows if split in splits else 0


def _config_files(root: Path, name: str, features, splits: dict[str, SplitInfo]) -> ConfigFiles:
    cfg = ConfigFiles(name=name, features=features)
    for split in SPLITS:  # the Hub shows splits in the order of the YAML
        info = splits.get(split)
        if info is not None and info.num_rows:
            folder = info.files[0].parent.relative_to(root).as_posix()
            cfg.splits[split] = SplitFiles(
                files=[p.relative_to(root).as_posix() for p in info.files],
                glob=f"{folder}/{info.glob}",
                num_rows=info.num_rows,
                num_bytes=info.num_bytes,
            )
    return cfg
