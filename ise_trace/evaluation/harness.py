"""Run one trial of one task through the official Claw-Eval CLI and read back its grade.

Each trial is one `claw-eval run --task DIR --trials 1 --port-offset N --trace-dir D` process in
its own session (so a timeout or Ctrl-C also ends the mock services it started). The harness
writes a JSONL trace and appends a `grading_result` event once the trial is graded; that event
is the only proof a trial finished, which is also how the harness's own `--continue` decides.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .tasks import ClawTask

# Written to the run folder; keys are read from the environment by the harness itself
# (its config supports ${VAR}), so no secret ever lands on disk.
MODEL_KEY_VAR = "ISE_TRACE_EVAL_MODEL_KEY"
JUDGE_KEY_VAR = "ISE_TRACE_EVAL_JUDGE_KEY"
HELP_MARKERS = ("--port-offset", "--trace-dir", "--task")


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
    """Ask the CLI for `run --help` and make sure it is the harness this driver speaks to."""
    try:
        proc = subprocess.run(
            [*harness.command, "run", "--help"],
            cwd=harness.checkout,
            env={**os.environ, **harness.env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except FileNotFoundError:
        raise UserError(f"harness command {harness.describe()!r}: no such program") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"harness command {harness.describe()!r}: `run --help` did not answer in {timeout_s:.0f}s") from None
    text = proc.stdout + proc.stderr
    if proc.returncode != 0 or not all(marker in text for marker in HELP_MARKERS):
        tail = " | ".join(text.strip().splitlines()[-3:])
        raise UserError(
            f"harness command {harness.describe()!r} is not the Claw-Eval CLI (`run --help` exited "
            f"{proc.returncode} without {', '.join(HELP_MARKERS)}): {tail or 'no output'}. "
            "Install the checkout (pip install -e '.[mock]') or pass --harness-cmd."
        )


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


def read_graded_trial(trial_dir: Path, task: ClawTask, trial: int, run_root: Path) -> TrialResult | None:
    """The trial's grade from its harness trace, or None when no trace carries a grading_result."""
    traces = sorted((trial_dir / "traces").rglob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for trace in traces:
        events = _read_events(trace)
        grading = next((e for e in reversed(events) if e.get("type") == "grading_result"), None)
        if grading is None:
            continue
        end = next((e for e in reversed(events) if e.get("type") == "trace_end"), {})
        scores = grading.get("scores") or {}
        return TrialResult(
            task_id=task.task_id,
            trial=trial,
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
        )
    return None


def _last_words(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def _end_group(pgid: int, grace_s: float) -> None:
    """End a trial's process group: the harness and any mock service it left behind.

    Left-over services matter: the harness reuses whatever answers on a port, so a stale one
    would serve the next trial in that slot with old state.
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


class TrialLauncher:
    """Starts harness trials and can stop every running one (on timeout or Ctrl-C)."""

    def __init__(self, harness: Harness, config_path: Path, model: str, base_url: str,
                 use_judge: bool, env: dict[str, str], timeout_s: float):
        self.harness = harness
        self.config_path = config_path
        self.model = model
        self.base_url = base_url
        self.use_judge = use_judge
        # Unbuffered, so harness.log keeps output and tracebacks in order even when it is killed.
        self.env = {**os.environ, **harness.env, **env, "PYTHONUNBUFFERED": "1",
                    "NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1"}
        self.timeout_s = timeout_s
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def run(self, task: ClawTask, trial: int, trial_dir: Path, port_offset: int, run_root: Path) -> TrialResult:
        if trial_dir.exists():
            shutil.rmtree(trial_dir)  # an unfinished attempt: its partial trace must not be read later
        (trial_dir / "traces").mkdir(parents=True)
        log = trial_dir / "harness.log"
        command = [
            *self.harness.command, "run",
            "--task", str(task.folder),
            "--config", str(self.config_path),
            "--model", self.model,
            "--base-url", self.base_url,
            "--trials", "1",
            "--trace-dir", str(trial_dir / "traces"),
            "--port-offset", str(port_offset),
        ]
        if not self.use_judge:
            command.append("--no-judge")
        timed_out = False
        with open(log, "wb") as out:
            if self._stopping.is_set():
                return TrialResult(task.task_id, trial, task.category, error="interrupted")
            proc = subprocess.Popen(command, cwd=self.harness.checkout, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            with self._lock:
                self._running.add(proc)
            try:
                proc.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _end_group(proc.pid, grace_s=5.0)
                proc.wait()
                with self._lock:
                    self._running.discard(proc)
        graded = read_graded_trial(trial_dir, task, trial, run_root)
        if graded is not None:
            return graded
        if timed_out:
            reason = f"timed out after {self.timeout_s:.0f}s"
        elif self._stopping.is_set():
            reason = "interrupted"
        else:
            reason = f"harness exited {proc.returncode} without a grade"
        words = _last_words(log)
        return TrialResult(task.task_id, trial, task.category,
                           error=f"{reason}: {words}" if words else reason)

    def stop_all(self) -> None:
        self._stopping.set()
        with self._lock:
            running = list(self._running)
        for proc in running:
            _end_group(proc.pid, grace_s=5.0)
