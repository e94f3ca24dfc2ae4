"""README.md of a dataset folder, rendered from the `dataset_card.md` template.

The YAML header (licence, `configs:` with data files per split, `dataset_info` with the explicit
features) is produced with the same helpers `datasets` uses for its own pushes, so `load_dataset`
reads the folder with our features, not inferred ones. The prose comes from the template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import BuildConfig
from ..errors import UserError, where
from ..resources import resource
from .statistics import CorpusStats

# The wheel's packaged copy, or dataset_card.md of a checkout; `--card-template` points elsewhere.
DEFAULT_TEMPLATE = resource("dataset_card.md")

CONFIGS = ("trajectories", "intents")
DEFAULT_CONFIG = "trajectories"

# The paper's "ISETrace at a glance" (arXiv 2606.11520), shown beside our figures.
PAPER = {
    "intents": "43,956",
    "trajectories": "23,132",
    "user_turns": "8.12 / 8 / 23",
    "dialogue_turns": "68.24",
    "tool_calls": "29.26",
    "unique_tools": "4.69",
    "complexity": "50 / 40 / 10",
    "vendi": "61.57",
    "drift": "0.02%",
}


class CardTemplateError(UserError):
    """The card template is missing or does not render."""


@dataclass
class SplitFiles:
    """One split's parquet files and the glob `configs:` names them by, both relative to the folder."""

    files: list[str]
    glob: str
    num_rows: int
    num_bytes: int


@dataclass
class ConfigFiles:
    """What one config of the folder holds, split by split."""

    name: str
    features: Any  # datasets.Features
    splits: dict[str, SplitFiles] = field(default_factory=dict)


def size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "1M<n<10M"


