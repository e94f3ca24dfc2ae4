"""The settings of `TaskEnvironment`: one pydantic model, from `configure()` or an environment variable.

TRL builds environments with no arguments (`environment_factory=TaskEnvironment`), so the settings
are process-wide: `TaskEnvironment.configure(...)` in the training script, or, when nothing calls
it, the JSON object (or the path of a YAML/JSON file) in `ISE_TRACE_RL_CONFIG`. Unknown keys are
errors, as everywhere in ise-trace.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from ..config import SandboxConfig, Section, TaskConfig
from ..errors import ConfigError

CONFIG_ENV = "ISE_TRACE_RL_CONFIG"


class TaskEnvironmentConfig(Section):
    partial_credit: bool = Field(
        False, description="Reward = fraction of checks passed; off: 1.0 when all pass, else 0.0."
    )
    pool_size: int = Field(
        1, ge=1, description="Workspaces started with the first reset; more start when more rollouts run at once.",
    )
    max_workspaces: int = Field(64, ge=1, description="Most workspaces the process may hold at once.")
    tool_output_chars: int | None = Field(
        8000, ge=40, description="What a tool returns to the model is cut to this many characters (head and tail); "
        "None: the sandbox's own output cap only.",
    )
    reward_log: str | None = Field(
        None, description="JSONL file that gets one line per get_reward(): intent id, reward, each check's result."
    )
    image: str | None = Field(None, description="Workspace image tag; None: the one built from sandbox/.")
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    tasks: TaskConfig = Field(default_factory=TaskConfig, description="Setup and check timeouts, check output excerpt.")

    def runtime_key(self) -> tuple:
        """The settings the shared workspaces are started with (the rest apply per call)."""
        return (self.image, self.sandbox.model_dump_json())


def config_from_env() -> TaskEnvironmentConfig:
    """The settings in `ISE_TRACE_RL_CONFIG` (a JSON object or a YAML/JSON file), or the defaults."""
    raw = os.environ.get(CONFIG_ENV, "").strip()
    if not raw:
        return TaskEnvironmentConfig()
    where = f"${CONFIG_ENV}"
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{where}: not a JSON object ({e.msg} at column {e.colno})") from None
    else:
        path = Path(raw).expanduser()
        where = f"{where}={path}"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{where}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the settings are a mapping (key: value)")
    try:
        return TaskEnvironmentConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"{where}: field '{'.'.join(map(str, err['loc']))}': {err['msg']}") from None
