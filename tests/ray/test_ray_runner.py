"""`ise-trace simulate --ray` on a real local Ray cluster (two node processes) and the real sandbox.

The model is the scripted stand-in server (tests/ray/standin.py), on loopback. Faults are real:
an actor is SIGKILLed by the pid Ray's state API gives for it, and the driver is SIGKILLed by
its own pid; after each, every intent must be in the ledger exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ise_trace.schemas import Trajectory
from tests.simulate.scripted import make_intent

from .standin import standin_server

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CLI = [sys.executable, "-m", "ise_trace.cli", "simulate"]
ACTOR = "EpisodeWorker"


def _intents(tmp_path: Path, n: int, tag: str) -> Path:
    path = tmp_path / "intents.jsonl"
    path.write_text("".join(make_intent(f"{tag}-{k}", "List the files in the workspace.").model_dump_json() + "\n"
                            for k in range(n)))
    return path


def _records(run: Path) -> list[Trajectory]:
    path = run / "trajectories.jsonl"
    return [Trajectory.model_validate_json(line) for line in path.read_text().splitlines()] if path.exists() else []


def _count(run: Path) -> int:
    path = run / "trajectories.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait(what: str, ready, proc: subprocess.Popen, timeout: float = 150):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the driver ended (rc {proc.returncode}) before {what}:\n{proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}:\n{proc.stderr.read()[-3000:]}")


def _simulate(intents: Path, run: Path, server, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "--intents", str(intents), "--out", str(run), "--agent-backend", "openai",
                             "--agent-base-url", server.base_url, "--concurrency", "2", "--time-budget-s", "120", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _exactly_once(run: Path, intents: Path) -> list[Trajectory]:
    records = _records(run)
    wanted = [json.loads(line)["id"] for line in intents.read_text().splitlines()]
    counts = Counter(r.intent.id for r in records)
    assert sorted(counts) == sorted(wanted) and set(counts.values()) == {1}, counts
    return records


def _leftover_containers(run: Path) -> list[str]:
    from ise_trace.orchestrate import pool_id

    p = subprocess.run(["docker", "ps", "-a", "--filter", f"name=ise-trace-{pool_id(str(run))}-r", "--format", "{{.Names}}"],
                       capture_output=True, text=True, timeout=30)
    return p.stdout.split()


def test_sigkilled_actor_has_its_episodes_retried_elsewhere_and_every_intent_recorded_once_standin(ray_cluster, tmp_path):
    """Two actors, one per node (the address comes from the recipe); one is SIGKILLed mid-run."""
    intents = _intents(tmp_path, 14, "kill-actor")
    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"simulate:\n  ray_address: '{ray_cluster.address}'\n  ray_actors_per_node: 1\n")
    with standin_server(delay_s=0.25) as server:
        driver = _simulate(intents, run, server, "--config", str(recipe))
        actors = _wait("two live actors", lambda: len(ray_cluster.alive_actors(ACTOR)) == 2
                       and ray_cluster.alive_actors(ACTOR), driver)
        assert len({a.node_id for a in actors}) == 2  # one actor on each node process
        _wait("the first trajectories", lambda: _count(run) >= 2, driver)
        victim = actors[1]
        os.kill(victim.pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err[-3000:]

    records = _exactly_once(run, intents)
    summary = json.loads((run / "summary.json").read_text())
    ray_info = summary["session"]["ray"]
    assert ray_info["actor_losses"] >= 1 and ray_info["requeued"], ray_info  # it died with episodes in flight
    assert set(ray_info["requeued"]) <= {r.intent.id for r in records}
    assert "ray actor" in err and "died" in err, err[-3000:]
    assert {r.provenance.ray_node_id for r in records} == {a.node_id for a in actors}  # both nodes ran episodes
    assert {r.provenance.node_host for r in records} == {socket.gethostname()}
    assert summary["recorded"] == 14 and summary["missing"] == 0
    assert not _leftover_containers(run)


def test_rerun_after_the_driver_was_sigkilled_records_the_rest_exactly_once_standin(ray_cluster, tmp_path):
    intents = _intents(tmp_path, 12, "kill-driver")
    run = tmp_path / "run"
    with standin_server(delay_s=0.25) as server:
        driver = _simulate(intents, run, server, "--ray", ray_cluster.address)
        _wait("the first trajectories", lambda: _count(run) >= 3, driver)
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
        before = (run / "trajectories.jsonl").read_bytes()
        assert 3 <= before.count(b"\n") < 12
        # Ray ends the actors of a dead driver, and their workspaces go with them.
        deadline = time.monotonic() + 60
        while ray_cluster.alive_actors(ACTOR) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not ray_cluster.alive_actors(ACTOR)

        rerun = subprocess.run(driver.args, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _exactly_once(run, intents)
    after = (run / "trajectories.jsonl").read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])  # what the killed driver wrote stays as it was
    summary = json.loads((run / "summary.json").read_text())
    assert summary["recorded"] == 12 and summary["session"]["episodes"] == 12 - before.count(b"\n")
    assert not _leftover_containers(run)


def test_unreachable_ray_address_is_one_clear_line(tmp_path):
    from .cluster import free_port

    with standin_server() as server:
        p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1, "no-ray")), "--out", str(tmp_path / "run"),
                            "--agent-backend", "openai", "--agent-base-url", server.base_url,
                            "--ray", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("ise-trace simulate: error: --ray 127.0.0.1:")


def test_lost_node_has_its_episodes_in_flight_retried_on_the_other_nodes_standin(ray_cluster, tmp_path):
    """A third node process joins; mid-run its raylet and everything under it are SIGKILLed (the node is lost)."""
    import psutil

    ray_cluster.add_node('{"node3": 1}')
    raylet = ray_cluster.raylet("node3")
    intents = _intents(tmp_path, 12, "lose-node")
    run = tmp_path / "run"
    with standin_server(delay_s=0.25) as server:
        driver = _simulate(intents, run, server, "--ray", ray_cluster.address)
        actors = _wait("three live actors", lambda: len(ray_cluster.alive_actors(ACTOR)) == 3
                       and ray_cluster.alive_actors(ACTOR), driver)
        [lost] = [a for a in actors if psutil.Process(a.pid).ppid() == raylet]
        _wait("the first trajectories", lambda: _count(run) >= 2, driver)
        node = [psutil.Process(raylet), *psutil.Process(raylet).children(recursive=True)]
        for proc in node:
            proc.send_signal(signal.SIGKILL)
        out, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err[-3000:]

    records = _exactly_once(run, intents)
    ray_info = json.loads((run / "summary.json").read_text())["session"]["ray"]
    assert ray_info["requeued"], ray_info  # the node had episodes in flight
    by_id = {r.intent.id: r for r in records}
    assert all(by_id[i].provenance.ray_node_id != lost.node_id for i in ray_info["requeued"])  # retried elsewhere
    assert {r.provenance.ray_node_id for r in records} - {a.node_id for a in actors} == set()
    assert not _leftover_containers(run)
