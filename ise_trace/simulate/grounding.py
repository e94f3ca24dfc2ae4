"""Whether the agent's claimed result is backed by the live workspace, checked before completion.

Premature completion is the commonest simulator failure: the user model believes "I created
report.csv" and declares success. A 'completed and successful' verdict is refused (with the
reasons fed back) while any of these hold:
- nothing ran successfully in the whole episode;
- the agent's last turn ended in a failed call;
- a file the agent's last reply says it created or changed is, in the workspace right now,
  missing, empty, or byte for byte what it was when the episode started.
The workspace is asked, not the command strings: `cat report.csv` does not back "I created it".
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .digest import ExecutedCall, TurnDigest

_MADE = r"(?:created|wrote|written|saved|generated|produced|exported|stored|added|updated|modified|edited|made|built)"
_PATH = r"`?((?:[\w.~/-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]{0,5}|(?:[\w.~-]+/)+[\w.-]+)`?"

# "I created out/report.csv", "saved the results to `summary.json`".
_ACTIVE = re.compile(rf"\b{_MADE}\b([^.\n]|\.(?=\S)){{0,80}}", re.IGNORECASE)
# "report.csv has been created", "`data/clean.csv` is now written".
_PASSIVE = re.compile(rf"{_PATH}\s+(?:has been|have been|was|were|is now|is)\s+{_MADE}\b", re.IGNORECASE)
_PATH_RX = re.compile(_PATH)

_NOT_PATHS = {"e.g", "i.e", "etc"}
WORKDIR = "/workspace"


@dataclass(frozen=True)
class FileState:
    size: int
    sha256: str


WorkspaceState = Mapping[str, FileState]  # relative path -> state, regular files only


def claimed_paths(reply: str) -> list[str]:
    """File names the reply says were created or changed, in order, without duplicates."""
    found: list[str] = []
    for m in _ACTIVE.finditer(reply):
        found += _PATH_RX.findall(m.group(0))
    found += _PASSIVE.findall(reply)
    out: list[str] = []
    for path in found:
        path = path.strip("`").rstrip(".")
        if path and path.lower() not in _NOT_PATHS and "://" not in path and path not in out:
            out.append(path)
    return out


def workspace_path(path: str) -> str | None:
    """`path` relative to /workspace, or None when it points outside it."""
    if path.startswith(WORKDIR + "/"):
        path = path[len(WORKDIR) + 1 :]
    elif path.startswith("/") or path.startswith("~"):
        return None
    norm = posixpath.normpath(path)
    return None if norm.startswith("..") else norm


def file_problem(path: str, now: WorkspaceState, before: WorkspaceState) -> str | None:
    """Why the workspace does not back "I made `path`", or None when it does."""
    rel = workspace_path(path)
    if rel is None:
        return None  # outside the workspace: nothing the sandbox can say about it
    state = now.get(rel)
    if state is None:
        if any(p.startswith(rel.rstrip("/") + "/") for p in now):
            return None  # a folder with files in it
        return f"the assistant says it made {path}, but there is no such file in the workspace"
    if state.size == 0:
        return f"the assistant says it made {path}, but that file is empty"
    if before.get(rel) == state:
        return f"the assistant says it changed {path}, but the file is exactly as it was at the start"
    return None


def unbacked_claims(
    reply: str, episode_calls: list[ExecutedCall], last_turn: TurnDigest, now: WorkspaceState, before: WorkspaceState
) -> list[str]:
    """Reasons the agent's result is not backed by the record and the workspace; empty when it is."""
    problems: list[str] = []
    if not any(not c.is_error for c in episode_calls):
        problems.append("nothing has run successfully in the workspace yet")
    elif last_turn.ends_in_failure:
        last = last_turn.calls[-1]
        problems.append(f"the assistant's last call failed ({last.render(with_output=False)})")
    for path in claimed_paths(reply):
        problem = file_problem(path, now, before)
        if problem:
            problems.append(problem)
    return problems


def state_from_snapshot(entries: list[dict]) -> dict[str, FileState]:
    return {e["path"]: FileState(e["size"], e["sha256"]) for e in entries}
