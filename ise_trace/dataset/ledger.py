"""Read what the stages wrote: intents files and simulation run directories.

Every line is validated against its schema through `ise_trace.records`, whose docstring states
the one repair policy: a torn last line (a crash mid-append, or a run still writing) is not a
record and is skipped with a warning, which is the ledger as of its last finished append; any other
bad line stops the read with one message naming file:line and what to do, because a dataset
built from a partly read ledger would silently lose rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from ..errors import where
from ..records import RecordError, lines, read
from ..schemas import Intent, Trajectory

TRAJECTORIES_FILE = "trajectories.jsonl"
FAILURES_FILE = "failures.jsonl"
RUN_FILE = "run.json"

M = TypeVar("M", bound=BaseModel)

# A run directory or intents file that cannot be read as it is (the records layer's error).
LedgerError = RecordError

def iter_records(path: Path, model: type[M], *, fix: str) -> Iterator[M]:
    """Yield each record of a JSONL file as `model`; `fix` ends the message of a bad line."""
    for _, record in read(path, model, fix=fix):
        yield record


def read_intents(path: str | Path) -> Iterator[Intent]:
    path = Path(path)
    return iter_records(
        path, Intent, fix=f"fix or remove that line, or regenerate the file with `ise-trace intents --out {path}`"
    )


@dataclass
class RunDir:
    """A simulation run directory as written by `ise-trace simulate`."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_dir():
            raise LedgerError(f"{self.path}: no such run directory (give the --out folder of `ise-trace simulate`)")
        if not self.trajectories_file.exists():
            raise LedgerError(
                f"{self.path}: no {TRAJECTORIES_FILE} here; is this the --out folder of `ise-trace simulate`?"
            )

    @property
    def trajectories_file(self) -> Path:
        return self.path / TRAJECTORIES_FILE

    def trajectories(self) -> Iterator[Trajectory]:
        fix = (
            "it is not a trajectory as ise-trace writes them (another tool or version, or an edit): "
            f"remove that line and rerun `ise-trace simulate --out {self.path}` to simulate its intent again"
        )
        return iter_records(self.trajectories_file, Trajectory, fix=fix)

    def failure_count(self) -> int:
        return sum(1 for _ in lines(self.path / FAILURES_FILE, missing_ok=True))

    def run_info(self) -> dict[str, Any]:
        """The run's own description (run.json), or {} when the run did not write one."""
        path = self.path / RUN_FILE
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise LedgerError(f"{where(path, e.lineno)}: not valid JSON ({e.msg})") from None
        if not isinstance(data, dict):
            raise LedgerError(f"{path}: expected a JSON object describing the run")
        return data
