"""The run directory: its settings record, its lock and its two ledgers.

`run.json` holds the settings that decide what a run produces, and their hash. A rerun into the
same folder resumes only under the same settings; anything else is refused with the differences
named, because mixing two configurations in one ledger would make the data meaningless.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import SimulateConfig
from ..errors import ConfigError, UserError
from ..fsio import write_json_atomic
from .ledger import FailureLedger, TrajectoryLedger

TRAJECTORIES = "trajectories.jsonl"
FAILURES = "failures.jsonl"
RUN_FILE = "run.json"
SUMMARY = "summary.json"
LOCK = ".lock"


def run_settings(config: SimulateConfig, agent_models: list[str], user_models: list[str],
                 agent_llm: dict[str, Any] | None = None, user_llm: dict[str, Any] | None = None) -> dict[str, Any]:
    """What decides the content of a run (not how fast it goes).

    `agent_llm`/`user_llm`: each role's backend and the client options that change what it
    generates (`llm_settings`); absent for models handed in as objects (tests, scripted models)."""
    settings = {
        "simulate": config.model_dump(exclude=set(SimulateConfig.OPERATIONAL)),
        "agent_model": sorted(set(agent_models)),
        "user_model": sorted(set(user_models)),
    }
    for key, llm in (("agent_llm", agent_llm), ("user_llm", user_llm)):
        if llm is not None:
            settings[key] = llm
    return settings


def llm_settings(choice: Any) -> dict[str, Any] | None:
    """The run-record part of one role's model choice (a ModelChoice: backend and LLMConfig options).

    Only options that change what is generated: no timeouts, retries, log paths or API key
    sources, and never a key (LLMConfig holds none: it names the variables that do)."""
    if choice is None:
        return None
    return choice.options.generative(choice.backend)


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


class RunDirectory:
    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"{self.out}: --out must be a folder, and this is a file")
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise UserError(f"{self.out}: another `ise-trace simulate` is writing to this folder; wait for it or use another --out") from None
        self.trajectories = TrajectoryLedger(self.out / TRAJECTORIES)
        self.failures = FailureLedger(self.out / FAILURES)

    def record_settings(self, settings: dict[str, Any], intents_source: str) -> str:
        """Write run.json on the first run; on a rerun, check the settings match. Returns the hash."""
        digest = settings_hash(settings)
        path = self.out / RUN_FILE
        if path.exists():
            try:
                earlier = json.loads(path.read_text(encoding="utf-8"))
                earlier_settings, earlier_hash = earlier["settings"], earlier["settings_hash"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f"{path}: not a run record of ise-trace; use a new --out folder") from None
            if earlier_hash != digest:
                before, now = _flatten(earlier_settings), _flatten(settings)
                changed = [
                    f"{k}: {before.get(k)!r} -> {now.get(k)!r}"
                    for k in sorted(set(before) | set(now))
                    if before.get(k) != now.get(k)
                ]
                raise ConfigError(
                    f"{path}: this run was started with other settings ({'; '.join(changed) or 'hash differs'}); "
                    "rerun with the same options to resume, or choose a new --out folder"
                )
            return digest
        write_json_atomic(
            path,
            {
                "settings": settings,
                "settings_hash": digest,
                "intents": intents_source,
                "ise_trace_version": __version__,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
        return digest

    def close(self) -> None:
        self.trajectories.close()
        self.failures.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = -1
