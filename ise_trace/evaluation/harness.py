"""Run a task's trials through the official Claw-Eval CLI and read back their grades.

Each task is one `claw-eval batch --tasks-dir <checkout>/tasks --filter <folder> --parallel 1
--trials N --port-base-offset <slot>` process in its own session, so a timeout or Ctrl-C also
ends the mock services it started. Batch mode is the harness's graded path: it appends a
`grading_result` event to each trace it grades (its single-task `run` only prints the grade).
That event is the proof a trial finished, the same test the harness's own `--continue` applies,
and `--continue <folder>` makes it run only the trials still missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UserError
from .tasks import ClawTask

# The harness config reads keys from the environment (it expands ${VAR}): no secret on disk.
MODEL_KEY_VAR = "ISE_TRACE_EVAL_MODEL_KEY"
JUDGE_KEY_VAR = "ISE_TRACE_EVAL_JUDGE_KEY"
HELP_MARKERS = ("--continue", "--port-base-offset", "--filter", "--trace-dir")
BATCH_RESULTS = "batch_results.json"


@dataclass(frozen=True)
class Harness:
    """How to start the Claw-Eval CLI for a checkout."""

    command: list[str]
    checkout: Path
    env: dict[str, str]

    def describe(self) -> str:
        return shlex.join(self.command)


def resolve_harness(checkout: Path, harness_cmd: str | None) -> Harness:
    """The user's --harness-cmd, else the checkout's own venv, else this Python on its src/.

    A `claw-eval` found on PATH is never used implicitly: PyPI's `claw-eval` is another project.
    """
    if harness_cmd:
        return Harness(command=shlex.split(harness_cmd), checkout=checkout, env={})
    venv_cli = checkout / ".venv" / "bin" / "claw-eval"
    if venv_cli.is_file():
        return Harness(command=[str(venv_cli)], checkout=checkout, env={})
    src = checkout / "src"
    if not (src / "claw_eval" / "cli.py").is_file():
        raise UserError(
            f"--claw-eval-dir {checkout}: no harness CLI found (neither .venv/bin/claw-eval nor "
            "src/claw_eval/cli.py). Install the checkout (pip install -e '.[mock]') or pass --harness-cmd."
        )
    pythonpath = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    return Harness(command=[sys.executable, "-m", "claw_eval.cli"], checkout=checkout, env={"PYTHONPATH": pythonpath})


def check_harness(harness: Harness, timeout_s: float = 120.0) -> None:
    """Ask the CLI for `batch --help` and make sure it is the harness this driver speaks to."""
    try:
        proc = subprocess.run(
            [*harness.command, "batch", "--help"],
            cwd=harness.checkout,
            env={**os.environ, **harness.env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except (FileNotFoundError, PermissionError) as e:
        raise UserError(f"harness command {harness.describe()!r}: cannot start it ({e.strerror})") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"harness command {harness.describe()!r}: `batch --help` did not answer in {timeout_s:.0f}s") from None
    text = proc.stdout + proc.stderr
    if proc.returncode != 0 or not all(marker in text for marker in HELP_MARKERS):
        tail = " | ".join(text.strip().splitlines()[-3:])
        raise UserError(
            f"harness command {harness.describe()!r} is not the Claw-Eval CLI (`batch --help` exited "
            f"{proc.returncode} without {', '.join(HELP_MARKERS)}): {tail or 'no output'}. "
            "Install the checkout (pip install -e '.[mock]') or pass --harness-cmd."
        )


def filter_args(task: ClawTask, all_tasks: list[ClawTask]) -> list[str]:
    """Batch flags that select exactly `task` (its --filter is a substring of the folder path)."""
    needle = task.folder.name.lower()
    clashes = [t for t in all_tasks if t is not task and needle in str(t.folder).lower()]
    args = ["--filter", task.folder.name]
    if clashes and task.family == "T" and task.number is not None:
        args += ["--range", f"{task.number}-{task.number}"]
        clashes = [t for t in clashes if t.family == "T" and t.number == task.number]
    if clashes:
        raise UserError(
            f"task {task.folder.name}: the harness's --filter cannot single it out from "
            f"{', '.join(t.folder.name for t in clashes)}; run it with --harness-cmd pointing at a copy without them"
        )
    return args


def harness_config_yaml(model: str, base_url: str, judge_model: str | None, judge_base_url: str | None) -> str:
    """The harness config file: model and judge endpoints, keys taken from the environment."""
    import yaml

    config = {
        "model": {"api_key": f"${{{MODEL_KEY_VAR}}}", "base_url": base_url, "model_id": model},
        "judge": {
            "api_key": f"${{{JUDGE_KEY_VAR}}}",
            "base_url": judge_base_url or base_url,
            "model_id": judge_model or model,
            "enabled": judge_model is not None,
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class TrialResult:
    """One graded (or failed) trial, as the metric and the results file need it."""

    task_id: str
    trial: int
    category: str
    completion: float | None = None
    robustness: float | None = None
    communication: float | None = None
    safety: float | None = None
    score: float | None = None
    passed: bool = False
    error: str | None = None
    trace: str | None = None
    tokens: int | None = None
    wall_time_s: float | None = None


def _read_events(path: Path) -> list[dict]:
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted write
    return events


def read_graded_trials(task_dir: Path, task: ClawTask, limit: int, run_root: Path) -> list[TrialResult]:
    """The task's graded trials, oldest first, numbered 0.. (at most `limit`)."""
    graded = []
    for trace in task_dir.glob("*/*.jsonl"):
        events = _read_events(trace)
        grading = next((e for e in reversed(events) if e.get("type") == "grading_result"), None)
        if grading is None:
            continue
        start = next((e for e in events if e.get("type") == "trace_start"), {})
        end = next((e for e in reversed(events) if e.get("type") == "trace_end"), {})
        graded.append((str(start.get("timestamp", "")), trace.name, trace, grading, end))
    graded.sort(key=lambda item: item[:2])
    results = []
    for index, (_, _, trace, grading, end) in enumerate(graded[:limit]):
        scores = grading.get("scores") or {}
        results.append(TrialResult(
            task_id=task.task_id,
            trial=index,
            category=task.category,
            completion=scores.get("completion"),
            robustness=scores.get("robustness"),
            communication=scores.get("communication"),
            safety=scores.get("safety"),
            score=grading.get("task_score"),
            passed=bool(grading.get("passed")),
            trace=str(trace.relative_to(run_root)),
            tokens=end.get("total_tokens"),
            wall_time_s=end.get("wall_time_s"),
        ))
    return results


