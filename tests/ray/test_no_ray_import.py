"""Without --ray nothing imports Ray: the CLI module, and a whole plain `ise-trace simulate` run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.simulate.scripted import make_intent

from .standin import standin_server

PROBE = """
import json, sys
from ise_trace.cli import main
imported_by_cli = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
rc = main(sys.argv[1:]) if len(sys.argv) > 1 else None
print(json.dumps({"cli": imported_by_cli, "rc": rc,
                  "after_run": sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))}))
"""


def _probe(*args: str) -> dict:
    p = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_importing_the_cli_does_not_import_ray():
    assert _probe()["cli"] == []


@pytest.mark.docker
def test_plain_simulate_run_does_not_import_ray_standin(tmp_path, sandbox_image):
    intents = tmp_path / "intents.jsonl"
    intents.write_text(make_intent("plain-0", "List the files in the workspace.").model_dump_json() + "\n")
    with standin_server() as server:
        result = _probe("simulate", "--intents", str(intents), "--out", str(tmp_path / "run"), "--agent-backend", "openai",
                        "--agent-base-url", server.base_url, "--time-budget-s", "60")
    assert result["rc"] == 0
    assert result["after_run"] == []
    [line] = (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()
    provenance = json.loads(line)["provenance"]
    assert provenance["node_host"] is None and provenance["ray_node_id"] is None  # set by Ray runs only
