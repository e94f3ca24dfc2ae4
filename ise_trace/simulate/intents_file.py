"""Read an intents.jsonl file, failing on the first bad line with its file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from ..schemas import Intent


def load_intents(path: str | Path) -> list[Intent]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such intents file; create one with `ise-trace intents`") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as e:
        raise UserError(f"{path}: cannot read the intents file ({e})") from None
    intents: list[Intent] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{number}: not valid JSON ({e.msg} at column {e.colno})") from None
        try:
            intent = Intent.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(record)"
            more = f" (and {len(e.errors()) - 1} more problems)" if len(e.errors()) > 1 else ""
            raise UserError(f"{path}:{number}: field '{field}': {err['msg']}{more}") from None
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