def card_data_yaml(build: BuildConfig, configs: list[ConfigFiles], n_rows: int) -> str:
    """The YAML header: metadata, `configs:` (data files per split) and `dataset_info` (features)."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        license=build.license,
        pretty_name=build.pretty_name,
        language=["en"],
        task_categories=["text-generation"],
        tags=["agents", "tool-use", "multi-turn", "synthetic", "sft", "ise-trace"],
        size_categories=[size_category(n_rows)],
    )
    metadata = MetadataConfigs()
    infos = DatasetInfosDict()
    for cfg in configs:
        entry: dict[str, Any] = {
            # The globs carry each split's content fingerprint (see shards.py): `datasets` keys a
            # local folder's cache on this YAML, so new content must change it.
            "data_files": [{"split": split, "path": files.glob} for split, files in cfg.splits.items()]
        }
        if cfg.name == DEFAULT_CONFIG:
            entry["default"] = True
        metadata[cfg.name] = entry
        split_dict = SplitDict()
        for split, files in cfg.splits.items():
            split_dict.add(SplitInfo(name=split, num_bytes=files.num_bytes, num_examples=files.num_rows))
        infos[cfg.name] = DatasetInfo(
            features=cfg.features,
            splits=split_dict,
            dataset_size=sum(files.num_bytes for files in cfg.splits.values()),
            config_name=cfg.name,
        )
    metadata.to_dataset_card_data(data)
    infos.to_dataset_card_data(data)
    return data.to_yaml()


def glance_rows(stats: CorpusStats) -> list[dict[str, str]]:
    mix = stats.complexity_mix
    vendi = f"{stats.vendi:.2f}" if stats.vendi is not None else "n/a"
    u = stats.user_turns
    return [
        {"label": "Intents", "ours": f"{stats.intents:,}", "paper": PAPER["intents"]},
        {"label": "Trajectories", "ours": f"{stats.trajectories:,}", "paper": PAPER["trajectories"]},
        {"label": "User turns (mean / median / max)", "ours": f"{u.mean:.2f} / {u.median:g} / {u.max}", "paper": PAPER["user_turns"]},
        {"label": "Dialogue turns (mean)", "ours": f"{stats.dialogue_turns.mean:.2f}", "paper": PAPER["dialogue_turns"]},
        {"label": "Tool calls (mean)", "ours": f"{stats.tool_calls.mean:.2f}", "paper": PAPER["tool_calls"]},
        {"label": "Distinct tools per trajectory (mean)", "ours": f"{stats.unique_tools.mean:.2f}", "paper": PAPER["unique_tools"]},
        {"label": "Distinct tools overall", "ours": str(stats.distinct_tools), "paper": "n/a"},
        {
            "label": "Complexity complex / medium / simple (%)",
            "ours": " / ".join(f"{100 * mix.get(c, 0.0):.0f}" for c in ("complex", "medium", "simple")),
            "paper": PAPER["complexity"],
        },
        {"label": "Vendi score (intents)", "ours": vendi, "paper": PAPER["vendi"]},
        {"label": "Role drift (simulator turns regenerated / checked)", "ours": f"{100 * stats.drift_rate:.2f}%", "paper": PAPER["drift"]},
        {"label": "User turns from a template (the simulator stayed out of role)", "ours": f"{100 * stats.scripted_turn_rate:.1f}%", "paper": "none"},
        {"label": "Failed tool calls", "ours": f"{100 * stats.failed_call_rate:.1f}%" if stats.tool_calls.max else "n/a (no calls)", "paper": "n/a"},
        {"label": "Intents with a validated executable task", "ours": _tasks(stats), "paper": "none"},
        {"label": "Success, as the simulated user said", "ours": _pct(stats.simulator_success_rate), "paper": "n/a"},
        {"label": "Success, verified by the checks", "ours": _verified(stats), "paper": "not verified"},
        {"label": "False successes (user said success, checks failed)", "ours": _pct(stats.false_success_rate), "paper": "n/a"},
    ]


def _tasks(stats: CorpusStats) -> str:
    if stats.intents_with_task is None:
        return "n/a"
    return f"{stats.intents_with_task} of {stats.intents}"


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"


def _verified(stats: CorpusStats) -> str:
    v = stats.verification_counts
    checked = v.get("passed", 0) + v.get("failed", 0)
    return f"{_pct(stats.verified_success_rate)} ({v.get('passed', 0)} of {checked}; {v.get('unverified', 0)} unverified)"


# The values a template may use; `card_context` provides exactly these.
CONTEXT_KEYS = (
    "card_data", "pretty_name", "build", "stats", "glance", "splits", "plots", "provenance", "run_info",
    "built_at", "ise_trace_version",
)


def _environment():
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def check_template(path: Path) -> None:
    """Fail before any work is done when the template is missing, does not parse, or uses a
    value the build does not provide."""
    import jinja2
    import jinja2.meta

    if not path.is_file():
        raise CardTemplateError(
            f"{path}: card template not found; restore dataset_card.md (reinstall ise-trace) "
            f"or pass --card-template PATH"
        )
    try:
        ast = _environment().parse(path.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError as e:
        raise CardTemplateError(f"{where(path, e.lineno)}: card template does not parse: {e.message}") from None
    unknown = sorted(jinja2.meta.find_undeclared_variables(ast) - set(CONTEXT_KEYS))
    if unknown:
        raise CardTemplateError(
            f"{path}: card template uses unknown values {', '.join(unknown)}; known: {', '.join(CONTEXT_KEYS)}"
        )


def render_card(template: Path, context: dict[str, Any]) -> str:
    import jinja2

    check_template(template)
    try:
        return _environment().from_string(template.read_text(encoding="utf-8")).render(**context)
    except jinja2.UndefinedError as e:  # e.g. a field of `stats` that does not exist
        raise CardTemplateError(f"{template}: card template uses an unknown value ({e.message})") from None


def card_context(
    *,
    build: BuildConfig,
    stats: CorpusStats,
    card_data: str,
    plots: dict[str, str],
    splits: list[dict[str, Any]],
    provenance: dict[str, str],
    run_info: dict[str, Any],
    built_at: str,
    ise_trace_version: str,
) -> dict[str, Any]:
    context = {
        "card_data": card_data.rstrip("\n"),
        "pretty_name": build.pretty_name,
        "build": build,
        "stats": stats,
        "glance": glance_rows(stats),
        "splits": splits,
        "plots": plots,
        "provenance": list(provenance.items()),
        "run_info": json.dumps(run_info, indent=2, ensure_ascii=False, default=str) if run_info else "",
        "built_at": built_at,
        "ise_trace_version": ise_trace_version,
    }
    assert set(context) == set(CONTEXT_KEYS)  # keep the template check in step with the values
    return context
