"""Where exported and evaluated tasks come from: an intents JSONL file or a built dataset folder.

A dataset folder (what `ise-trace build` writes) holds its intents as parquet shards under
`data/intents/<split>-*.parquet`; a split can be chosen (the eval's held-out tasks are `test`).
An intents file is read whole: it carries no split. Only intents with a task (checks) are
tasks; the rest are counted, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from ..schemas import Intent

SPLITS = ("train", "validation", "test")


@dataclass
class TaskSource:
    """The intents read from one path, split into those with a task and those without."""

    path: Path
    kind: str  # "intents file" | "dataset folder"
    split: str | None
    tasks: list[Intent] = field(default_factory=list)
    without_task: int = 0

    def describe(self) -> str:
        where = f"{self.kind} {self.path}" + (f" (split {self.split})" if self.split else "")
        skipped = f"; {self.without_task} intent(s) without a task skipped" if self.without_task else ""
        return f"{len(self.tasks)} task(s) from {where}{skipped}"


def load_task_source(path: str | Path, split: str | None = None, flag: str = "--intents") -> TaskSource:
    """Read intents from `path` (JSONL or dataset folder); one clear `UserError` for a bad input."""
    path = Path(path)
    if split is not None and split not in SPLITS:
        raise UserError(f"--split {split}: expected one of {', '.join(SPLITS)}")
    if path.is_dir():
        intents = _from_folder(path, split, flag)
        source = TaskSource(path, "dataset folder", split)
    elif path.exists():
        if split is not None:
            raise UserError(
                f"--split {split}: {path} is an intents file, which carries no splits; "
                "pass a built dataset folder or drop --split"
            )
        from ..simulate.intents_file import load_intents

        intents = load_intents(path)
        source = TaskSource(path, "intents file", None)
    else:
        raise UserError(f"{flag} {path}: no such intents file or dataset folder")
    for intent in intents:
        if intent.has_task:
            source.tasks.append(intent)
        else:
            source.without_task += 1
    return source


def _from_folder(folder: Path, split: str | None, flag: str) -> list[Intent]:
    shard_dir = folder / "data" / "intents"
    if not shard_dir.is_dir():
        raise UserError(
            f"{flag} {folder}: not a built dataset folder (no data/intents/); pass the --out folder of "
            "`ise-trace build` or an intents.jsonl file"
        )
    pattern = f"{split}-*.parquet" if split else "*.parquet"
    shards = sorted(shard_dir.glob(pattern))
    if not shards:
        what = f"split '{split}'" if split else "any split"
        raise UserError(f"{flag} {folder}: the intents config has no shard for {what} under {shard_dir}")
    import pyarrow.parquet as pq

    intents: list[Intent] = []
    seen: dict[str, str] = {}
    for shard in shards:
        try:
            rows = pq.read_table(shard).to_pylist()
        except Exception as e:  # noqa: BLE001 - any unreadable shard is the same problem to the user
            raise UserError(f"{shard}: not a readable parquet file ({type(e).__name__}: {e}); rebuild the folder") from None
        for number, row in enumerate(rows):
            try:
                intent = Intent.model_validate(_drop_nulls(row))
            except ValidationError as e:
                err = e.errors()[0]
                field_name = ".".join(str(p) for p in err["loc"]) or "(record)"
                raise UserError(f"{shard}: row {number}: field '{field_name}': {err['msg']}") from None
            if intent.id in seen:
                continue  # one intent per id, as the builder writes them
            seen[intent.id] = shard.name
            intents.append(intent)
    if not intents:
        raise UserError(f"{flag} {folder}: the intents config holds no intents")
    return intents


def _drop_nulls(row: dict) -> dict:
    """Parquet stores an absent task as nulls (workspace null, mode null): back to absent fields."""
    out = {k: v for k, v in row.items() if v is not None}
    workspace = out.get("workspace")
    if isinstance(workspace, dict):
        workspace = {k: v for k, v in workspace.items() if v is not None}
        workspace["files"] = [{k: v for k, v in f.items() if v is not None} for f in workspace.get("files") or []]
        out["workspace"] = workspace
    return out
