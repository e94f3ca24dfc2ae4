"""Executable tasks as Harbor task folders (harbor-framework/harbor), one folder per intent.

The layout follows Harbor's documented task format (harborframework.com/docs/task-format):

  <task>/instruction.md          the intent's text: what the agent is asked
  <task>/task.toml               timeouts, resources, users, and the intent's metadata
  <task>/environment/Dockerfile  the ise-trace workspace: the sandbox's packages and agent user,
                                 the task's files in /workspace, its setup run as the agent
  <task>/tests/test.sh           runs the checks in /workspace and writes /logs/verifier/reward.txt
  <task>/solution/solve.sh       the reference solution (only when the intent has one)

Harbor uploads tests/ to /tests after the agent finishes and runs `bash /tests/test.sh`; the
oracle agent runs /solution/solve.sh. The checks never enter the image, so the agent cannot
read them, as in our own sandboxes.

The Dockerfile's base is a build ARG. Its default, `debian:bookworm-slim`, needs a registry
(the sandbox's missing packages are installed from Debian then); on a host without one, build
on the local workspace image, which already has the packages and the agent user:

    docker build --build-arg BASE=ise-trace-sandbox:<hash> <task>/environment
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import SandboxConfig, SimulateConfig, TaskConfig
from ..errors import UserError
from ..fsio import atomic_dir, write_text_atomic
from ..schemas import Intent
from . import toml

DEFAULT_BASE = "debian:bookworm-slim"
SCHEMA_VERSION = "1.3"  # the Harbor task.toml schema whose fields are written here
REWARD_FILE = "/logs/verifier/reward.txt"
TASK_DIR_IN_IMAGE = "/opt/ise-task"  # setup scripts while the image builds; removed after
_DIFFICULTY = {"simple": "easy", "medium": "medium", "complex": "hard"}
# The environment a workspace command sees (as the sandbox daemon sets it).
_AGENT_ENV = {
    "HOME": "/home/agent",
    "USER": "agent",
    "LOGNAME": "agent",
    "SHELL": "/bin/bash",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PIP_NO_INPUT": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "PAGER": "cat",
}


@dataclass
class ExportSettings:
    base_image: str = DEFAULT_BASE
    allow_internet: bool = False  # ise-trace workspaces are offline; a harness may need it on
    source: str = ""  # where the intents came from, recorded in the metadata
    task: TaskConfig = field(default_factory=TaskConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


def task_folder_name(intent_id: str) -> str:
    """A folder name Harbor and every file system accept; a short hash keeps altered ids apart."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", intent_id).strip("-.") or "task"
    if safe != intent_id:
        safe = f"{safe[:80]}-{hashlib.sha256(intent_id.encode()).hexdigest()[:8]}"
    return safe


def _sandbox_dir() -> Path:
    from ..execute.image import sandbox_dir

    return sandbox_dir()


