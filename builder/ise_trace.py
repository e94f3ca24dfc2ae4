"""The `datasets` builder of ise-trace: a GeneratorBasedBuilder over the library.

datasets 4 and later no longer run builder scripts, so the class is used directly:

    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("ise_trace_builder", "builder/ise_trace.py")
    module = sys.modules["ise_trace_builder"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    builder = module.IseTrace(config_name="demo", run_dir="runs/r1")            # trajectories
    builder = module.IseTrace(config_name="demo", run_dir="runs/r1", subset="intents")
    builder.download_and_prepare()
    dataset = builder.as_dataset()

Configs `demo` and `paper` carry the parameters of `ise_trace.config.BUILD_PRESETS`; any field of
`IseTraceConfig` set as a keyword overrides them. Without `run_dir` the builder runs the stages it
needs (Stage I, then Stage S+E) in `work_dir`, reusing what an earlier run finished there.

The stages run through `ise_trace.orchestrate`, the path `ise-trace build` and `ise-trace demo`
take too, and the rows, features and splits are the library's: the builder's dataset and the
folder `ise-trace build` writes (parquet shards plus the rendered card) hold the same rows.
"""

import dataclasses
from pathlib import Path

import datasets

from ise_trace.config import BUILD_PRESETS, BuildConfig
from ise_trace.dataset.features import intent_features, intent_row, trajectory_features, trajectory_row
from ise_trace.dataset.ledger import RunDir, read_intents
from ise_trace.dataset.splits import SPLITS, split_of
from ise_trace.orchestrate import prepare_inputs

SUBSETS = ("trajectories", "intents")


@dataclasses.dataclass
class IseTraceConfig(datasets.BuilderConfig):
    """A build preset; fields left None take the preset's value."""

    subset: str = "trajectories"
    run_dir: str | None = None
    intents_file: str | None = None
    work_dir: str | None = None
    n_intents: int | None = None
    seed: int | None = None
    backend: str | None = None
    model: str | None = None
    base_url: str | None = None
    max_user_turns: int | None = None
    validation_fraction: float | None = None
    test_fraction: float | None = None

    def build_config(self) -> BuildConfig:
        base = BUILD_PRESETS.get(self.name, BUILD_PRESETS["demo"]).model_dump()
        for f in BuildConfig.model_fields:
            value = getattr(self, f, None)
            if f != "name" and value is not None:
                base[f] = value
        return BuildConfig(**base)


class IseTrace(datasets.GeneratorBasedBuilder):
    """Execution-grounded multi-turn OS-agent trajectories (Intent -> Simulate -> Execute)."""

    BUILDER_CONFIG_CLASS = IseTraceConfig
    BUILDER_CONFIGS = [
        IseTraceConfig(name="demo", description="Embedded model, a handful of intents: minutes on a CPU."),
        IseTraceConfig(name="paper", description="The paper's parameters (arXiv 2606.11520)."),
    ]
    DEFAULT_CONFIG_NAME = "demo"

    def _info(self) -> datasets.DatasetInfo:
        if self.config.subset not in SUBSETS:
            raise ValueError(f"subset={self.config.subset!r}: expected one of {', '.join(SUBSETS)}")
        features = trajectory_features() if self.config.subset == "trajectories" else intent_features()
        return datasets.DatasetInfo(
            description="Multi-turn conversations of a simulated user and an OS agent, every tool call executed.",
            features=features,
            license=self.config.build_config().license,
        )

    def _split_generators(self, dl_manager):
        build = self.config.build_config()
        work = Path(self.config.work_dir or Path("ise-trace-runs") / build.name)
        inputs = prepare_inputs(
            build,
            work,
            intents_file=Path(self.config.intents_file) if self.config.intents_file else None,
            run_dir=Path(self.config.run_dir) if self.config.run_dir else None,
        )
        build_kwargs = {"build": build, "run_dir": inputs.run_dir, "intents_file": inputs.intents_file}
        present = {split for split, _, _ in self._rows(**build_kwargs)}
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"split": split, **build_kwargs})
            for split in SPLITS
            if split in present
        ]

    def _rows(self, build: BuildConfig, run_dir: Path, intents_file: Path | None):
        """(split, key, row) for every record of the chosen subset, deduplicated by id."""
        seen: set[str] = set()
        if self.config.subset == "intents" and intents_file is not None:
            source = ((i.id, i) for i in read_intents(intents_file))
            to_row = intent_row
        elif self.config.subset == "intents":
            source = ((t.intent.id, t.intent) for t in RunDir(run_dir).trajectories())
            to_row = intent_row
        else:
            source = ((t.id, t) for t in RunDir(run_dir).trajectories())
            to_row = trajectory_row
        for key, record in source:
            if key in seen:
                continue
            seen.add(key)
            intent_id = record.id if self.config.subset == "intents" else record.intent.id
            yield split_of(intent_id, build.validation_fraction, build.test_fraction), key, to_row(record)

    def _generate_examples(self, split: str, build: BuildConfig, run_dir: Path, intents_file: Path | None):
        for row_split, key, row in self._rows(build, run_dir, intents_file):
            if row_split == split:
                yield key, row
