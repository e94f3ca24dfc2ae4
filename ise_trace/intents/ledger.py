"""JSON Lines files that a crash cannot corrupt.

Records are appended one whole line per `write` call and synced, so after a crash a file ends
either on a complete line or on one partial line; `repair` cuts the partial line off before
anything is read or appended. Whole rewrites go through `fsio.write_text_atomic`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import UserError
from ..fsio import write_text_atomic


def _cannot_write(path: Path, e: OSError) -> UserError:
    return UserError(f"cannot write {path}: {e.strerror or e}; choose another --out or fix its permissions")


def repair(path: Path) -> int:
    """Cut a partial last line (left by a crash mid-write). Returns the bytes removed."""
    if not path.exists():
        return 0
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # Walk back to the last newline; a file of one partial line is emptied.
        pos, chunk = size, 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            cut = f.read(pos - start).rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            pos = start
        else:
            keep = 0
        f.truncate(keep)
        return size - keep


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every line; a line that is not a JSON object is an error."""
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{number}: not valid JSON ({e.msg}); fix or delete that line") from None
            if not isinstance(obj, dict):
                raise UserError(f"{path}:{number}: expected a JSON object per line")
            out.append((number, obj))
    return out


def _line(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


class JsonlAppender:
    """Append whole lines to one file; open it early so an unwritable path fails before work."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            repair(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise _cannot_write(path, e) from None

    def append(self, objs: Iterable[object]) -> None:
        data = "".join(_line(o) for o in objs).encode("utf-8")
        if not data:
            return
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # short writes are rare but legal
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as e:
            raise _cannot_write(self.path, e) from None

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rewrite_jsonl(path: Path, objs: Iterable[object]) -> None:
    try:
        write_text_atomic(path, "".join(_line(o) for o in objs))
    except OSError as e:
        raise _cannot_write(path, e) from None
