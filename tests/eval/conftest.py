"""Fixtures for the eval tests: the stand-in harness checkout and the scripted model server."""

from __future__ import annotations

import random
import shutil
import socket
from pathlib import Path

import pytest

from ise_trace.cli import main

from .scripted_server import ScriptedModelServer

STANDIN = Path(__file__).parent / "standin_checkout"
PORT_STRIDE = 50


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_base(slots: int = 3) -> int:
    """A port whose shifts by the harness stride are free too (for parallel slots)."""
    for _ in range(200):
        base = random.randrange(20000, 30000)
        if all(_free(base + i * PORT_STRIDE + j) for i in range(slots) for j in range(2)):
            return base
    raise RuntimeError("no free port range found on loopback")


@pytest.fixture(scope="session")
def standin_checkout(tmp_path_factory) -> Path:
    """A copy of the stand-in Claw-Eval checkout, its service ports moved to a free range."""
    root = tmp_path_factory.mktemp("claw-eval") / "claw-eval"
    shutil.copytree(STANDIN, root, ignore=shutil.ignore_patterns("__pycache__"))
    base = free_port_base()
    for task_yaml in root.glob("tasks/*/task.yaml"):
        text = task_yaml.read_text()
        task_yaml.write_text(text.replace("9100", str(base)).replace("9101", str(base + 1)))
    return root


@pytest.fixture(scope="session")
def model_server():
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def run_eval_cli(standin_checkout, model_server, monkeypatch):
    """Call `ise-trace eval` in-process against the stand-in checkout and the scripted server."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def run(*args: str, model: str = "scripted-good") -> int:
        base = ["eval", "--claw-eval-dir", str(standin_checkout), "--model-base-url", model_server.base_url,
                "--model", model]
        return main(base + list(args))

    return run
