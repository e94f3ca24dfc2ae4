"""Write the dataset folder: parquet shards per config and split, plots, and the rendered card.

Everything goes into a temporary folder beside the target, which replaces the target only when
the whole build succeeded (`fsio.atomic_dir`): a failed or interrupted build leaves the previous
folder as it was and nothing half-written.
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
        self.agent_models[p.agent_model] += 1
        self.user_models[p.user_model] += 1
        self.sandbox_images[p.sandbox_image] += 1
        self.versions[p.ise_trace_version] += 1
        for k, v in p.prompt_versions.items():
            self.prompt_versions.setdefault(k, set()).add(v)
        self.first = min(self.first or p.created_at, p.created_at)
        self.last = max(self.last or p.created_at, p.created_at)

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


@dataclass
class _TrajectoryPass:
    """What one pass over the ledger gathers besides the shards it writes."""

    splits: dict[str, SplitInfo]
    stats: StatsAccumulator
    provenance: ProvenanceSummary
    intents: dict[str, Intent]
    duplicates: int


def _write_trajectories(run: RunDir, folder: Path, build: BuildConfig, show_progress: bool) -> _TrajectoryPass:
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
        raise LedgerError(f"{run.trajectories_file}: no trajectories yet; let `ise-trace simulate` finish some, then build")
    return _TrajectoryPass(writer.close(), acc, prov, intents, duplicates)


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
) -> BuildResult:
    """Build the dataset folder `out` from a run directory (and optionally the intents file)."""
    if build.validation_fraction + build.test_fraction >= 1:
        raise ConfigError("validation_fraction + test_fraction must leave some intents for train (sum < 1)")
    check_template(template)
    run = RunDir(Path(run_dir))
    out = Path(out)

    with atomic_dir(out) as tmp:
        traj = _write_trajectories(run, tmp / "data" / "trajectories", build, show_progress)
        # The intents config holds every intent given (also those without a trajectory), or, with
        # no intents file, the intents the trajectories pursued.
        intents = traj.intents
        if intents_file is not None:
            intents = {}
            for intent in read_intents(intents_file):
                intents.setdefault(intent.id, intent)
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
