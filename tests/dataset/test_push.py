"""`ise-trace push` against the stand-in Hub server (tests/fixtures/hub_server.py), and loading
the pushed versions back through it with `load_dataset(repo, revision=tag)` as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ise_trace.cli import main
from tests.dataset.synthetic import write_run_dir
from tests.fixtures.hub_server import HUB_TOKEN

REPO = "ise-org/ise-trace"
ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter so that HF_ENDPOINT and HF_HOME apply from import time on.
LOAD_SCRIPT = """
import hashlib, json, sys
from datasets import load_dataset

def digest(ds):
    rows = sorted((r for split in ds.values() for r in split), key=lambda r: r["id"])
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()

repo, revisions = sys.argv[1], sys.argv[2:]
out = {}
for rev in revisions:
    ds = load_dataset(repo, revision=rev)
    intents = load_dataset(repo, "intents", revision=rev)
    call = next(tc for m in ds["train"][0]["messages"] for tc in (m["tool_calls"] or ()))
    streamed = next(iter(load_dataset(repo, revision=rev, split="train", streaming=True)))
    out[rev] = {
        "splits": {k: len(v) for k, v in ds.items()},
        "digest": digest(ds),
        "intents": sum(len(v) for v in intents.values()),
        "arguments_type": type(call["function"]["arguments"]).__name__,
        "streamed_first_row_matches": streamed == ds["train"][0],
    }
print(json.dumps(out))
"""


def _digest(folder: Path, cache: Path) -> str:
    from datasets import load_dataset

    ds = load_dataset(str(folder), cache_dir=str(cache))
    rows = sorted((r for split in ds.values() for r in split), key=lambda r: r["id"])
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


@pytest.fixture
def online(monkeypatch):
    """The session runs with HF_HUB_OFFLINE=1; pushes to the loopback stand-in need it off, and
    the stand-in has no Xet storage, so uploads take the LFS path (HF_HUB_DISABLE_XET)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


def _push(folder, version, endpoint, *extra):
    return main(["push", str(folder), "--repo", REPO, "--version", version, "--endpoint", endpoint, "--quiet", *extra])


def _load_from_hub(hub, tmp_path, *revisions) -> dict:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": HUB_TOKEN,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, REPO, *revisions], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_stand_in_hub_push_two_versions_and_load_each_by_tag(hub_server, built, tmp_path, online, capsys):
    v1 = built.out
    assert _push(v1, "1.0.0", hub_server.url, "--token", HUB_TOKEN) == 0
    assert f'load_dataset("{REPO}", revision="v1.0.0")' in capsys.readouterr().out

    from ise_trace.config import BUILD_PRESETS
    from ise_trace.dataset.folder import build_folder

    v2 = tmp_path / "v2" / "ise-trace"
    small = write_run_dir(tmp_path / "run2", 7, seed=3, user_turns=2)
    build_folder(BUILD_PRESETS["demo"].model_copy(update={"vendi": False}), v2, run_dir=small, show_progress=False)
    assert _push(v2, "1.1.0", hub_server.url, "--token", HUB_TOKEN) == 0

    repo = hub_server.state.repos[("dataset", REPO)]
    assert set(repo.tags) == {"v1.0.0", "v1.1.0"}
    c1 = repo.commits[repo.tags["v1.0.0"][0]]
    c2 = repo.commits[repo.tags["v1.1.0"][0]]
    assert c1.title.startswith("ise-trace v1.0.0: 60 trajectories")
    assert "user turns mean/median/max" in c1.description
    # each tag holds exactly its folder's files, byte for byte (stale shards of v1 are gone in v2)
    for commit, folder in ((c1, v1), (c2, v2)):
        local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        remote = {p: b.data for p, b in commit.files.items() if p != ".gitattributes"}
        assert remote == local
    assert all(b.lfs for p, b in c1.files.items() if p.endswith(".parquet"))

    loaded = _load_from_hub(hub_server, tmp_path, "v1.0.0", "v1.1.0")
    assert loaded["v1.0.0"]["digest"] == _digest(v1, tmp_path / "c1")
    assert loaded["v1.1.0"]["digest"] == _digest(v2, tmp_path / "c2")
    assert sum(loaded["v1.0.0"]["splits"].values()) == 60
    assert sum(loaded["v1.1.0"]["splits"].values()) == 7
    assert loaded["v1.0.0"]["intents"] == 70
    assert loaded["v1.0.0"]["arguments_type"] == "dict"
    assert loaded["v1.0.0"]["streamed_first_row_matches"] and loaded["v1.1.0"]["streamed_first_row_matches"]
    # the stand-in answered every request the real clients made
    assert hub_server.unrouted == []


def test_existing_tag_is_refused_and_nothing_is_committed(hub_server, built, online, capsys):
    assert _push(built.out, "1.0.0", hub_server.url, "--token", HUB_TOKEN) == 0
    repo = hub_server.state.repos[("dataset", REPO)]
    head = repo.branches["main"]
    capsys.readouterr()
    assert _push(built.out, "v1.0.0", hub_server.url, "--token", HUB_TOKEN) == 2
    err = capsys.readouterr().err
    assert f"{REPO} already has tag v1.0.0" in err and "new --version" in err
    assert repo.branches["main"] == head and repo.tags["v1.0.0"][0] == head


@pytest.mark.parametrize("version", ["1.0", "latest", "01.2.3", "1.2.3.4"])
def test_non_semver_version_is_refused_before_any_request(hub_server, built, online, capsys, version):
    assert _push(built.out, version, hub_server.url, "--token", HUB_TOKEN) == 2
    assert "not a semantic version" in capsys.readouterr().err
    assert hub_server.requests == []


def test_unreachable_endpoint_says_so(built, online, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _push(built.out, "1.0.0", f"http://127.0.0.1:{port}", "--token", HUB_TOKEN) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the hub at http://127.0.0.1:{port}" in err


def test_bad_token_is_reported_and_no_repo_is_created(hub_server, built, online, capsys):
    assert _push(built.out, "1.0.0", hub_server.url, "--token", "hf_not_a_real_token") == 2
    err = capsys.readouterr().err
    assert "rejected the token (401 Unauthorized)" in err
    assert hub_server.state.repos == {}


def test_token_comes_from_the_environment(hub_server, built, online, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    assert _push(built.out, "2.0.0", hub_server.url) == 0
    assert "v2.0.0" in hub_server.state.repos[("dataset", REPO)].tags


def test_no_token_anywhere_is_a_clear_error(hub_server, built, online, monkeypatch, tmp_path, capsys):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    assert _push(built.out, "1.0.0", hub_server.url) == 2
    assert "no Hub token" in capsys.readouterr().err
    assert hub_server.requests == []


def test_push_of_something_that_is_not_a_dataset_folder(hub_server, tmp_path, online, capsys):
    assert _push(tmp_path, "1.0.0", hub_server.url, "--token", HUB_TOKEN) == 2
    assert "not a dataset folder" in capsys.readouterr().err
