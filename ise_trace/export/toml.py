"""A small TOML writer for the values task.toml needs (Python reads TOML but cannot write it).

Tables become `[section]` headers (nested ones `[a.b]`); lists of scalars and lists of tables
are inline. Strings are basic strings with JSON-compatible escapes, which TOML accepts.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # JSON escapes are a subset of TOML basic-string escapes, except that TOML also forbids raw
    # DEL; json.dumps escapes every control character below 0x20 already.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r} here")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dumps(document: dict[str, Any]) -> str:
    """`document` as TOML text: top-level scalars first, then one table per dict value."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in document.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append((_key(key), value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    while tables:
        name, table = tables.pop(0)
        lines += ["", f"[{name}]"]
        nested = []
        for key, value in table.items():
            if value is None:
                continue
            if isinstance(value, dict):
                nested.append((f"{name}.{_key(key)}", value))
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
        tables = nested + tables
    return "\n".join(lines).lstrip("\n") + "\n"
