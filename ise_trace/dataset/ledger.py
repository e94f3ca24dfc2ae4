"""Read what the stages wrote: intents files and simulation run directories.

Every line is validated against its schema. A torn last line (a crash mid-write), a line that is
not JSON, or a record of another shape stops the read with one message naming file:line and what
to do, because a dataset built from a partly read ledger would silently lose rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import UserError, where
from ..schemas import Intent, Trajectory

TRAJECTORIES_FILE = "trajectories.jsonl"
FAILURES_FILE = "failures.jsonl"
RUN_FILE = "run.json"

M = TypeVar("M", bound=BaseModel)


class LedgerError(UserError):
    """A run directory or intents file that cannot be read as it is."""


def _first_problem(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(record)"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"field '{loc}': {err['msg']}{more}"


def iter_records(path: Path, model: type[M], *, fix: str) -> Iterator[M]:
    """Yield each line of a JSONL file as `model`; `fix` tells the user how to repair a torn file."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise LedgerError(f"{path}: no such file") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            torn = not raw.endswith(b"\n")
            try:
                yield model.model_validate_json(raw)
            except ValidationError as e:
                if torn or _is_json_syntax_error(e):
                    hint = (
                        "the last record is incomplete (a write cut short by a crash or interrupt)"
                        if torn
                        else "this line is not valid JSON"
                    )
                    raise LedgerError(f"{where(path, lineno)}: truncated record: {hint}; {fix}") from None
                raise LedgerError(
                    f"{where(path, lineno)}: not an ise-trace {model.__name__} record: {_first_problem(e)}; "
                    f"the file holds records of another tool or version: point at a file written by ise-trace"
                ) from None
            if torn:
                # A complete record without its newline is still the half of a write the writer
                # never finished (it writes record and newline in one call): same repair.
                raise LedgerError(
                    f"{where(path, lineno)}: truncated record: the last line has no newline "
                    f"(a write cut short by a crash or interrupt); {fix}"
                )


def _is_json_syntax_error(e: ValidationError) -> bool:
    return any(err["type"] == "json_invalid" for err in e.errors())


def read_intents(path: str | Path) -> Iterator[Intent]:
    path = Path(path)
    return iter_records(
        path, Intent, fix=f"regenerate it with `ise-trace intents --out {path}` or remove the broken line"
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
            f"rerun the same `ise-trace simulate --out {self.path}` command: it resumes the run and "
            f"repairs its ledger; then build again"
        )
        return iter_records(self.trajectories_file, Trajectory, fix=fix)

    def failure_count(self) -> int:
        path = self.path / FAILURES_FILE
        if not path.exists():
            return 0
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())

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
