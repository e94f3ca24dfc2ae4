"""`ise-trace export`: executable tasks in other harnesses' formats.

    ise-trace export harbor harbor-tasks/ --intents intents.jsonl
    ise-trace export harbor harbor-tasks/ --intents ise-trace/dataset --split test --validate
    docker build --build-arg BASE=ise-trace-sandbox:<hash> harbor-tasks/<task>/environment

Only intents with a task (checks) are exported; the others are counted and skipped. Each task
is one Harbor folder (instruction.md, task.toml, environment/, tests/, solution/); a rerun
replaces the folders it writes and leaves the rest of DIR alone.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write executable tasks in other harnesses' formats (Harbor task folders)")
    formats = p.add_subparsers(dest="format", metavar="FORMAT")
    h = formats.add_parser(
        "harbor", help="one Harbor task folder per task: instruction.md, task.toml, environment/, tests/, solution/"
    )
    h.add_argument("out", metavar="DIR", help="folder to write the task folders into (created if missing)")
    h.add_argument("--intents", required=True,
                   help="intents.jsonl, or a dataset folder built by `ise-trace build` (its intents config)")
    h.add_argument("--split", default=None, choices=("train", "validation", "test"),
                   help="with a dataset folder: export only this split (default: every split)")
    h.add_argument("--base", default=None,
                   help="default of the Dockerfile's BASE build arg (default: debian:bookworm-slim; on a host without "
                        "a registry pass the local workspace image, e.g. ise-trace-sandbox:<hash>)")
    h.add_argument("--allow-internet", action="store_true",
                   help="let the Harbor environment reach the internet (ise-trace workspaces are offline)")
    h.add_argument("--validate", action="store_true",
                   help="validate each task in a sandbox first (setup, not already done, solvable) and skip the invalid")
    h.set_defaults(func=run_harbor)
    p.set_defaults(func=_no_format, parser=p)


def _no_format(args: argparse.Namespace) -> int:
    args.parser.print_help(sys.stderr)
    return 2


def _check_out(path: str) -> None:
    """Fail now, with one line, if DIR cannot be (or be used as) the folder of task folders."""
    import os
    from pathlib import Path

    from ..errors import UserError

    target = Path(path).expanduser()
    if target.exists():
        if not target.is_dir():
            raise UserError(f"DIR {path}: exists and is not a folder; pass a folder path")
        if (target / "task.toml").exists():
            raise UserError(f"DIR {path}: is itself a Harbor task folder; pass the folder that should hold the task folders")
        return
    parent = target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"DIR {path}: cannot create it under {parent}; pass another path")


def run_harbor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..export.harbor import DEFAULT_BASE, ExportReport, ExportSettings, export_tasks
    from ..export.source import load_task_source

    source = load_task_source(args.intents, args.split)
    _check_out(args.out)
    report = ExportReport(without_task=source.without_task)
    tasks = source.tasks
    if args.validate and tasks:
        tasks = _validated(tasks, report, args.out)
    settings = ExportSettings(base_image=args.base or DEFAULT_BASE, allow_internet=args.allow_internet,
                              source=str(Path(args.intents).resolve()))
    report.written = export_tasks(tasks, Path(args.out), settings)
    for intent_id, why in report.invalid.items():
        print(f"skip  {intent_id}: {why}", file=sys.stderr)
    print(report.summary(Path(args.out)), file=sys.stderr)
    return 0


def _validated(tasks, report, out: str) -> list:
    """The tasks that pass validation in a real sandbox; the rest go into `report.invalid`."""
    import asyncio
    import hashlib
    import os

    from ..config import TaskConfig
    from ..execute import WorkspacePool
    from ..progress import Progress
    from ..tasks.runs import validate_in_pool

    config = TaskConfig()

    async def run() -> list:
        kept = []
        progress = Progress(total=len(tasks), label="validate", stream=sys.stderr)
        # Container names per DIR: a rerun after a kill replaces its own leftovers, nobody else's.
        run_id = "export-" + hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:8]
        async with WorkspacePool(size=1, run_id=run_id) as pool:
            for intent in tasks:
                verdict = await validate_in_pool(pool, intent.id, intent.workspace, intent.checks, intent.reference, config)
                progress.update(ok=verdict.ok)
                if verdict.ok:
                    kept.append(intent)
                else:
                    report.invalid[intent.id] = f"{verdict.reason}: {verdict.detail}"
        progress.close()
        return kept

    return asyncio.run(run())
