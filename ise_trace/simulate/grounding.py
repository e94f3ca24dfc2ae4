"""Whether the agent's claimed result is backed by what really ran, checked before completion.

Premature completion is the commonest simulator failure: the user model believes "I created
report.csv" and declares success. A 'completed and successful' verdict is refused (with the
reasons fed back) while any of these hold:
- nothing ran successfully in the whole episode;
- the agent's last turn ended in a failed call;
- the agent's last reply names a file it created or changed that no successful write, edit or
  exec of the episode touched.
"""

from __future__ import annotations

import posixpath
import re

from .digest import ExecutedCall, TurnDigest

_MADE = r"(?:created|wrote|written|saved|generated|produced|exported|stored|added|updated|modified|edited|made|built)"
_PATH = r"`?((?:[\w.~-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]{0,5}|(?:[\w.~-]+/)+[\w.-]+)`?"

# "I created out/report.csv", "saved the results to `summary.json`".
_ACTIVE = re.compile(rf"\b{_MADE}\b([^.\n]|\.(?=\S)){{0,80}}", re.IGNORECASE)
# "report.csv has been created", "`data/clean.csv` is now written".
_PASSIVE = re.compile(rf"{_PATH}\s+(?:has been|have been|was|were|is now|is)\s+{_MADE}\b", re.IGNORECASE)
_PATH_RX = re.compile(_PATH)

_TOUCHING_TOOLS = {"write", "edit", "exec"}
_NOT_PATHS = {"e.g", "i.e", "etc"}


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


def touched_ok(path: str, calls: list[ExecutedCall]) -> bool:
    """Some successful write, edit or exec of the episode names this file."""
    base = posixpath.basename(path.rstrip("/"))
    for c in calls:
        if c.is_error or c.tool not in _TOUCHING_TOOLS:
            continue
        if c.tool == "exec" and base in c.target:
            return True
        if c.tool != "exec" and posixpath.basename(c.target.rstrip("/")) == base:
            return True
    return False


def unbacked_claims(reply: str, episode_calls: list[ExecutedCall], last_turn: TurnDigest) -> list[str]:
    """Reasons the agent's result is not backed by the record; empty when it is."""
    problems: list[str] = []
    if not any(not c.is_error for c in episode_calls):
        problems.append("nothing has run successfully in the workspace yet")
    elif last_turn.ends_in_failure:
        last = last_turn.calls[-1]
        problems.append(f"the assistant's last call failed ({last.render()})")
    for path in claimed_paths(reply):
        if not touched_ok(path, episode_calls):
            problems.append(f"the assistant says it made {path}, but no successful command or write touched it")
    return problems
