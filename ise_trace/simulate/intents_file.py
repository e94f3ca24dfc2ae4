"""Read an intents.jsonl file, failing on the first bad line with its file, line and field.

Lines are read by `ise_trace.records` under its one repair policy (a torn last line is skipped
with a warning; any other bad line is an error).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..records import read
from ..schemas import Intent


def load_intents(path: str | Path) -> list[Intent]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such intents file; create one with `ise-trace intents`")
    if path.is_dir():
        raise UserError(f"{path}: cannot read the intents file (it is a folder); pass an intents.jsonl file")
    intents: list[Intent] = []
    first_line: dict[str, int] = {}
    for number, intent in read(path, Intent, fix=""):
        if intent.id in first_line:
            raise UserError(
                f"{path}:{number}: field 'id': intent {intent.id!r} already appears on line {first_line[intent.id]}; "
                "ids must be unique"
            )
        first_line[intent.id] = number
        intents.append(intent)
    if not intents:
        raise UserError(f"{path}: the intents file holds no intents")
    return intents
