"""A run's two append-only ledgers, over `ise_trace.records` (its docstring states the one repair
policy: a torn last line, the remnant of a kill mid-append, is cut off when the ledger opens).

The runner appends a trajectory and counts it as done only once `append` has returned (written
whole and fsynced), so a record is either fully present or absent, and a rerun skips exactly the
intents whose trajectory is present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ..errors import UserError
from ..records import Appender, lines, parse_dict, read

# Trajectory.model_dump_json() starts with the trajectory id, then the intent with its id: reading
# the prefix finds finished intents without parsing records that may be hundreds of kB long.
_TRAJECTORY_PREFIX = re.compile(rb'^\{"id":"[^"]*","intent":\{"id":"((?:[^"\\]|\\.)*)"')

FIX = "the file was changed outside ise-trace: remove that line or start a new --out folder"


class JsonlLedger(Appender):
    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) for every whole record."""
        return lines(self.path, missing_ok=True)

    def records(self) -> Iterator[dict]:
        for _, record in read(self.path, fix=FIX, missing_ok=True):
            yield record


class TrajectoryLedger(JsonlLedger):
    def finished_intents(self) -> set[str]:
        done: set[str] = set()
        for number, line in self.lines():
            m = _TRAJECTORY_PREFIX.match(line)
            if m:
                done.add(json.loads(b'"' + m.group(1) + b'"'))
                continue
            record = parse_dict(self.path, number, line, FIX)
            try:
                done.add(record["intent"]["id"])
            except (KeyError, TypeError):
                raise UserError(f"{self.path}:{number}: not a trajectory record (no intent.id); {FIX}") from None
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
