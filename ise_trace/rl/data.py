"""The tasks an RL run trains on: intents with executable tasks, as the rows `TaskEnvironment.reset` takes.

A source is an `intents.jsonl` (what `ise-trace intents` writes), a dataset folder written by
`ise-trace build` (its `intents` config), or a Hub id. Intents without a task are skipped and
counted; a source with no task at all is an error. Each row gets a `prompt`: the agent's system
prompt (the one the SFT data was made with) and an empty user message that TRL fills with what
`reset()` returns, the intent text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from ..schemas import Intent


class TaskDataError(UserError):
    """A source of tasks the RL script cannot use."""


@dataclass
class TaskSource:
    rows: list[dict]
    skipped: int  # intents without an executable task
    where: str

    def line(self) -> str:
        skipped = f" ({self.skipped} intents without a task skipped)" if self.skipped else ""
        return f"{self.where}: {len(self.rows)} tasks{skipped}"


def opening_prompt(workdir: str = "/workspace", system_prompt: bool = True) -> list[dict]:
    from ..simulate.prompts import agent_system_prompt

    system = [{"role": "system", "content": agent_system_prompt(workdir)}] if system_prompt else []
    return [*system, {"role": "user", "content": ""}]


def read_tasks(source: str, config: str = "intents", split: str = "train", revision: str | None = None,
               max_tasks: int | None = None) -> TaskSource:
    """The intents with a task of `source`, validated (a bad record names its file and line)."""
    path = Path(source).expanduser()
    if path.is_file():
        intents = _jsonl(path)
    else:
        rows = _load_rows(source, config, split, revision)
        intents = [_validated(row, f"{source} ({config}/{split}) row {i}") for i, row in enumerate(rows)]
    with_task = [i for i in intents if i.has_task]
    if not with_task:
        raise TaskDataError(
            f"{source}: none of its {len(intents)} intents has an executable task (workspace + checks); "
            "make some with `ise-trace intents` (task authoring on) or check them with `ise-trace intents check`"
        )
    if max_tasks is not None:
        with_task = with_task[:max_tasks]
    return TaskSource([i.model_dump(mode="json") for i in with_task], len(intents) - len(with_task), source)


def to_dataset(tasks: TaskSource, workdir: str = "/workspace", system_prompt: bool = True):
    """A `datasets.Dataset` with the intents config's features plus `prompt`."""
    import datasets

    from ..dataset.features import intent_feature

    message = {"role": datasets.Value("string"), "content": datasets.Value("string")}
    features = datasets.Features({**intent_feature(), "prompt": datasets.List(message)})
    prompt = opening_prompt(workdir, system_prompt)
    return datasets.Dataset.from_list([{**row, "prompt": prompt} for row in tasks.rows], features=features)


def _jsonl(path: Path) -> list[Intent]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TaskDataError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise TaskDataError(f"{path}: not UTF-8 text") from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise TaskDataError(f"{path}:{number}: not a JSON object ({e.msg})") from None
        out.append(_validated(obj, f"{path}:{number}"))
    return out


def _validated(obj: object, where: str) -> Intent:
    try:
        return Intent.model_validate(obj)
    except ValidationError as e:
        first = e.errors()[0]
        raise TaskDataError(
            f"{where}: not an intent record (field '{'.'.join(map(str, first['loc']))}': {first['msg']})"
        ) from None


def _load_rows(source: str, config: str, split: str, revision: str | None) -> list[dict]:
    import datasets

    from ..sft_data import HUB_ID

    folder = Path(source).expanduser()
    if not folder.is_dir() and not HUB_ID.match(source):
        raise TaskDataError(f"{source}: no such file or folder, and not a Hub id of the form org/name")
    # A built folder is read shard by shard (see sft_data.load_split: its configs may be cached stale).
    shards = sorted((folder / "data" / config).glob(f"{split}-*.parquet")) if folder.is_dir() else []
    try:
        if shards:
            ds = datasets.load_dataset("parquet", data_files={split: [str(p.resolve()) for p in shards]}, split=split)
        else:
            name = str(folder) if folder.is_dir() else source
            ds = datasets.load_dataset(name, name=config, revision=revision, split=split)
    except (ValueError, FileNotFoundError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as e:
        raise TaskDataError(f"{source}: cannot load config '{config}', split '{split}': {e}") from None
    return [{k: v for k, v in row.items() if k in Intent.model_fields} for row in ds]
