"""Append-only JSON-lines ledgers that survive SIGKILL at any instant.

Each record is one line written with a single `write` on an O_APPEND descriptor, then flushed
to disk with fsync before the runner counts it as done. A kill can therefore leave at most one
torn last line (no trailing newline); opening the ledger cuts that tail off, so every line a
reader sees is a whole record and a record is either fully present or absent.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError

# Trajectory.model_dump_json() starts with the trajectory id, then the intent with its id: reading
# the prefix finds finished intents without parsing records that may be hundreds of kB long.
_TRAJECTORY_PREFIX = re.compile(rb'^\{"id":"[^"]*","intent":\{"id":"((?:[^"\\]|\\.)*)"')


class JsonlLedger:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.dropped_bytes = self._cut_torn_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _cut_torn_tail(self) -> int:
        if not self.path.exists():
            return 0
        size = self.path.stat().st_size
        if size == 0:
            return 0
        with open(self.path, "rb+") as f:
            # Scan back in blocks for the last newline: the torn tail is at most one record.
            end, block = size, 1 << 16
            while end > 0:
                start = max(0, end - block)
                f.seek(start)
                chunk = f.read(end - start)
                if start + len(chunk) == size and chunk.endswith(b"\n"):
                    return 0
                i = chunk.rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                end = start
            else:
                keep = 0
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return size - keep

    def append(self, record: str) -> None:
        """Write one record (a JSON text without newlines) durably."""
        data = (record + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only for the pathological case
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) for every whole record."""
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield number, line

    def records(self) -> Iterator[dict]:
        for number, line in self.lines():
            yield self._parse(number, line)

    def _parse(self, number: int, line: bytes) -> dict:
        try:
            return json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(
                f"{self.path}:{number}: not a JSON record ({e.msg}); the file was changed outside "
                "ise-trace: remove that line or start a new --out folder"
            ) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrajectoryLedger(JsonlLedger):
    def finished_intents(self) -> set[str]:
        done: set[str] = set()
        for number, line in self.lines():
            m = _TRAJECTORY_PREFIX.match(line)
            if m:
                done.add(json.loads(b'"' + m.group(1) + b'"'))
                continue
            record = self._parse(number, line)
            try:
                done.add(record["intent"]["id"])
            except (KeyError, TypeError):
                raise UserError(f"{self.path}:{number}: not a trajectory record (no intent.id)") from None
        return done


class FailureLedger(JsonlLedger):
    def attempts(self) -> dict[str, int]:
        """Highest failed attempt recorded per intent id."""
        seen: dict[str, int] = {}
        for record in self.records():
            intent_id, attempt = record.get("intent_id"), record.get("attempt")
            if isinstance(intent_id, str) and isinstance(attempt, int):
                seen[intent_id] = max(seen.get(intent_id, 0), attempt)
        return seen
