"""Episodes on executable tasks, REAL sandbox, SCRIPTED stand-in agent and user models: the
workspace is seeded, the checks decide, and the completion guard asks the live workspace."""

from __future__ import annotations

import pytest

from ise_trace.config import SimulateConfig
from ise_trace.dataset.statistics import StatsAccumulator, TrajectorySummary
from ise_trace.simulate.episode import EpisodeSetup, run_episode
from tests.simulate.scripted import ScriptedChatModel, calls, user

from .handmade import REFERENCE, task_intent

pytestmark = pytest.mark.docker


def _run(aio, pool, agent, simulator, intent=None, **config):
    from ise_trace.execute import TOOL_SCHEMAS, run_tool

    setup = EpisodeSetup(agent_model=agent, user_model=simulator, config=SimulateConfig(**config), tools=TOOL_SCHEMAS,
                         run_tool=run_tool, sandbox_image="ise-trace-sandbox:test", run_key="test")
    return aio.run(run_episode(intent or task_intent(), pool, setup))


def solving_episode(aio, pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "ls && head -3 sales.csv && ls -d archive/.git && ./bin/hello.sh"})),
        "The workspace has sales.csv with region and amount columns.",
        calls(("exec", {"command": REFERENCE}), ("read", {"path": "totals.csv"})),
        "I wrote totals.csv with the total per region and read it back.",
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("show me what is in the folder"),
        user("Now sum amount per region into totals.csv."),
        user("Looks right, thanks.", completed=True, success=True),
    ])
    return _run(aio, pool, agent, simulator), simulator


def false_success_episode(aio, pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "ls"})),
        "All done, the totals are computed.",
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("please total the sales per region"),
        user("great, done", completed=True, success=True),
    ])
    return _run(aio, pool, agent, simulator)


def test_an_agent_that_really_solves_the_task_is_verified_as_passed(aio, sandbox_pool):
    t, simulator = solving_episode(aio, sandbox_pool)
    assert t.outcome.status == "success"
    assert t.verification.passed is True
    assert [c.passed for c in t.verification.checks] == [True, True]
    snapshot = {e.path: e for e in t.verification.snapshot}
    assert {"sales.csv", "totals.csv", "bin/hello.sh"} <= set(snapshot)
    assert snapshot["totals.csv"].size > 0 and len(snapshot["totals.csv"].sha256) == 64
    # The seeded files and the setup were there: the first command's output shows them.
    first_output = t.messages[3].content
    assert "region,amount" in first_output and "archive/.git" in first_output and "hello" in first_output
    # The checks are never shown to the agent or the simulator.
    seen = str(simulator.seen) + str([m.model_dump() for m in t.messages])
    assert "right totals" not in seen and "untouched" not in seen


def test_a_simulator_success_while_the_agent_did_nothing_is_a_false_success(aio, sandbox_pool):
    t = false_success_episode(aio, sandbox_pool)
    assert t.outcome.status == "success"  # the simulated user's verdict is kept as it was
    assert t.verification.passed is False
    failed = [c for c in t.verification.checks if not c.passed]
    assert failed and "totals.csv" in failed[0].output
    acc = StatsAccumulator()
    acc.add(TrajectorySummary.of(t))
    stats = acc.result()
    assert (stats.false_successes, stats.false_success_rate, stats.verified_success_rate) == (1, 1.0, 0.0)


def test_the_simulator_reads_what_commands_printed(aio, sandbox_pool):
    t, simulator = solving_episode(aio, sandbox_pool)
    record = simulator.seen[1][-1]["content"]  # what the simulator read after the first agent turn
    assert "region,amount" in record and "north,10.50" in record


def test_claim_of_a_missing_file_is_refused_and_of_a_made_file_accepted(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "cat sales.csv"})),
        "I created summary.csv from sales.csv.",  # nothing made it
        calls(("exec", {"command": "python3 -c \"open('summary.csv','w').write('north,12.5\\\\n')\""})),
        "I created summary.csv now.",  # made by a command that does not name it in a way a regex would need
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("summarise the sales"),
        user("ok, done", completed=True, success=True),  # refused: summary.csv does not exist
        user("then make it"),
        user("good", completed=True, success=True),  # accepted: the file exists, non-empty, new
    ])
    t = _run(aio, sandbox_pool, agent, simulator)
    refusal = simulator.seen[2][-1]["content"]
    assert "summary.csv" in refusal and "no such file" in refusal
    assert t.outcome.status == "success" and t.outcome.termination.value == "user_completed"


def test_an_unchanged_seeded_file_does_not_back_a_claim(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "wc -l sales.csv"})),
        "I updated sales.csv with the new rows.",
        "I updated sales.csv with the new rows.",
        "I updated sales.csv with the new rows.",
    ])
    simulator = ScriptedChatModel("scripted-user", [user("add rows")] + [user("done", completed=True, success=True)] * 3)
    t = _run(aio, sandbox_pool, agent, simulator)
    assert "exactly as it was at the start" in simulator.seen[2][-1]["content"]
    assert t.outcome.status == "failure" and "not backed" in t.outcome.reason


def test_a_workspace_killed_mid_episode_ends_as_an_infrastructure_error_never_verified(aio, sandbox_pool):
    from ise_trace.schemas import TerminationReason

    intent = task_intent()
    agent = ScriptedChatModel("scripted-agent", [calls(("exec", {"command": REFERENCE}))] * 3 + ["done"])
    simulator = ScriptedChatModel("scripted-user", [user("go")] + [user("ok", completed=True, success=True)] * 3)

    async def run_tool_that_kills(ws, name, args):
        from ise_trace.execute import run_tool

        result = await run_tool(ws, name, args)
        await ws.recycle()  # as when the daemon died: a fresh, empty workspace
        result.recycled = True
        return result

    from ise_trace.execute import TOOL_SCHEMAS

    setup = EpisodeSetup(agent_model=agent, user_model=simulator, config=SimulateConfig(), tools=TOOL_SCHEMAS,
                         run_tool=run_tool_that_kills, sandbox_image="t", run_key="test")
    t = aio.run(run_episode(intent, sandbox_pool, setup))
    assert t.outcome.termination is TerminationReason.infrastructure_error
    assert t.verification.passed is False and "not verified" in t.verification.error
    assert t.executions[-1].recycled is True


def test_a_setup_failure_is_an_infrastructure_error(aio, sandbox_pool):
    from ise_trace.schemas import WorkspaceSpec

    intent = task_intent(workspace=WorkspaceSpec(setup=["exit 7"]))
    t = _run(aio, sandbox_pool, ScriptedChatModel("a", []), ScriptedChatModel("u", []), intent=intent)
    assert t.outcome.termination.value == "infrastructure_error" and "setup failed" in t.outcome.reason