def existing_batch_dir(task_dir: Path) -> Path | None:
    """The harness's trace folder from an earlier attempt at this task, to --continue."""
    folders = sorted(p for p in task_dir.iterdir() if p.is_dir()) if task_dir.is_dir() else []
    return folders[0] if folders else None


def _harness_errors(batch_dir: Path | None, task: ClawTask) -> list[str]:
    """Error messages the harness recorded for this task in its batch results, if any."""
    if batch_dir is None:
        return []
    try:
        entries = json.loads((batch_dir / BATCH_RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    messages = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("task_id") != task.task_id:
            continue
        messages += [one_line(t["error"]) for t in entry.get("trials") or [] if isinstance(t, dict) and t.get("error")]
        if entry.get("error") and not messages:
            messages.append(one_line(entry["error"]))
    return messages


def one_line(error: object) -> str:
    """An error the harness recorded (often with a traceback in it) as one line: its first line,
    which says what failed, and its last, which says why."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} ... {lines[-1]}"


def _last_words(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def _end_group(pgid: int, grace_s: float) -> None:
    """End a task's process group: the harness and any mock service it left behind.

    Left-over services matter: the harness reuses whatever answers on a port, so a stale one
    would serve the next task in that slot with old state.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    # Killed members may linger as zombies until their new parent reaps them: do not wait for that.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


class TaskLauncher:
    """Starts harness batch runs, one task each, and can stop every running one."""

    def __init__(self, harness: Harness, config_path: Path, model: str, base_url: str,
                 use_judge: bool, env: dict[str, str], trial_timeout_s: float, all_tasks: list[ClawTask]):
        self.harness = harness
        self.config_path = config_path
        self.model = model
        self.base_url = base_url
        self.use_judge = use_judge
        # Unbuffered, so harness.log keeps output and tracebacks in order even when it is killed.
        self.env = {**os.environ, **harness.env, **env, "PYTHONUNBUFFERED": "1",
                    "NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1"}
        self.trial_timeout_s = trial_timeout_s
        self.all_tasks = all_tasks
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def command(self, task: ClawTask, trials: int, task_dir: Path, port_offset: int) -> list[str]:
        command = [
            *self.harness.command, "batch",
            "--tasks-dir", str(task.folder.parent),
            *filter_args(task, self.all_tasks),
            "--parallel", "1",
            "--trials", str(trials),
            "--config", str(self.config_path),
            "--model", self.model,
            "--base-url", self.base_url,
            "--port-base-offset", str(port_offset),
        ]
        previous = existing_batch_dir(task_dir)
        command += ["--continue", str(previous)] if previous else ["--trace-dir", str(task_dir)]
        if not self.use_judge:
            command.append("--no-judge")
        return command

    def run(self, task: ClawTask, trials: int, task_dir: Path, port_offset: int, run_root: Path) -> list[TrialResult]:
        """Bring the task to `trials` graded trials; return one row per trial (errors included)."""
        task_dir.mkdir(parents=True, exist_ok=True)
        missing = trials - len(read_graded_trials(task_dir, task, trials, run_root))
        log = task_dir / "harness.log"
        timed_out = False
        with open(log, "ab") as out:
            out.write(f"\n=== {datetime.now(timezone.utc).isoformat(timespec='seconds')} "
                      f"ise-trace eval: {missing} trial(s) to run\n".encode())
            out.flush()
            if not self._stopping.is_set():
                proc = subprocess.Popen(self.command(task, trials, task_dir, port_offset), cwd=self.harness.checkout,
                                        env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                with self._lock:
                    self._running.add(proc)
                try:
                    proc.wait(timeout=self.trial_timeout_s * max(missing, 1))
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    _end_group(proc.pid, grace_s=5.0)
                    proc.wait()
                    with self._lock:
                        self._running.discard(proc)
        results = read_graded_trials(task_dir, task, trials, run_root)
        if len(results) < trials:
            if timed_out:
                reasons = [f"timed out after {self.trial_timeout_s * max(missing, 1):.0f}s"]
            elif self._stopping.is_set():
                reasons = ["interrupted"]
            else:
                reasons = _harness_errors(existing_batch_dir(task_dir), task)
                reasons = reasons or [f"harness exited {proc.returncode} without a grade: {_last_words(log)}"]
            for index in range(len(results), trials):
                reason = reasons[min(index - len(results), len(reasons) - 1)]
                results.append(TrialResult(task.task_id, index, task.category, error=reason))
        return results

    def stop_all(self) -> None:
        self._stopping.set()
        with self._lock:
            running = list(self._running)
        for proc in running:
            _end_group(proc.pid, grace_s=5.0)
