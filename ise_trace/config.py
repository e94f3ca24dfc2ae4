"""Every default of ise-trace, in one place.

Each stage has one pydantic model here; YAML recipes and CLI flags override the fields, and an
unknown key is an error (never silently ignored). Change a default here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- Stage E


class SandboxConfig(Section):
    image_repo: str = Field("ise-trace-sandbox", description="Repository part of the workspace image tag.")
    base_repo: str = Field("ise-trace-base", description="Repository of the debootstrap base image.")
    suite: str = Field("bookworm", description="Debian suite of the workspace userland.")
    user: str = Field("agent", description="Non-root user commands run as.")
    workdir: str = Field("/workspace", description="The agent's working directory.")
    memory: str = Field("1g", description="Memory limit per workspace (docker --memory).")
    cpus: float = Field(1.0, description="CPU limit per workspace (docker --cpus).")
    pids: int = Field(256, description="Process limit per workspace (docker --pids-limit).")
    workspace_size: str = Field("256m", description="Size of the writable /workspace tmpfs.")
    tmp_size: str = Field("64m", description="Size of the /tmp tmpfs.")
    home_size: str = Field("32m", description="Size of the home tmpfs.")
    command_timeout_s: float = Field(30.0, description="Default per-command timeout.")
    max_command_timeout_s: float = Field(600.0, description="Upper bound an agent may ask for.")
    output_limit_bytes: int = Field(64 * 1024, description="Output cap per command, with a visible marker.")
    start_timeout_s: float = Field(30.0, description="Time allowed for a workspace to answer after start.")
    label: str = Field("ise_trace", description="Label prefix on every container.")


# Each further stage adds its own Section subclass below (LLM, intents, simulation, build).


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear message naming the file on any problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def build_section(model: type[Section], values: dict[str, Any], source: str) -> Section:
    """Validate `values` into `model`, turning pydantic errors into one readable message."""
    try:
        return model(**values)
    except ValidationError as e:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None
