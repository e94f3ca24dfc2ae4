"""`ise-trace view` from the command line: it serves, it exports, and bad input is one line, exit 2."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request

import pytest

from ise_trace.cli import main


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ise-trace view: error: ") and "\n" not in err, err
    return err


def test_missing_path(capsys, tmp_path):
    err = one_line_error(capsys, ["view", str(tmp_path / "nowhere")])
    assert "nowhere: no such folder" in err


def test_not_a_run_or_dataset_folder(capsys, tmp_path):
    err = one_line_error(capsys, ["view", str(tmp_path)])
    assert "neither a run folder (trajectories.jsonl) nor a dataset folder" in err
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a folder" in one_line_error(capsys, ["view", str(tmp_path / "notes.txt")])
    (tmp_path / "data" / "trajectories").mkdir(parents=True)
    assert "no parquet shards" in one_line_error(capsys, ["view", str(tmp_path)])


def test_a_bad_ledger_line(capsys, tmp_path):
    (tmp_path / "trajectories.jsonl").write_text('{"id": "a"}\n{oops\n{"id": "b"}\n')
    assert "trajectories.jsonl:2: not valid JSON" in one_line_error(capsys, ["view", str(tmp_path)])


def test_busy_port(capsys, run_folder):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        err = one_line_error(capsys, ["view", str(run_folder), "--port", str(port)])
    assert f"127.0.0.1:{port}: port already in use" in err


@pytest.mark.parametrize("inherited_sigint", ["default", "ignored"])
def test_serves_on_loopback_by_default(run_folder, trajectories, inherited_sigint):
    """The real console entry point: it prints its URL, binds 127.0.0.1, answers, and stops on
    SIGINT, also when started with SIGINT ignored (as a shell starts a background job)."""
    import signal

    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if inherited_sigint == "ignored" else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "ise_trace.cli", "view", str(run_folder), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"serving run folder {run_folder} ({len(trajectories)} trajectories) at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/list?limit=1", timeout=30) as r:
            assert json.load(r)["total"] == len(trajectories)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"still running 30 s after SIGINT; stderr: {proc.communicate()[1][-2000:]}") from None
    assert rc == 0, proc.stderr.read()


def test_export(capsys, tmp_path, dataset_folder, trajectories):
    out = tmp_path / "site"
    assert main(["view", str(dataset_folder), "--export", str(out)]) == 0
    assert f"wrote the pages of {len(trajectories)} trajectories" in capsys.readouterr().out
    assert (out / "index.html").read_text().count('<script src="data/index.js"></script>') == 1
    assert {p.name for p in (out / "static").iterdir()} == {"app.js", "style.css"}
    index = json.loads((out / "data" / "index.js").read_text().removeprefix("window.ISE_STATIC_INDEX = ").rstrip().rstrip(";"))
    assert index["source"]["kind"] == "dataset" and len(index["rows"]) == len(trajectories)
    pages = sorted((out / "data" / "t").iterdir(), key=lambda p: int(p.stem))
    assert [int(p.stem) for p in pages] == list(range(len(trajectories)))
    first = pages[0].read_text()
    assert first.startswith("ISE_STATIC_TRAJECTORY(0, {")
    data = json.loads(first.removeprefix("ISE_STATIC_TRAJECTORY(0, ").rstrip().removesuffix(");"))
    assert data["id"] == index["rows"][0]["id"]
    # a second export replaces the folder whole
    assert main(["view", str(dataset_folder), "--export", str(out)]) == 0
    # never into the folder being viewed
    assert "inside the folder being viewed" in one_line_error(capsys, ["view", str(dataset_folder), "--export", str(dataset_folder / "site")])


def test_help_names_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["view", "--help"])
    out = capsys.readouterr().out
    assert "127.0.0.1" in out and "--export" in out
