"""JSON Lines records: the one reader, the one crash-safe appender, the one repair policy.

Every JSONL file ise-trace writes or reads goes through this module: intents.jsonl and its
duplicates and rejects files, and a run's trajectories.jsonl and failures.jsonl. A record is one
JSON object on one line; `read` returns it as a pydantic model of `ise_trace.schemas`, or as a
plain dict for the side files.

Writing. `Appender.append` writes a batch of records as whole lines, in ONE `os.write` on an
O_APPEND descriptor, then fsyncs. A caller counts a record as stored only once `append` has
returned. A whole-file rewrite goes through `rewrite` (a temporary file, fsync, rename).

Repair policy. This is the only one, and every reader and appender follows it:
- A torn last line is the file's last line when it has no trailing newline AND is not valid JSON.
  It is what is left of an append that a crash cut short, so it is not a record. Opening the file
  for append cuts it off. Reading skips it and leaves the file unchanged. Both log a warning that
  names the file, where the line starts (line number or byte offset) and its size.
- A last line without its newline that IS valid JSON is a whole record (a hand-edited file, or a
  write cut just before its newline). It is read, and the appender writes the missing newline
  before its first record.
- Any other bad line, anywhere in the file, is an error (`RecordError`, so the CLI prints one
  line and exits 2). That covers a line that is not JSON, is not a JSON object, or is not the
  expected record. The message names file:line, says what is wrong and what to do. Nothing is
  skipped silently and nothing is rewritten.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from .errors import UserError, where
from .fsio import fsync_dir, write_bytes_atomic

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Record = BaseModel | dict[str, Any] | str  # str: one JSON text already serialised, without newlines

_SCAN_BLOCK = 1 << 16
DEFAULT_FIX = "fix or delete that line"


class RecordError(UserError):
    """A JSONL file that cannot be read or written as it is; the message names file:line."""


# ---------------------------------------------------------------------------------------- reading


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))  # decoded first: json.loads would guess UTF-16/32 from NULs
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        return False
    return True


def _torn(place: str, size: int, action: str) -> None:
    log.warning(
        "%s: %s a torn last line (%d bytes, no newline, not valid JSON): the remnant of an append "
        "cut short by a crash or kill, not a record", place, action, size,
    )


def lines(path: str | os.PathLike, *, missing_ok: bool = False) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for every non-blank line that is a record under the repair policy.

    A torn last line is skipped (with a warning). The file is never changed. A missing file is an
    error unless `missing_ok`, when it reads as empty.
    """
    path = Path(path)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        if missing_ok:
            return
        raise RecordError(f"{path}: no such file") from None
    except OSError as e:
        raise RecordError(f"{path}: cannot read it ({e.strerror or e})") from None
    with f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n") and not _is_json(raw):
                _torn(where(path, number), len(raw), "skipped")
                return
            yield number, raw


