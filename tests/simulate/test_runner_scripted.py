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


def test_a_bug_in_our_code_stops_the_run_with_its_traceback_and_the_ledger_resumes(aio, sandbox_pool, tmp_path, monkeypatch):
    import traceback

    from ise_trace.simulate import episode

    intents = [make_intent(f"i{n}", f"Please create f{n}.txt") for n in range(5)]
    agent = ScriptedChatModel("scripted-agent", policy=agent_policy(set(), set()))
    simulator = ScriptedChatModel("scripted-user", policy=user_policy)
    out = tmp_path / "run"

    real_setup = episode.run_setup

    async def buggy_setup(ws, spec, cfg):  # a bug inside the episode, for one intent only
        if ws.episode_id.startswith("i2-"):
            raise RuntimeError("injected bug in ise-trace")
        return await real_setup(ws, spec, cfg)

    monkeypatch.setattr(episode, "run_setup", buggy_setup)
    with pytest.raises(RuntimeError, match="injected bug") as e:  # itself, not an ExceptionGroup
        _run(aio, sandbox_pool, out, intents, agent, simulator, max_attempts=3)
    frames = [f.name for f in traceback.extract_tb(e.value.__traceback__)]
    assert "buggy_setup" in frames and "run_episode" in frames  # the traceback reaches the bug

    ledger = (out / "trajectories.jsonl").read_bytes()
    assert ledger.endswith(b"\n")  # whole records only
    recorded = [r.intent.id for r in _ledger(out)]
    assert recorded and "i2" not in recorded  # earlier rows kept, no row for the bug
    assert len(recorded) == len(set(recorded))
    assert (out / "failures.jsonl").read_bytes() == b""  # not an error attempt: nothing to retry
    assert not (out / "summary.json").exists()
    assert all(ws.episode_id is None for ws in sandbox_pool.workspaces)  # every workspace released
    assert sandbox_pool._idle.qsize() == len(sandbox_pool.workspaces)

    # Bug fixed: the rerun resumes, runs only what is missing, and records every intent once.
    monkeypatch.setattr(episode, "run_setup", real_setup)
    summary = _run(aio, sandbox_pool, out, intents, agent, simulator, max_attempts=3)
    again = [r.intent.id for r in _ledger(out)]
    assert again[: len(recorded)] == recorded and sorted(again) == [i.id for i in intents]
    assert summary["session"]["episodes"] == 5 - len(recorded) and summary["status"] == {"success": 5}
    assert all(r.provenance.seeds["attempt"] == 1 for r in _ledger(out))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:  # redraws at terminal speed, so a short test sees the heartbeat
        return True


def test_progress_shows_turns_and_tool_calls_of_running_episodes(aio, sandbox_pool, tmp_path):
    from ise_trace.execute import TOOL_SCHEMAS, run_tool

    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "sleep 2.5; echo slow step"})),
        "done the slow step",
    ])
    simulator = ScriptedChatModel("scripted-user", [user("run the slow step"), user("ok", completed=True, success=True)])
    cfg = SimulateConfig(concurrency=1)
    setup = EpisodeSetup(agent, simulator, cfg, TOOL_SCHEMAS, run_tool, "ise-trace-sandbox:test")
    run_dir, key = open_run(tmp_path / "run", cfg, [agent], [simulator], "intents.jsonl")
    stream = _Terminal()
    try:
        aio.run(run_simulation([make_intent("slow-1")], run_dir, key, [agent], [simulator], sandbox_pool, setup,
                               stream=stream))
    finally:
        run_dir.close()
    assert "simulate 0/1" in stream.getvalue() and "running=1 turns=1 calls=0" in stream.getvalue()
