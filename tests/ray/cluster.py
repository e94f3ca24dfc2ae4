"""A real local Ray cluster for the tests and the benchmark: `ray start --head` plus a second node.

Both nodes run on this machine, each a raylet with its own resources (the second carries the
custom resource `node2`), under a temp dir of their own. `stop()` ends exactly the processes of
this cluster, by pid: those whose command line names its temp dir, and their children (the
workers and actors). A bare `ray stop` would end every Ray process of the machine, other users'
clusters included, so the teardown does what it does, scoped to this cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    def __init__(self, cpus_per_node: int = 1):
        self.cpus = cpus_per_node
        # Short: Ray's unix sockets live under it, and a socket path is limited to 107 bytes.
        self.temp_dir = tempfile.mkdtemp(prefix="itray-", dir="/tmp")
        self.port = free_port()
        self.dashboard_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard = f"http://127.0.0.1:{self.dashboard_port}"
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}

    def _ray(self, *args: str) -> None:
        p = subprocess.run([RAY, *args], capture_output=True, text=True, timeout=120, env=self.env)
        if p.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")

    def start(self) -> "LocalRayCluster":
        try:
            self._ray("start", "--head", "--port", str(self.port), "--num-cpus", str(self.cpus),
                      "--temp-dir", self.temp_dir, "--node-ip-address", "127.0.0.1",
                      "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                      "--dashboard-port", str(self.dashboard_port),
                      "--ray-client-server-port", str(free_port()), "--disable-usage-stats")
            self.add_node('{"node2": 1}')
        except BaseException:
            self.stop()
            raise
        return self

    def add_node(self, resources: str) -> None:
        self._ray("start", "--address", self.address, "--num-cpus", str(self.cpus), "--resources", resources,
                  "--node-ip-address", "127.0.0.1", "--disable-usage-stats")

    def raylet(self, resource: str) -> int:
        """The pid of the raylet (the node process) that carries the custom resource `resource`."""
        import psutil

        for proc in psutil.process_iter(["pid", "cmdline"]):
            args = proc.info["cmdline"] or ()
            if any(self.temp_dir in a for a in args) and any(
                    a.startswith("--static_resource_list=") and f"{resource}," in a for a in args):
                return proc.pid
        raise LookupError(f"no raylet with resource {resource} in this cluster")

    def alive_actors(self, class_name: str) -> list:
        """The cluster's live actors of one class, from Ray's state API (pid, node_id, actor_id)."""
        from ray.util.state import list_actors

        return list_actors(address=self.dashboard, filters=[("class_name", "=", class_name), ("state", "=", "ALIVE")],
                           raise_on_missing_output=False)

    def pids(self) -> list[int]:
        """Every process of this cluster: those naming its temp dir (or, the Ray client server, its
        GCS address), and all their descendants."""
        import psutil

        def ours(part: str) -> bool:
            return self.temp_dir in part or (part.startswith("--address=") and part.endswith(f":{self.port}"))

        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(ours(part) for part in proc.info["cmdline"] or ()):
                    found[proc.pid] = proc
                    for child in proc.children(recursive=True):
                        found[child.pid] = child
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        found.pop(os.getpid(), None)
        return sorted(found)

    def stop(self) -> None:
        import psutil

        pids = self.pids()
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            _, alive = psutil.wait_procs([p for p in map(_proc, pids) if p is not None], timeout=grace)
            pids = [p.pid for p in alive]
            if not pids:
                break
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalRayCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _proc(pid: int):
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


if __name__ == "__main__":  # python -m tests.ray.cluster: start one, print its address, stop on Enter
    with LocalRayCluster() as c:
        print(json.dumps({"address": c.address, "dashboard": c.dashboard, "temp_dir": c.temp_dir}), flush=True)
        input()
