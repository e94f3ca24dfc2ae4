"""The runner with SCRIPTED stand-in models over the REAL sandbox: exactly-once ledger, retries, resume.

The scripted models are stateless policies (safe for concurrent episodes); every tool call runs in
a real Docker workspace from the `sandbox_pool` fixture.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from ise_trace.config import SimulateConfig
from ise_trace.errors import LLMError
from ise_trace.schemas import Trajectory
from ise_trace.simulate.episode import EpisodeSetup
from ise_trace.simulate.runner import open_run, run_simulation

from .scripted import ScriptedChatModel, calls, make_intent, user

pytestmark = pytest.mark.docker


def agent_policy(failing: set[str], failed_once: set[str]):
    """Writes the file the user names, then says so; raises for intents marked failing."""

    def reply(messages):
        last = messages[-1]
        if last["role"] == "user":
            name = re.search(r"create (\S+\.txt)", last["content"]).group(1)
            if name in failing or (name.startswith("flaky") and name not in failed_once):
                failed_once.add(name)
                raise LLMError("model server dropped the connection")
            return calls(("write", {"path": name, "content": "ok\n"}))
        name = messages[-2]["tool_calls"][0]["function"]["arguments"]["path"]
        return f"I created {name}."

    return reply


def user_policy(messages):
    if messages[-1]["content"].startswith("The conversation starts now"):
        file_name = re.search(r"Please create (\S+\.txt)", messages[0]["content"]).group(1)
        return user(f"create {file_name} for me")
    return user("thanks", completed=True, success=True)


def _run(aio, pool, out, intents, agent, simulator, **config):
    from ise_trace.execute import TOOL_SCHEMAS, run_tool

    cfg = SimulateConfig(**{"concurrency": 2, **config})
    setup = EpisodeSetup(agent, simulator, cfg, TOOL_SCHEMAS, run_tool, "ise-trace-sandbox:test")
    run_dir, key = open_run(out, cfg, [agent], [simulator], "intents.jsonl")
    try:
        return aio.run(run_simulation(intents, run_dir, key, [agent], [simulator], pool, setup, stream=io.StringIO()))
    finally:
        run_dir.close()


def _ledger(out):
    return [Trajectory.model_validate_json(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]


def test_scripted_runner_records_every_intent_once_and_retries_errors(aio, sandbox_pool, tmp_path):
    intents = [make_intent(f"i{n}", f"Please create {name}") for n, name in
               enumerate(["a.txt", "b.txt", "flaky.txt", "c.txt", "broken.txt"])]
    agent = ScriptedChatModel("scripted-agent", policy=agent_policy({"broken.txt"}, set()))
    simulator = ScriptedChatModel("scripted-user", policy=user_policy)
    out = tmp_path / "run"
    summary = _run(aio, sandbox_pool, out, intents, agent, simulator, max_attempts=2)

    records = _ledger(out)
    assert sorted(r.intent.id for r in records) == [i.id for i in intents]
    by_intent = {r.intent.id: r for r in records}
    assert by_intent["i2"].outcome.status == "success" and by_intent["i2"].provenance.seeds["attempt"] == 2
    assert by_intent["i4"].outcome.status == "error" and by_intent["i4"].outcome.termination.value == "agent_error"
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted((f["intent_id"], f["attempt"]) for f in failures) == [("i2", 1), ("i4", 1), ("i4", 2)]
    assert all(f["termination"] == "agent_error" and "dropped" in f["reason"] for f in failures)

    assert summary["recorded"] == 5 and summary["missing"] == 0
    assert summary["status"] == {"success": 4, "error": 1}
    assert summary["errored_attempts"] == 3
    assert json.loads((out / "summary.json").read_text())["recorded"] == 5
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["simulate"]["max_attempts"] == 2 and run["settings_hash"] == summary["settings_hash"]

    # A rerun over the same folder has nothing left to do and writes nothing twice.
    calls_before = len(agent.seen)
    again = _run(aio, sandbox_pool, out, intents, agent, simulator, max_attempts=2)
    assert len(agent.seen) == calls_before
    assert len(_ledger(out)) == 5 and again["session"]["episodes"] == 0
