"""`ise-trace simulate` as a user runs it: clear errors, and a real SIGKILL of a real run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ise_trace.schemas import Trajectory

from .scripted import make_intent

CLI = [sys.executable, "-m", "ise_trace.cli", "simulate"]


def _intents(tmp_path: Path, n: int) -> Path:
    texts = ["List the files in the workspace.", "Create hello.txt containing hi.", "Show the date.",
             "Make a folder named data.", "Print the kernel version.", "Count lines in /etc/hosts."]
    path = tmp_path / "intents.jsonl"
    path.write_text("".join(make_intent(f"cli-{k}", texts[k % len(texts)]).model_dump_json() + "\n" for k in range(n)))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_intents_file_names_file_line_and_field(tmp_path):
    good = make_intent("a").model_dump_json()
    bad = json.loads(make_intent("b").model_dump_json())
    bad["persona"].pop("name")
    path = tmp_path / "intents.jsonl"
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    p = subprocess.run([*CLI, "--intents", str(path), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"ise-trace simulate: error: {path}:2: field 'persona.name': Field required"
    ]
    assert not (tmp_path / "out").exists()


def test_bad_option_value_is_a_clear_error(tmp_path):
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"), "--max-user-turns", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "field 'max_user_turns'" in p.stderr


def test_unreachable_model_server_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"),
                        "--agent-backend", "openai", "--agent-base-url", url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    [line] = p.stderr.strip().splitlines()
    assert line.startswith("ise-trace simulate: error: agent model at") and "cannot reach" in line and url in line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_docker_not_available_is_one_clear_line(tmp_path, llm_server):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"),
                        "--agent-backend", "openai", "--agent-base-url", llm_server.base_url],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2
    [line] = p.stderr.strip().splitlines()
    assert "Docker engine does not answer" in line


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
@pytest.mark.docker
def test_sigkill_then_rerun_records_every_intent_exactly_once(tmp_path, llm_server, sandbox_image):
    """Kill a real `ise-trace simulate` with SIGKILL twice (during start-up, then mid-run), rerun it."""
    n = 3
    intents, out = _intents(tmp_path, n), tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"  # small budgets: what is tested is the ledger, not the dialogue
    recipe.write_text("simulate:\n  drift_regenerations: 1\n  agent_max_tokens: 40\n  user_max_tokens: 48\n")
    command = [*CLI, "--intents", str(intents), "--out", str(out), "--config", str(recipe), "--agent-backend", "openai",
               "--agent-base-url", llm_server.base_url, "--concurrency", "2", "--max-user-turns", "1",
               "--max-agent-steps", "2", "--max-tool-calls", "2", "--time-budget-s", "15", "--max-attempts", "2"]
    ledger = out / "trajectories.jsonl"

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    # 1: killed while starting up (models checked, workspaces starting, first episodes in flight).
    p = start()
    time.sleep(4)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    # 2: killed mid-run, right after a record was appended, with another episode in flight.
    before = len(_lines(ledger))
    p = start()
    deadline = time.monotonic() + 240
    while len(_lines(ledger)) <= before and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    killed_with = len(_lines(ledger))
    assert killed_with > before, "the mid-run kill came before any record was written"
    assert killed_with < n, "the run finished before it could be killed mid-way; use more intents"
    # 3: the rerun finishes the rest.
    p = start()
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err

    records = [Trajectory.model_validate_json(line) for line in _lines(ledger)]  # every line whole
    ids = [r.intent.id for r in records]
    assert sorted(ids) == [f"cli-{k}" for k in range(n)], "each intent exactly once"
    assert ledger.read_bytes().endswith(b"\n")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recorded"] == n and summary["missing"] == 0
    assert f"simulate: {n}/{n} recorded" in err
    # The killed runs' workspaces are gone (their daemons exit when our end of the pipe closes).
    pool_id = "sim-" + hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:8]
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=ise_trace.run={pool_id}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == []


# --------------------------------------------------------------------------- LLM options of a run

LLM_RECIPE = """\
simulate:
  max_user_turns: 1
  max_agent_steps: 1
  agent_top_p: 0.8
  user_top_p: 0.6
  user_temperature: 0.3
llm:
  timeout_s: 45
  extra_body: {chat_template_kwargs: {enable_thinking: false}}
user_llm:
  timeout_s: 9
