"""Read a Claw-Eval checkout's task folders and choose which tasks an eval runs.

A task folder is `tasks/<id>/` with `task.yaml` (prompt, tools, the tool endpoints, the mock
services that serve them) and `grader.py`. A task is offline-capable when every tool it declares
is served by one of the harness's fixture-backed mock services; tasks that search the live web,
or that need the harness's Docker sandbox or its simulated user, are excluded and listed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import UserError

# Mock services under mock_services/ that reach the internet (web search over a paid API).
LIVE_WEB_SERVICES = frozenset({"web_real", "web_real_injection"})

_JUDGE_CALL = re.compile(r"\bjudge\.\w")
_PEER_GRADER = re.compile(r"load_peer_grader\(\s*[\"']([^\"']+)[\"']")
_SHARED_GRADER = re.compile(r"from\s+claw_eval\.graders\.(\w+)\s+import")
_NUMBERED = re.compile(r"^([A-Za-z])(\d+)")
# Task files are large (rubrics, reference answers): the C parser reads the set ~20x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class ClawTask:
    """What the driver needs to know about one task folder."""

    task_id: str
    folder: Path
    category: str
    family: str
    number: int | None
    ports: list[int]
    needs_judge: bool
    excluded_because: str | None = None

    @property
    def offline(self) -> bool:
        return self.excluded_because is None


@dataclass
class Checkout:
    root: Path
    tasks: dict[str, ClawTask]

    def commit(self) -> str | None:
        """The checked-out commit, read from .git without running git."""
        head = self.root / ".git" / "HEAD"
        try:
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                return (self.root / ".git" / ref[5:]).read_text().strip()
            return ref
        except OSError:
            return None


@dataclass
class Selection:
    tasks: list[ClawTask]
    excluded: list[ClawTask] = field(default_factory=list)


def _service_name(command: str) -> str:
    """'python mock_services/gmail/server.py' -> 'gmail'."""
    parts = Path(command.split()[-1]).parts if command.split() else ()
    return parts[-2] if len(parts) >= 2 else command


def _exclusion_reason(spec: dict) -> str | None:
    services = spec.get("services") or []
    live = sorted({_service_name(s.get("command", "")) for s in services} & LIVE_WEB_SERVICES)
    if live:
        return f"needs the live web (mock service {', '.join(live)} searches the internet)"
    served = {e.get("tool_name") for e in spec.get("tool_endpoints") or []}
    unserved = [t.get("name") for t in spec.get("tools") or [] if t.get("name") not in served]
    if unserved:
        return f"tools {', '.join(unserved)} are not served by a mock service (they need the Docker sandbox)"
    if spec.get("env_snapshot_commands") or spec.get("env_snapshot_files") or spec.get("sandbox_grader_files"):
        return "graded inside the harness's Docker sandbox"
    if (spec.get("user_agent") or {}).get("enabled"):
        return "needs the harness's simulated user model"
    return None


def _grader_uses_judge(root: Path, folder: Path, seen: set[Path] | None = None) -> bool:
    """True when the grader (or a grader it inherits from) consults the LLM judge."""
    seen = seen if seen is not None else set()
    grader = folder / "grader.py"
    if grader in seen or not grader.is_file():
        return False
    seen.add(grader)
    source = grader.read_text(encoding="utf-8", errors="replace")
    if _JUDGE_CALL.search(source):
        return True
    for shared in _SHARED_GRADER.findall(source):
        module = root / "src" / "claw_eval" / "graders" / f"{shared}.py"
        if module.is_file() and _JUDGE_CALL.search(module.read_text(encoding="utf-8", errors="replace")):
            return True
    return any(_grader_uses_judge(root, root / "tasks" / peer, seen) for peer in _PEER_GRADER.findall(source))


def _read_task(root: Path, task_yaml: Path) -> ClawTask:
    try:
        spec = yaml.load(task_yaml.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{task_yaml}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(spec, dict):
        raise UserError(f"{task_yaml}: expected a mapping with task_id, prompt, tools, ...")
    folder = task_yaml.parent
    task_id = str(spec.get("task_id") or folder.name)
    numbered = _NUMBERED.match(folder.name)
    ports = [int(s["port"]) for s in spec.get("services") or [] if isinstance(s, dict) and "port" in s]
    return ClawTask(
        task_id=task_id,
        folder=folder,
        category=str(spec.get("category") or "uncategorized"),
        family=numbered.group(1).upper() if numbered else "",
        number=int(numbered.group(2)) if numbered else None,
        ports=ports,
        needs_judge=_grader_uses_judge(root, folder),
        excluded_because=_exclusion_reason(spec),
    )


def load_checkout(path: str | Path) -> Checkout:
    """Validate that `path` is the root of a Claw-Eval checkout and read its task folders."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(
            f"--claw-eval-dir {path}: no such folder. Clone the official harness "
            "(GitHub claw-eval/claw-eval) and pass the clone's root folder."
        )
    root = root.resolve()
    task_files = sorted((root / "tasks").glob("*/task.yaml"))
    if not task_files or not (root / "mock_services").is_dir():
        hint = ""
        if list(root.glob("*/task.yaml")):
            hint = f" It looks like the tasks/ folder itself: pass its parent {root.parent}."
        raise UserError(
            f"--claw-eval-dir {root}: not a Claw-Eval checkout (expected tasks/<id>/task.yaml and "
            f"mock_services/ at its root).{hint}"
        )
    tasks: dict[str, ClawTask] = {}
    for task_yaml in task_files:
        task = _read_task(root, task_yaml)
        tasks[task.folder.name] = task
    return Checkout(root=root, tasks=tasks)


