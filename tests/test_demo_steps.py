"""The demo's closing "Next steps" run as printed, in a shell where nothing is activated
(`bash scripts/run.sh demo` runs `.venv/bin/ise-trace demo`: its venv is not on PATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ise_trace.commands import demo

REPO = Path(__file__).resolve().parents[1]
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"
BIN = Path(sys.prefix) / "bin"

in_venv = pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the tests run outside a virtualenv")


@in_venv
def test_next_steps_start_by_activating_the_venv_when_path_lacks_it(monkeypatch, tmp_path):
    import ise_trace.dataset.corpus_stats as corpus_stats

    stats = SimpleNamespace(verification_counts={"passed": 1}, outcome_counts={"success": 1})
    monkeypatch.setattr(corpus_stats, "stats_of_folder", lambda folder, embedder=None: stats)
    monkeypatch.setenv("PATH", BARE_PATH)
    monkeypatch.chdir(BIN.parents[1])  # the folder holding the venv (the checkout), as run.sh runs it
    steps = [l.strip() for l in demo.next_steps(tmp_path, "ise-trace").split("Next steps:")[1].splitlines() if l.strip()]
    assert steps[0] == f"source {BIN.relative_to(Path.cwd()) / 'activate'}"
    assert steps[1] == "ise-trace stats ise-trace"
    assert any(l.startswith("python sft/tiny.py") for l in steps)

    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{BARE_PATH}")  # activated: nothing to add
    assert demo.next_steps(tmp_path, "ise-trace").split("Next steps:\n")[1].startswith("  ise-trace stats")


@in_venv
def test_the_activation_line_puts_the_step_commands_on_path(tmp_path):
    line = demo.activation_line(path=BARE_PATH, cwd=str(tmp_path))
    assert line == f"source {BIN.resolve() / 'activate'}"  # not under the current folder: absolute
    probe = f"{line} && for c in {' '.join(demo.STEP_COMMANDS)}; do command -v $c; done && ise-trace --help >/dev/null"
    r = subprocess.run(["bash", "-c", probe], cwd=tmp_path, env={**os.environ, "PATH": BARE_PATH},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [Path(p).parent.resolve() for p in r.stdout.split()] == [BIN.resolve()] * len(demo.STEP_COMMANDS)


def test_no_activation_line_outside_a_venv_or_once_activated(tmp_path):
    assert demo.activation_line(prefix="/usr", base_prefix="/usr", path=BARE_PATH) is None
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in demo.STEP_COMMANDS:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    venv = str(bin_dir.parent)
    assert demo.activation_line(prefix=venv, base_prefix="/usr", path=f"{bin_dir}:{BARE_PATH}") is None
    # No activate script (some tools make none): the PATH line, relative under the current folder.
    assert demo.activation_line(prefix=venv, base_prefix="/usr", path=BARE_PATH, cwd=str(tmp_path)) == \
        'export PATH=venv/bin:"$PATH"'