def _first_problem(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(record)"
    more = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
    return f"field '{loc}': {err['msg']}{more}"


def _then(fix: str) -> str:
    return f"; {fix}" if fix else ""


def _not_json(path: Path, number: int, detail: str, fix: str) -> RecordError:
    return RecordError(f"{where(path, number)}: not valid JSON ({detail}){_then(fix)}")


def parse_dict(path: Path, number: int, raw: bytes | str, fix: str = DEFAULT_FIX) -> dict[str, Any]:
    """One line as a JSON object, or a RecordError naming file:line."""
    try:
        obj = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except json.JSONDecodeError as e:
        raise _not_json(path, number, f"{e.msg} at column {e.colno}", fix) from None
    except ValueError as e:
        raise _not_json(path, number, str(e), fix) from None
    if not isinstance(obj, dict):
        raise RecordError(f"{where(path, number)}: expected a JSON object per line, found {type(obj).__name__}{_then(fix)}")
    return obj


def validate(path: Path, number: int, model: type[M], data: bytes | str | dict[str, Any], fix: str = DEFAULT_FIX) -> M:
    """`data` (a raw line or a parsed object) as `model`, or a RecordError naming file:line:field."""
    try:
        if isinstance(data, dict):
            return model.model_validate(data)
        return model.model_validate_json(data)
    except ValidationError as e:
        err = e.errors()[0]
        if err["type"] == "json_invalid":
            raise _not_json(path, number, err["msg"].removeprefix("Invalid JSON: "), fix) from None
        if err["type"] == "model_type" and not err["loc"]:
            raise RecordError(f"{where(path, number)}: expected a JSON object per line{_then(fix)}") from None
        raise RecordError(f"{where(path, number)}: {_first_problem(e)}{_then(fix)}") from None


@overload
def read(path: str | os.PathLike, model: None = None, *, fix: str = ..., missing_ok: bool = ...) -> Iterator[tuple[int, dict[str, Any]]]: ...
@overload
def read(path: str | os.PathLike, model: type[M], *, fix: str = ..., missing_ok: bool = ...) -> Iterator[tuple[int, M]]: ...
def read(path, model=None, *, fix=DEFAULT_FIX, missing_ok=False):
    """(line number, record) for every record of a file: `model` instances, or dicts without one.

    `fix` ends the message of an error: what the user should do about a bad line ("" for none).
    """
    path = Path(path)
    for number, raw in lines(path, missing_ok=missing_ok):
        yield number, (parse_dict(path, number, raw, fix) if model is None else validate(path, number, model, raw, fix))


# ---------------------------------------------------------------------------------------- writing


def _cannot_write(path: Path, e: OSError) -> RecordError:
    return RecordError(f"cannot write {path}: {e.strerror or e}; choose another --out or fix its permissions")


def _serialise(record: Record) -> bytes:
    if isinstance(record, BaseModel):
        text = record.model_dump_json()
    elif isinstance(record, dict):
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(record, str):
        if "\n" in record or "\r" in record:
            raise ValueError("a JSONL record must be one line of JSON text")
        text = record
    else:
        raise TypeError(f"cannot write a {type(record).__name__} as a JSONL record")
    return text.encode("utf-8") + b"\n"


def _tail_start(f, size: int) -> int:
    """Offset just past the last newline of an open file (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _SCAN_BLOCK)
        f.seek(start)
        cut = f.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def repair(path: Path) -> int:
    """Apply the repair policy before appending: cut a torn last line, or end a whole last record
    with its missing newline. Returns the bytes cut (0 when nothing was torn)."""
    try:
        f = path.open("rb+")
    except FileNotFoundError:
        return 0
    with f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        keep = _tail_start(f, size)
        f.seek(keep)
        tail = f.read(size - keep)
        if tail.strip() and _is_json(tail):
            f.seek(size)
            f.write(b"\n")
            cut = 0
        else:
            f.truncate(keep)
            cut = size - keep
            if tail.strip():  # a byte offset, not a line number: counting lines would read the whole file
                _torn(f"{path} (from byte {keep})", cut, "cut off")
        f.flush()
        os.fsync(f.fileno())
        return cut


class Appender:
    """Appends whole records to one file, durably. Open it early: an unwritable path fails before
    any work is spent, and a torn tail is repaired (see the module docstring) before anything is
    read or written."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd = -1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self.dropped_bytes = repair(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                fsync_dir(self.path.parent)  # the new file's name survives a crash too
        except OSError as e:
            raise _cannot_write(self.path, e) from None

    def append(self, *records: Record) -> None:
        """Write `records` as whole lines with one write, then fsync; returns once they are on disk."""
        data = b"".join(_serialise(r) for r in records)
        if not data:
            return
        view = memoryview(data)
        try:
            while view:  # a regular file takes it in one write; loop only for a short write
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as e:
            raise _cannot_write(self.path, e) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rewrite(path: str | os.PathLike, records: Iterator[Record] | list[Record]) -> None:
    """Replace the whole file with `records`, atomically (a reader sees the old file or the new)."""
    path = Path(path)
    try:
        write_bytes_atomic(path, b"".join(_serialise(r) for r in records))
    except OSError as e:
        raise _cannot_write(path, e) from None
