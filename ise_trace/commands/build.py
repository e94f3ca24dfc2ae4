"""`ise-trace build`: the dataset folder (parquet shards, card, plots) from the stages' outputs.

    ise-trace build --config demo --out ise-trace
    ise-trace build --config paper --out ise-trace --run-dir runs/r1 --intents intents.jsonl
    ise-trace build --config demo --out ise-trace --run-dir runs/r1 --max-shard-mb 64 --no-vendi

Given --run-dir, the build reads that run; otherwise it runs the stages that are missing
(Stage I without --intents, then Stage S+E), reusing what an earlier, interrupted build finished.
"""

from __future__ import annotations

import argparse
import types
import typing

# Fields set by --config alone (the rest get a flag each, generated from BuildConfig).
_NOT_FLAGS = {"name"}


def _flag_type(annotation):
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if isinstance(annotation, types.UnionType) and len(args) == 1 else annotation


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import BuildConfig

    p = sub.add_parser("build", help="build the dataset folder (parquet + card) from intents and a simulation run")
    p.add_argument("--config", default="demo", help="preset name (demo, paper) or a YAML file of build settings")
    p.add_argument("--out", default="ise-trace", help="dataset folder to write (replaced whole on success)")
    p.add_argument("--intents", default=None, help="intents.jsonl to use (default: run Stage I, or take the run's)")
    p.add_argument("--run-dir", default=None, help="run directory of `ise-trace simulate` (default: run the stages)")
    p.add_argument("--card-template", default=None, help="card template (default: dataset_card.md of ise-trace)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    for name, info in BuildConfig.model_fields.items():
        if name in _NOT_FLAGS:
            continue
        flag = f"--{name.replace('_', '-')}"
        kind = _flag_type(info.annotation)
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=info.description)
        else:
            p.add_argument(flag, type=kind, default=None, help=f"{info.description} (default: from --config)")
    p.set_defaults(func=run)


def load_build_config(args: argparse.Namespace):
    from pathlib import Path

    from ..config import BUILD_PRESETS, BuildConfig, build_section, load_yaml
    from ..errors import ConfigError

    if args.config in BUILD_PRESETS:
        values = BUILD_PRESETS[args.config].model_dump()
        source = f"build preset '{args.config}'"
    elif Path(args.config).suffix in (".yaml", ".yml") or Path(args.config).exists():
        values = {"name": Path(args.config).stem, **load_yaml(args.config)}
        source = str(args.config)
    else:
        names = ", ".join(BUILD_PRESETS)
        raise ConfigError(f"--config {args.config}: no such preset ({names}) or YAML file")
    for name in BuildConfig.model_fields:
        given = getattr(args, name, None)
        if name not in _NOT_FLAGS and given is not None:
            values[name] = given
    return build_section(BuildConfig, values, source)


def check_paths(args: argparse.Namespace) -> None:
    """--out must be a folder path (never the user's file), --intents a file with intents."""
    from pathlib import Path

    from ..errors import UserError
    from ..simulate.intents_file import load_intents
    from ..orchestrate import check_out_folder

    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        # The folder write swaps the target out whole: it would move the file aside.
        raise UserError(f"--out {args.out}: is a file, not a dataset folder; pass a folder path (nothing was changed)")
    if out.is_dir() and any(out.iterdir()) and not _is_dataset_folder(out):
        # The build replaces --out whole: only an earlier build's folder may be replaced.
        raise UserError(
            f"--out {args.out}: holds files but is not a dataset folder written by `ise-trace build`; "
            "pass a new or empty folder, or an earlier build's folder (nothing was changed)"
        )
    check_out_folder(args.out, "--out")
    if args.intents:
        load_intents(args.intents)  # the same checks and messages as `ise-trace simulate`


def _is_dataset_folder(path) -> bool:
    return (path / "README.md").is_file() and (path / "data").is_dir()


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..orchestrate import build_dataset

    build = load_build_config(args)
    out = Path(args.out)
    check_paths(args)  # before the stages run: a bad path found late costs the whole run
    result = build_dataset(
        build,
        out,
        intents_file=args.intents,
        run_dir=args.run_dir,
        template=Path(args.card_template) if args.card_template else None,
        show_progress=not args.quiet,
    )
    report(result, out)
    return 0


def report(result, out) -> None:
    """What the build wrote and how to load it (stdout)."""
    s = result.stats
    splits = ", ".join(f"{k} {v}" for k, v in s.splits.items())
    print(f"wrote {out}: {s.trajectories} trajectories ({splits}), {s.intents} intents")
    if result.duplicates:
        print(f"skipped {result.duplicates} duplicate records (same trajectory id) in the run ledger")
    print(f'load it with: from datasets import load_dataset; load_dataset("{out.resolve()}")')
