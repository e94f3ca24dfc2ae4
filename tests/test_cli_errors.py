"""Bad paths given to the CLI end in one line naming the file or flag and exit 2, never a
traceback, and nothing is created, moved or written. Each runs the real `ise-trace` as a user
does (a subprocess); none gets as far as a model or a sandbox."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulate.scripted import make_intent

CLI = [sys.executable, "-m", "ise_trace.cli"]
BAD_UTF8 = b"simulate:\n  seed: 1  # \xff\xfe not UTF-8\n"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def one_line_error(argv: list[str], command: str, *needles: str) -> str:
    p = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=120)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1 and lines[0].startswith(f"ise-trace {command}: error: "), p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def intents(tmp_path: Path) -> Path:
    path = tmp_path / "intents.jsonl"
    path.write_text(make_intent("cli-errors", "List the files in the workspace.").model_dump_json() + "\n")
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("command", ["simulate", "intents", "build"])
def test_config_that_is_a_folder_or_not_utf8_is_one_line(command, tmp_path, intents):
    extra = {"simulate": ["--intents", str(intents), "--out", str(tmp_path / "run")],
             "intents": ["--out", str(tmp_path / "intents-out.jsonl")],
             "build": ["--out", str(tmp_path / "ds")]}[command]
    folder = tmp_path / "recipe.yaml"
    folder.mkdir()
    one_line_error([command, "--config", str(folder), *extra], command, str(folder), "is a folder")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(BAD_UTF8)
    one_line_error([command, "--config", str(binary), *extra], command, str(binary), "not UTF-8", "save the recipe as UTF-8")
    assert not (tmp_path / "run").exists() and not (tmp_path / "ds").exists()


def test_simulate_out_that_cannot_be_created_is_reported_before_the_model_check(tmp_path, intents):
    # The model server is down as well: the out folder is checked first, so that is what is said.
    one_line_error(["simulate", "--intents", str(intents), "--out", "/dev/null/sub",
                    "--agent-backend", "openai", "--agent-base-url", closed_port_url()],
                   "simulate", "--out /dev/null/sub", "/dev/null is not a folder")


def test_build_out_that_cannot_be_created_is_one_line(tmp_path, intents):
    one_line_error(["build", "--out", "/dev/null/ds", "--intents", str(intents)],
                   "build", "--out /dev/null/ds", "/dev/null is not a folder")


def test_build_out_that_is_an_existing_file_is_refused_and_the_file_untouched(tmp_path, intents):
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    before = files_under(tmp_path)
    one_line_error(["build", "--out", str(mine), "--intents", str(intents)], "build", f"--out {mine}", "is a file")
    assert mine.read_text() == "my notes\n"
    assert files_under(tmp_path) == before  # no hidden .notes.txt.old-PID, no work folder


def test_build_intents_that_is_a_folder_or_empty_is_one_line(tmp_path):
    folder = tmp_path / "intents"
    folder.mkdir()
    one_line_error(["build", "--out", str(tmp_path / "ds"), "--intents", str(folder)],
                   "build", str(folder), "cannot read the intents file")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(["build", "--out", str(tmp_path / "ds"), "--intents", str(empty)],
                   "build", str(empty), "holds no intents")
    assert files_under(tmp_path) == ["empty.jsonl", "intents"]


def test_build_out_that_is_a_folder_of_other_files_is_refused_and_left_alone(tmp_path, intents):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "cat.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    before = files_under(tmp_path)
    one_line_error(["build", "--out", str(mine), "--intents", str(intents)], "build",
                   f"--out {mine}", "not a dataset folder")
    assert files_under(tmp_path) == before
