"""The wheel works on its own: built from the sources, installed into a fresh venv, used from a
folder outside the checkout, and no command reads the source tree.

The fresh venv holds ise-trace from the wheel only (`--no-deps`); the third-party packages come
from the project's venv through a path line in a .pth file (installing them all offline takes
long). That is not `--system-site-packages`: the project's site-packages is added as a plain
path, so its `.pth` files (the editable install's finder among them) are never run. An audit
hook in the fresh venv records every file, folder and subprocess under the checkout that any
of its Python processes touches, outside the project's venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.simulate.scripted import make_intent

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[1]
PROJECT_SITE = Path(sysconfig.get_paths()["purelib"])

AUDIT = '''
import os, sys
_ROOT = {root!r} + os.sep
_ALLOWED = tuple(p + os.sep for p in {allowed!r})
_LOG = os.environ.get("ISE_TRACE_TEST_AUDIT_LOG")
_EVENTS = {{"open", "os.listdir", "os.scandir", "os.chdir", "shutil.copytree", "shutil.copyfile", "subprocess.Popen"}}

def _paths(event, args):
    if event == "subprocess.Popen":
        executable, argv, cwd = args[0], args[1], args[2]
        return [executable, cwd, *(argv if isinstance(argv, (list, tuple)) else [argv])]
    return list(args[:2])

def _hook(event, args):
    if not _LOG or event not in _EVENTS:
        return
    for p in _paths(event, args):
        if isinstance(p, (str, bytes, os.PathLike)) and not isinstance(p, int):
            text = os.fsdecode(p)
            full = os.path.abspath(text) + os.sep
            if full.startswith(_ROOT) and not full.startswith(_ALLOWED):
                with open(_LOG, "a") as f:
                    f.write(f"{{event}} {{text}}\\n")

sys.addaudithook(_hook)
'''


def _copy_sources(dest: Path) -> None:
    """The files git knows (tracked and new, not ignored), as a fresh clone would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """(venv python, bin folder, env, workdir) with ise-trace installed from a freshly built wheel."""
    base = tmp_path_factory.mktemp("wheel")
    src, dist, venv = base / "src", base / "dist", base / "venv"
    _copy_sources(src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("ise_trace-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("ise_trace/_data/sandbox/Dockerfile", "ise_trace/_data/sandbox/workspace_daemon.py",
                    "ise_trace/_data/dataset_card.md", "ise_trace/_data/eval/claw_eval/claw_eval.py",
                    "ise_trace/recipes/demo.yaml", "ise_trace/view/static/index.html",
                    "ise_trace/view/static/app.js", "ise_trace/view/static/style.css"):
        assert shipped in names, shipped
    assert not [n for n in names if n.startswith(("sft/", "builder/", "tests/")) or n.endswith("sft_data.py")]

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    (site / "_ise_trace_test_audit.py").write_text(AUDIT.format(root=str(ROOT), allowed=[str(PROJECT_SITE), sys.prefix]))
    (site / "zz-project-packages.pth").write_text(f"import _ise_trace_test_audit\n{PROJECT_SITE}\n")
    shutil.rmtree(src)  # nothing of the copy is left to read either

    work = base / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "ISE_TRACE_SANDBOX_DIR")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1", HF_HOME=str(base / "hf"),
               MPLCONFIGDIR=str(base / "mpl"), ISE_TRACE_TEST_AUDIT_LOG=str(base / "audit.log"))
    yield python, venv / "bin", env, work, base / "audit.log"


def _run(argv, env, cwd, timeout=300):
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (argv, p.stdout[-2000:], p.stderr[-3000:])
    return p


def test_installed_wheel_runs_the_pipeline_without_the_source_tree(wheel_venv, sandbox_image):
    from tests.llm.standin_server import Scripted, StandinServer, completion

    python, bin_dir, env, work, audit = wheel_venv
    # The audit hook sees a read of the checkout (the control), and nothing else is logged yet.
    control = audit.with_name("control.log")
    _run([str(python), "-c", f"open({str(ROOT / 'pyproject.toml')!r}).close()"],
         {**env, "ISE_TRACE_TEST_AUDIT_LOG": str(control)}, work)
    assert control.read_text().split() == ["open", str(ROOT / "pyproject.toml")]
    where = _run([str(python), "-c", "import ise_trace, ise_trace.resources as r; "
                  "print(ise_trace.__file__); print(r.resource('sandbox')); print(r.is_checkout())"], env, work)
    module, sandbox, checkout = where.stdout.split()
    assert Path(module).is_relative_to(python.parents[1]) and Path(sandbox).is_relative_to(python.parents[1])
    assert checkout == "False"

    # The image definition comes from the wheel: the same content hash as the checkout's.
    tag = _run([str(bin_dir / "ise-trace"), "sandbox", "build"], env, work, timeout=900).stdout.strip().splitlines()[-1]
    assert tag == sandbox_image

    intents = work / "intents.jsonl"
    intents.write_text(make_intent("wheel-1", "List the files in the workspace.").model_dump_json() + "\n")
    user_turn = json.dumps({"completed": False, "query": "List the files, please.", "reason": "start", "is_success": False})

    def reply(body):  # the agent is given tools; the simulator and the start-up check are not
        return Scripted(completion("There are no files yet." if body.get("tools") else user_turn))

    with StandinServer([reply]) as server:
        _run([str(bin_dir / "ise-trace"), "simulate", "--intents", str(intents), "--out", "run", "--agent-backend",
              "openai", "--agent-base-url", server.base_url, "--max-user-turns", "1", "--max-agent-steps", "1",
              "--time-budget-s", "60"], env, work)
    assert len((work / "run" / "trajectories.jsonl").read_text().splitlines()) == 1

    # The card template comes from the wheel.
    built = _run([str(bin_dir / "ise-trace"), "build", "--run-dir", "run", "--intents", str(intents), "--out", "ds",
                  "--no-vendi", "--quiet"], env, work)
    assert "wrote ds: 1 trajectories" in built.stdout
    assert "ISE-Trace" in (work / "ds" / "README.md").read_text()

    # The ClawEval metric comes from the wheel.
    assert "--claw-eval-dir" in _run([str(bin_dir / "ise-trace"), "eval", "--help"], env, work).stdout
    metric = _run([str(python), "-c", "from ise_trace.evaluation.report import METRIC_DIR, load_metric; "
                   "m = load_metric(); print(METRIC_DIR); print(sorted(m.features))"], env, work, timeout=600)
    folder, features = metric.stdout.strip().splitlines()[-2:]
    assert Path(folder).is_relative_to(python.parents[1]) and "task_id" in features

    touched = audit.read_text().splitlines() if audit.exists() else []
    assert touched == [], f"the installed ise-trace read the source tree: {touched[:20]}"