def _megabytes(size: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", size.lower())
    if not match:
        raise UserError(f"sandbox size {size!r}: expected a number with k, m, g or t")
    factor = {"": 1 / (1 << 20), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1 << 20}[match.group(2)]
    return max(1, int(float(match.group(1)) * factor))


def task_toml(intent: Intent, settings: ExportSettings) -> str:
    task, sim, box = settings.task, settings.simulate, settings.sandbox
    domains = [d.name for d in intent.domains]
    setup = intent.workspace.setup if intent.workspace else []
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": {
            "name": f"ise-trace/{task_folder_name(intent.id)}",
            "description": _one_line(intent.text, 200),
            "keywords": [*domains, intent.complexity],
        },
        "metadata": {
            "difficulty": _DIFFICULTY[intent.complexity],
            "category": domains[0] if domains else "uncategorized",
            "tags": [*domains, intent.complexity],
            "complexity": intent.complexity,
            "domains": domains,
            "task_names": [t.name for d in intent.domains for t in d.tasks],
            "task_origin": intent.task_origin or "unknown",
            "checks": [c.name for c in intent.checks or []],
            "persona": intent.persona.model_dump(),
            "provenance": {
                "intent_id": intent.id,
                "seed": intent.seed,
                "renderer_model": intent.renderer.model,
                "renderer_prompt_version": intent.renderer.prompt_version,
                "source": settings.source,
                "exported_by": f"ise-trace {__version__}",
                "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        },
        "verifier": {
            # Every check may take its full time, plus the start of the script.
            "timeout_sec": float(len(intent.checks or []) * task.check_timeout_s + 30),
            "user": "root",  # test.sh runs each check as the agent itself and writes the reward
        },
        "agent": {"timeout_sec": float(sim.time_budget_s), "user": box.user},
        "environment": {
            "build_timeout_sec": float(600 + len(setup) * task.setup_timeout_s),
            "cpus": max(1, int(round(box.cpus))),
            "memory_mb": _megabytes(box.memory),
            "storage_mb": 10240,
            "allow_internet": settings.allow_internet,
        },
    }
    return toml.dumps(document)


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def dockerfile(intent: Intent, settings: ExportSettings) -> str:
    spec = intent.workspace
    files = spec.files if spec else []
    setup = spec.setup if spec else []
    user, workdir = settings.sandbox.user, settings.sandbox.workdir
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in _AGENT_ENV.items())
    lines = [
        f"# Harbor environment of ise-trace task {intent.id} (exported by ise-trace {__version__}).",
        "#",
        f"# BASE: a Debian bookworm image. The default ({DEFAULT_BASE}) comes from a registry and gets the",
        "# sandbox's packages from Debian; without a registry, build on the local ise-trace workspace image:",
        "#   docker build --build-arg BASE=ise-trace-sandbox:<hash> environment/",
        f"ARG BASE={settings.base_image}",
        "FROM ${BASE}",
        "USER root",
        "",
        "# The packages of the ise-trace workspace image (sandbox/packages.txt), installed when missing.",
        "COPY packages.txt /opt/ise/packages.txt",
        "RUN set -e; missing=\"\"; \\",
        "    for p in $(grep -v '^#' /opt/ise/packages.txt); do \\",
        "      dpkg-query -W -f='${Status}' \"$p\" 2>/dev/null | grep -q 'ok installed' || missing=\"$missing $p\"; \\",
        "    done; \\",
        "    if [ -n \"$missing\" ]; then \\",
        "      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \\",
        "      && rm -rf /var/lib/apt/lists/*; \\",
        "    fi",
        f"RUN id -u {user} >/dev/null 2>&1 || useradd --create-home --uid 1000 --shell /bin/bash {user}; \\",
        f"    mkdir -p {workdir} && chown {user}:{user} {workdir}",
        f"ENV {env}",
    ]
    if files:
        lines += ["", "# The task's files, owned by the agent as in a seeded workspace.",
                  f"COPY --chown={user}:{user} workspace/ {workdir}/"]
        modes = [f"chmod {f.mode} {shlex.quote(workdir + '/' + f.path)}" for f in files if f.mode]
        if modes:
            lines.append("RUN " + " && \\\n    ".join(modes))
    if setup:
        lines += ["", "# The task's setup, in order, as the agent in /workspace; each step must exit 0.",
                  f"COPY setup/ {TASK_DIR_IN_IMAGE}/setup/", f"USER {user}", f"WORKDIR {workdir}"]
        lines += [f"RUN bash {TASK_DIR_IN_IMAGE}/setup/{_script_name(i)}" for i in range(len(setup))]
        lines += ["USER root", f"RUN rm -rf {TASK_DIR_IN_IMAGE}"]
    lines += ["", f"USER {user}", f"WORKDIR {workdir}", 'CMD ["sleep", "infinity"]', ""]
    return "\n".join(lines)


def _script_name(index: int) -> str:
    return f"{index + 1:02d}.sh"


