"""Removing leaked workspaces: containers whose owning process is gone.

Every container carries labels naming its run, its owner's pid and host. A container whose
owner is no longer alive on this host (for example after the parent was SIGKILLed) is leaked.
"""

from __future__ import annotations

import os
import socket

from ..config import SandboxConfig
from .engine import docker_client


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leaked_containers(config: SandboxConfig | None = None, everything: bool = False, run_id: str | None = None):
    config = config or SandboxConfig()
    p = config.label
    flt = {"label": f"{p}.run={run_id}" if run_id else f"{p}.run"}
    found = []
    for c in docker_client().containers.list(all=True, filters=flt):
        labels = c.labels
        owner = labels.get(f"{p}.owner_pid", "")
        same_host = labels.get(f"{p}.owner_host") == socket.gethostname()
        orphan = not (same_host and owner.isdigit() and _alive(int(owner)))
        if everything or orphan or c.status in ("exited", "dead", "created"):
            found.append(c)
    return found


def collect(config: SandboxConfig | None = None, everything: bool = False, run_id: str | None = None) -> list[str]:
    """Force-remove leaked workspaces; returns their names."""
    removed = []
    for c in leaked_containers(config, everything, run_id):
        c.remove(force=True)
        removed.append(c.name)
    return removed