"""


def _settings(tmp_path: Path, recipe: str, *flags: str):
    from ise_trace.cli import make_parser
    from ise_trace.commands.simulate import load_settings

    path = tmp_path / "recipe.yaml"
    path.write_text(recipe)
    args = make_parser().parse_args(["simulate", "--intents", "i.jsonl", "--out", "o", "--config", str(path), *flags])
    return load_settings(args)


def test_llm_sections_and_flags_set_each_roles_client_options(tmp_path):
    s = _settings(tmp_path, LLM_RECIPE, "--agent-llm", "timeout_s=300", "--llm", "max_retries=1",
                  "--agent-backend", "openai", "--agent-base-url", "http://a:1/v1,http://b:1/v1", "--agent-top-p", "0.7")
    thinking_off = {"chat_template_kwargs": {"enable_thinking": False}}
    assert (s.agent.options.timeout_s, s.user.options.timeout_s) == (300, 9)  # flag > role section > llm
    assert s.agent.options.extra_body == s.user.options.extra_body == thinking_off
    assert s.agent.options.max_retries == s.user.options.max_retries == 1
    assert (s.config.agent_top_p, s.config.user_top_p, s.config.user_temperature) == (0.7, 0.6, 0.3)
    # The user takes the agent's backend and servers unless told otherwise.
    assert s.user.backend == "openai" and s.user.base_urls == ("http://a:1/v1", "http://b:1/v1")
    assert s.agent.spec().options is s.agent.options


def test_a_recipes_llm_section_may_name_the_server(tmp_path):
    s = _settings(tmp_path, "agent_llm:\n  backend: openai\n  base_url: http://gpu:8000/v1\n  model: Qwen/Qwen3-8B\n"
                            "user_llm:\n  n_ctx: 4096\n")
    assert (s.agent.backend, s.agent.base_urls, s.agent.model) == ("openai", ("http://gpu:8000/v1",), "Qwen/Qwen3-8B")
    assert (s.user.backend, s.user.model) == ("openai", "Qwen/Qwen3-8B") and s.user.options.n_ctx == 4096


@pytest.mark.parametrize(("recipe", "flags", "needle"), [
    ("agent_llm:\n  timeout: 3\n", [], "recipe.yaml: section 'agent_llm': field 'timeout': Extra inputs"),
    ("llm: 3\n", [], "recipe.yaml: field 'llm': expected a mapping"),
    ("simulate:\n  agent_top_p: 2\n", [], "field 'agent_top_p'"),
    ("", ["--user-llm", "bogus=1"], "--user-llm: field 'bogus': Extra inputs are not permitted"),
    ("", ["--llm", "timeout_s"], "--llm timeout_s: expected KEY=VALUE"),
    ("", ["--agent-llm", "extra_body={a: [1"], "--agent-llm extra_body={a: [1: the value is not valid YAML"),
])
def test_bad_llm_options_name_the_section_or_flag(tmp_path, recipe, flags, needle):
    from ise_trace.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        _settings(tmp_path, recipe, *flags)
    assert needle in str(e.value)


def test_bad_llm_option_is_one_line_from_the_cli(tmp_path):
    p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "out"),
                        "--agent-llm", "timeout_s=soon"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    [line] = p.stderr.strip().splitlines()
    assert line.startswith("ise-trace simulate: error: --agent-llm: field 'timeout_s': Input should be a valid number")
    assert not (tmp_path / "out").exists()


@pytest.mark.docker
def test_recipe_extra_body_and_sampling_reach_every_request_standin(tmp_path, sandbox_image):
    """A real `ise-trace simulate` run against a loopback stand-in server that records each request."""
    from tests.llm.standin_server import Scripted, StandinServer, completion

    user_turn = json.dumps({"completed": False, "query": "List the files, please.", "reason": "start", "is_success": False})

    def reply(body):  # the agent is given tools; the simulator and the start-up check are not
        return Scripted(completion("There are no files yet." if body.get("tools") else user_turn))

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(LLM_RECIPE)
    with StandinServer([reply]) as server:
        p = subprocess.run([*CLI, "--intents", str(_intents(tmp_path, 1)), "--out", str(tmp_path / "run"),
                            "--config", str(recipe), "--agent-backend", "openai", "--agent-base-url", server.base_url,
                            "--time-budget-s", "60"], capture_output=True, text=True, timeout=180)
        requests = list(server.requests)
    assert p.returncode == 0, p.stderr
    [record] = [Trajectory.model_validate_json(line) for line in _lines(tmp_path / "run" / "trajectories.jsonl")]
    agent = [r for r in requests if r.get("tools")]
    user = [r for r in requests if not r.get("tools") and "Reply with OK." not in json.dumps(r["messages"])]
    assert agent and user, requests
    for r in requests:
        assert r["chat_template_kwargs"] == {"enable_thinking": False}, r
    assert {r["top_p"] for r in agent} == {0.8}
    assert {(r["top_p"], r["temperature"]) for r in user} == {(0.6, 0.3)}
    assert record.stats.user_turns == 1