def test_sh(intent: Intent, settings: ExportSettings) -> str:
    """The verifier: every check in /workspace as the agent, then the reward (1 all pass, else 0)."""
    user, workdir = settings.sandbox.user, settings.sandbox.workdir
    timeout = f"{settings.task.check_timeout_s:g}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in _AGENT_ENV.items() if k not in ("HOME", "USER", "LOGNAME"))
    calls = [f"check {_script_name(i)} {shlex.quote(c.name)}" for i, c in enumerate(intent.checks or [])]
    return f"""#!/bin/bash
# Verifier of ise-trace task {intent.id}: runs its {len(calls)} check(s) in {workdir} as the
# agent user and writes the reward Harbor reads, {REWARD_FILE}: 1 when every check
# passes, else 0 (the script then also exits 1). ISE_TRACE_REWARD_DIR overrides the folder.
here="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
reward_dir="${{ISE_TRACE_REWARD_DIR:-{REWARD_FILE.rsplit('/', 1)[0]}}}"
mkdir -p "$reward_dir"
export {exports}
as_agent=()
if [ "$(id -u)" = 0 ] && id -u {user} >/dev/null 2>&1; then
  as_agent=(runuser -u {user} --)
fi
passed=0
total=0
check() {{  # check SCRIPT NAME
  total=$((total + 1))
  (cd {workdir} && timeout {timeout} "${{as_agent[@]}}" bash "$here/checks/$1")
  local code=$?
  if [ "$code" -eq 0 ]; then
    passed=$((passed + 1))
    echo "PASS: $2"
  else
    echo "FAIL: $2 (exit $code)"
  fi
}}
{chr(10).join(calls)}
echo "$passed/$total checks passed"
if [ "$passed" -eq "$total" ]; then
  echo 1 > "$reward_dir/reward.txt"
  exit 0
fi
echo 0 > "$reward_dir/reward.txt"
exit 1
"""


def solve_sh(intent: Intent, settings: ExportSettings) -> str:
    user, workdir = settings.sandbox.user, settings.sandbox.workdir
    return f"""#!/bin/bash
# Reference solution of ise-trace task {intent.id}: reaches the goal its checks test.
# It runs as the agent user in {workdir}, as in ise-trace's own validation.
if [ "$(id -u)" = 0 ] && id -u {user} >/dev/null 2>&1; then
  exec runuser -u {user} -- bash "$(readlink -f "${{BASH_SOURCE[0]}}")" "$@"
fi
cd {workdir} || exit 1
{intent.reference.rstrip(chr(10))}
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file of the task folder, readable by everyone (Harbor uploads it; the agent runs it)."""
    write_text_atomic(path, text)
    path.chmod(mode)


def _script(body: str) -> str:
    return "#!/bin/bash\n" + body.rstrip("\n") + "\n"


def write_task(intent: Intent, out: Path, settings: ExportSettings) -> Path:
    """Write one task folder under `out`, replacing an earlier export of it whole."""
    if not intent.has_task:
        raise ValueError(f"intent {intent.id} has no task to export")
    target = out / task_folder_name(intent.id)
    with atomic_dir(target) as tmp:
        _write(tmp / "instruction.md", intent.text.rstrip("\n") + "\n")
        _write(tmp / "task.toml", task_toml(intent, settings))
        env = tmp / "environment"
        _write(env / "Dockerfile", dockerfile(intent, settings))
        _write(env / "packages.txt", (_sandbox_dir() / "packages.txt").read_text(encoding="utf-8"))
        spec = intent.workspace
        for f in spec.files if spec else []:
            _write_inside(env / "workspace", f.path, f.content)
        for i, command in enumerate(spec.setup if spec else []):
            _write(env / "setup" / _script_name(i), _script(command))
        tests = tmp / "tests"
        _write(tests / "test.sh", test_sh(intent, settings), 0o755)
        for i, check in enumerate(intent.checks or []):
            _write(tests / "checks" / _script_name(i), _script(f"# check: {_one_line(check.name, 200)}\n{check.command}"))
        if intent.reference:
            _write(tmp / "solution" / "solve.sh", solve_sh(intent, settings), 0o755)
        tmp.chmod(0o755)
    return target


def _write_inside(root: Path, relative: str, content: str) -> None:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or path == root.resolve():
        raise UserError(f"file path {relative!r}: must be relative and inside /workspace")
    _write(path, content)


@dataclass
class ExportReport:
    written: list[Path] = field(default_factory=list)
    without_task: int = 0
    invalid: dict[str, str] = field(default_factory=dict)  # intent id -> why validation rejected it

    def summary(self, out: Path) -> str:
        parts = [f"exported {len(self.written)} Harbor task folder(s) to {out}"]
        if self.without_task:
            parts.append(f"{self.without_task} intent(s) without a task skipped")
        if self.invalid:
            parts.append(f"{len(self.invalid)} task(s) failed validation and were skipped")
        return "; ".join(parts)


def export_tasks(intents: list[Intent], out: Path, settings: ExportSettings) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for intent in intents:
        name = task_folder_name(intent.id)
        if name in names:
            raise UserError(f"intents {names[name]!r} and {intent.id!r} map to the same task folder {name}; rename one")
        names[name] = intent.id
    return [write_task(intent, out, settings) for intent in intents]