def _parse_number(token: str) -> int | None:
    m = re.fullmatch(r"[Tt]?(\d+)", token.strip())
    return int(m.group(1)) if m else None


def judge_free_tasks(checkout: Checkout) -> list[ClawTask]:
    """The offline T tasks graded by rules alone: they run without a judge model.

    On the Claw-Eval checkout read while writing this (commit 9365e1a) these are the 20 tasks
    T039-T044 and T086-T099.
    """
    return [t for _, t in sorted(checkout.tasks.items()) if t.family == "T" and t.offline and not t.needs_judge]


def describe_tasks(tasks: list[ClawTask]) -> str:
    """'T039-T044, T086-T099' for runs of T numbers (folder names for the rest)."""
    numbers = sorted({t.number for t in tasks if t.family == "T" and t.number is not None})
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [f"T{r[0]:03d}" if len(r) == 1 else f"T{r[0]:03d}-T{r[-1]:03d}" for r in runs]
    parts += [t.folder.name for t in tasks if t.family != "T" or t.number is None]
    return ", ".join(parts)


# Names a --tasks list may use beside folder names, T numbers and ranges.
NAMED_SELECTIONS = {"judge-free": judge_free_tasks}


def _select_explicit(checkout: Checkout, spec: str) -> list[ClawTask]:
    by_id = {t.task_id: t for t in checkout.tasks.values()}
    t_family = [t for t in checkout.tasks.values() if t.family == "T"]
    chosen: dict[str, ClawTask] = {}
    for token in (x.strip() for x in spec.split(",")):
        if not token:
            continue
        if token in NAMED_SELECTIONS:
            named = NAMED_SELECTIONS[token](checkout)
            if not named:
                raise UserError(f"--tasks {token}: no such task in {checkout.root}")
            chosen.update((t.folder.name, t) for t in named)
            continue
        if token in checkout.tasks or token in by_id:
            task = checkout.tasks.get(token) or by_id[token]
            chosen[task.folder.name] = task
            continue
        if "-" in token:
            low, _, high = token.partition("-")
            lo, hi = _parse_number(low), _parse_number(high)
            if lo is not None and hi is not None:
                if lo > hi:
                    raise UserError(f"--tasks: range {token!r} runs backwards; write {high}-{low}")
                matched = [t for t in t_family if lo <= t.number <= hi]
                if not matched:
                    raise UserError(f"--tasks: range {token!r} matches no T-family task in {checkout.root}")
                chosen.update((t.folder.name, t) for t in matched)
                continue
        number = _parse_number(token) if token[:1] in "Tt" else None
        matched = [t for t in t_family if number is not None and t.number == number]
        if not matched:
            close = difflib.get_close_matches(token, list(checkout.tasks), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UserError(
                f"--tasks: unknown task {token!r} (no folder tasks/{token} in {checkout.root}).{hint} "
                "Give folder names, T numbers (T002), ranges (T001-T020) or judge-free, separated by commas."
            )
        chosen.update((t.folder.name, t) for t in matched)
    return [chosen[name] for name in sorted(chosen)]


def select_tasks(checkout: Checkout, spec: str | None = None, include_live_web: bool = False) -> Selection:
    """The tasks to run: `spec` (ids, T numbers, ranges) or by default the whole T family.

    Tasks that are not offline-capable are set aside with their reason; with `include_live_web`
    the live-web ones are kept (the harness then needs its search key and internet access).
    """
    if spec:
        candidates = _select_explicit(checkout, spec)
    else:
        candidates = [t for name, t in sorted(checkout.tasks.items()) if t.family == "T"]
    keep, excluded = [], []
    for task in candidates:
        live_web_only = task.excluded_because and task.excluded_because.startswith("needs the live web")
        if task.offline or (include_live_web and live_web_only):
            keep.append(task)
        else:
            excluded.append(task)
    if not keep:
        reasons = "; ".join(f"{t.folder.name}: {t.excluded_because}" for t in excluded[:5])
        raise UserError(
            f"no runnable task selected from {checkout.root}"
            + (f" (excluded: {reasons})" if reasons else "")
        )
    return Selection(tasks=keep, excluded=excluded)
