"""Deterministic unit tests of the episode loop: SCRIPTED stand-in agent and user models, REAL sandbox.

The models are scripted stand-ins (tests/simulate/scripted.py) so each path of the loop is hit
on purpose; every tool call runs for real in a Docker workspace from the `sandbox_pool` fixture.
"""

from __future__ import annotations

import pytest

from ise_trace.config import SimulateConfig
from ise_trace.errors import LLMError
from ise_trace.schemas import AssistantMessage, TerminationReason, ToolMessage, Trajectory, UserMessage
from ise_trace.simulate.episode import EpisodeSetup, run_episode

from .scripted import ScriptedChatModel, calls, make_intent, user

pytestmark = pytest.mark.docker


def _setup(agent: ScriptedChatModel, simulator: ScriptedChatModel, **config) -> EpisodeSetup:
    from ise_trace.execute import TOOL_SCHEMAS, run_tool

    return EpisodeSetup(
        agent_model=agent,
        user_model=simulator,
        config=SimulateConfig(**config),
        tools=TOOL_SCHEMAS,
        run_tool=run_tool,
        sandbox_image="ise-trace-sandbox:test",
        run_key="test",
    )


def _episode(aio, pool, agent, simulator, **config) -> Trajectory:
    trajectory = aio.run(run_episode(make_intent(), pool, _setup(agent, simulator, **config)))
    # Whatever happened, the record is a valid dataset row that survives a JSON round trip.
    assert Trajectory.model_validate_json(trajectory.model_dump_json()) == trajectory
    _assert_well_formed(trajectory)
    return trajectory


def _assert_well_formed(t: Trajectory) -> None:
    """Every tool call has exactly one tool message and one execution record."""
    call_ids = [tc.id for m in t.messages if isinstance(m, AssistantMessage) for tc in m.tool_calls]
    result_ids = [m.tool_call_id for m in t.messages if isinstance(m, ToolMessage)]
    assert call_ids == result_ids == [e.tool_call_id for e in t.executions]
    assert len(set(call_ids)) == len(call_ids)


def _user_texts(t: Trajectory) -> list[str]:
    return [m.content for m in t.messages if isinstance(m, UserMessage)]


def test_scripted_models_complete_an_episode_over_real_execution(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("write", {"path": "notes.txt", "content": "standup at 9\n"})),
        calls(("exec", {"command": "cat notes.txt && wc -l notes.txt"})),
        "I created notes.txt with one line and checked it with cat.",
        calls(("exec", {"command": "ls -la notes.txt"})),
        "Here is the listing: notes.txt exists.",
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("hey, make me a notes.txt with 'standup at 9' in it"),
        user("ok show me it's really there"),
        user("Thanks, that's all.", completed=True, success=True, reason="file created and listed"),
    ])
    t = _episode(aio, sandbox_pool, agent, simulator)

    assert t.outcome.status == "success" and t.outcome.termination is TerminationReason.user_completed, t.outcome
    assert _user_texts(t) == ["hey, make me a notes.txt with 'standup at 9' in it", "ok show me it's really there"]
    tool_outputs = [m.content for m in t.messages if isinstance(m, ToolMessage)]
    assert "standup at 9" in tool_outputs[1] and "1 notes.txt" in tool_outputs[1]  # real output
    assert [e.exit_code for e in t.executions] == [0, 0, 0]
    assert t.stats.user_turns == 2 and t.stats.tool_calls == 3 and t.stats.unique_tools == 2
    assert t.provenance.agent_model == "scripted-agent" and t.provenance.user_model == "scripted-user"
    assert t.provenance.prompt_versions["user_simulator"] == "user-sim-v1"
    assert t.provenance.sandbox_image == "ise-trace-sandbox:test"

    # The simulator saw what really ran, and its history keeps its own earlier turns.
    second_call = simulator.seen[1]
    assert "write `notes.txt` -> ok" in second_call[-1]["content"]
    assert "exec `cat notes.txt && wc -l notes.txt` -> ok (exit 0)" in second_call[-1]["content"]
    assert '"query":"hey, make me a notes.txt' in second_call[-2]["content"].replace(": ", ":")
    assert second_call[-2]["role"] == "assistant"


def test_scripted_failed_command_reaches_the_simulator_digest(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "python3 -c 'import nosuchmodule'"})),
        "Ran it.",
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("run the import check"),
        user("It broke.", completed=True, success=False, reason="gave up"),
    ])
    t = _episode(aio, sandbox_pool, agent, simulator)
    assert t.outcome.termination is TerminationReason.user_gave_up and t.outcome.status == "failure"
    assert t.executions[0].exit_code == 1 and t.executions[0].is_error
    digest = simulator.seen[1][-1]["content"]
    assert "FAILED (exit 1)" in digest and "No module named 'nosuchmodule'" in digest


def test_scripted_unbacked_completion_is_refused_then_backed(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "ls"})),
        "I created report.csv with the totals.",  # a claim nothing backs
        calls(("write", {"path": "report.csv", "content": "total\n42\n"})),
        "Now I created report.csv for real.",
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("make report.csv with the totals"),
        user("great, done", completed=True, success=True),  # refused: report.csv never touched
        user("I don't see report.csv being written anywhere. Please actually create it."),
        user("done, thanks", completed=True, success=True),
    ])
    t = _episode(aio, sandbox_pool, agent, simulator)
    assert t.outcome.status == "success"
    feedback = simulator.seen[2][-1]["content"]
    assert "cannot declare the goal done" in feedback and "report.csv" in feedback
    # The refused verdict is not part of the conversation the agent saw.
    assert _user_texts(t) == ["make report.csv with the totals", "I don't see report.csv being written anywhere. Please actually create it."]


def test_scripted_insisting_on_unbacked_completion_ends_as_failure(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", ["All done, I saved summary.json."])
    simulator = ScriptedChatModel("scripted-user", [user("write summary.json")] + [user("that will do", completed=True, success=True)] * 3)
    t = _episode(aio, sandbox_pool, agent, simulator, completion_refusals=2)
    assert t.outcome.termination is TerminationReason.user_completed
    assert t.outcome.status == "failure"
    assert "not backed" in t.outcome.reason and "summary.json" in t.outcome.reason


def test_scripted_drifting_user_turn_is_regenerated_and_counted(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "mkdir -p logs && ls"})),
        "Made the logs folder.",
        calls(("exec", {"command": "echo started > logs/app.log && ls logs"})),
        "Added logs/app.log.",
    ])
    simulator = ScriptedChatModel("scripted-user", [
        user("make a logs folder"),
        user("Here is your updated folder. Is there anything else I can help you with?"),  # drift
        user("Good. Put an app.log in it that says started."),
        user("thanks", completed=True, success=True),
    ])
    t = _episode(aio, sandbox_pool, agent, simulator)
    assert t.stats.drift_turns == 1
    assert _user_texts(t) == ["make a logs folder", "Good. Put an app.log in it that says started."]
    assert "broke your role as the user" in simulator.seen[2][-1]["content"]
    assert t.outcome.status == "success"


def test_scripted_persistent_drift_ends_the_episode_as_user_error(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", ["Hello."])
    simulator = ScriptedChatModel("scripted-user", [user("hi, list my files")] + [user("How can I help you today?")] * 3)
    t = _episode(aio, sandbox_pool, agent, simulator, drift_regenerations=2)
    assert t.outcome.termination is TerminationReason.user_error and t.outcome.status == "error"
    assert "out of role" in t.outcome.reason
    assert t.stats.drift_turns == 3


def test_scripted_persistent_drift_with_the_fallback_sends_a_template_turn_and_goes_on(aio, sandbox_pool):
    """drift_fallback: scripted. The opening that never stays in role becomes the intent's text; a
    later one becomes a template that quotes the failed call; the episode is data, not an error."""
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "cat missing-notes.txt"})),
        "I could not find the file.",
        "ok",
    ])
    drifting = user("How can I help you today?")
    simulator = ScriptedChatModel("scripted-user", [drifting] * 6)
    t = _episode(aio, sandbox_pool, agent, simulator, drift_regenerations=2, drift_fallback="scripted", max_user_turns=2)
    assert t.outcome.status != "error", t.outcome.reason
    assert t.outcome.termination is TerminationReason.max_user_turns
    texts = _user_texts(t)
    assert texts[0] == make_intent().text
    assert "`cat missing-notes.txt`" in texts[1] and "exit 1" in texts[1] and "No such file" in texts[1]
    assert t.stats.scripted_turns == 2 and t.stats.drift_turns == 6
    # the simulator's own history holds the template turn, so its next try reads a coherent chat
    assert make_intent().text in simulator.seen[3][2]["content"]


def test_scripted_agent_tool_first_requires_a_call_only_at_the_start_of_each_turn(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "ls"})),
        "Listed the folder.",
        calls(("exec", {"command": "echo hi"})),
        "Printed hi.",
    ])
    simulator = ScriptedChatModel("scripted-user", [user("list the folder"), user("now print hi")])
    t = _episode(aio, sandbox_pool, agent, simulator, agent_tool_first=True, max_user_turns=2)
    assert agent.tool_choices == ["required", None, "required", None]
    assert t.stats.tool_calls == 2
    plain = ScriptedChatModel("scripted-agent", ["Hello."])
    _episode(aio, sandbox_pool, plain, ScriptedChatModel("scripted-user", [user("hi")]), max_user_turns=1)
    assert plain.tool_choices == [None]


def test_scripted_agent_tool_steps_make_the_turn_end_with_a_reply_not_the_step_cap(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [
        calls(("exec", {"command": "ls"})),
        calls(("exec", {"command": "ls -la"})),
        "Listed it twice.",
        calls(("exec", {"command": "echo again"})),
        calls(("exec", {"command": "echo and again"})),
        "Done.",
    ])
    simulator = ScriptedChatModel("scripted-user", [user("list the folder"), user("once more")])
    t = _episode(aio, sandbox_pool, agent, simulator, agent_tool_steps=2, max_agent_steps=3, max_user_turns=2)
    assert agent.tool_choices == [None, None, "none", None, None, "none"]
    assert t.outcome.termination is TerminationReason.max_user_turns and t.stats.tool_calls == 4


def test_scripted_user_turn_that_repeats_an_earlier_one_is_regenerated(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [calls(("exec", {"command": "ls"})), "Listed it.", "ok"])
    opening = "please list what is in my workspace folder right now"
    simulator = ScriptedChatModel("scripted-user", [
        user(opening),
        user(opening.upper() + "!"),  # the opening again, case and punctuation aside
        user("ok, now show me the hidden files too"),
    ])
    t = _episode(aio, sandbox_pool, agent, simulator, max_user_turns=2)
    assert _user_texts(t) == [opening, "ok, now show me the hidden files too"]
    assert t.stats.drift_turns == 1
    assert "repeats an earlier message" in simulator.seen[2][-1]["content"]


def test_scripted_string_false_is_not_a_boolean(aio, sandbox_pool):
    """'{"completed": "true"}' fails the schema: it is retried, never read as True."""
    agent = ScriptedChatModel("scripted-agent", [calls(("exec", {"command": "echo hi"})), "Printed hi.", "ok"])
    stringly = '{"completed": "true", "query": "ok", "reason": "x", "is_success": "true"}'
    simulator = ScriptedChatModel("scripted-user", [
        user("print hi"),
        stringly,
        user("now print bye"),
    ])
    t = _episode(aio, sandbox_pool, agent, simulator, max_user_turns=2)
    assert "completed" in simulator.seen[2][-1]["content"]  # the validation error was shown back
    assert _user_texts(t) == ["print hi", "now print bye"]
    assert t.outcome.termination is TerminationReason.max_user_turns


def test_scripted_empty_user_reply_is_retried(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", ["Sure."])
    simulator = ScriptedChatModel("scripted-user", [user("   "), user("list the files please")])
    t = _episode(aio, sandbox_pool, agent, simulator, max_user_turns=1)
    assert _user_texts(t) == ["list the files please"]
    assert "was empty" in simulator.seen[1][-1]["content"]


def test_scripted_user_model_failure_is_recorded_as_user_error(aio, sandbox_pool):
    simulator = ScriptedChatModel("scripted-user", ["not json"] * 3)
    t = _episode(aio, sandbox_pool, ScriptedChatModel("scripted-agent"), simulator)
    assert t.outcome.termination is TerminationReason.user_error
    assert "schema" in t.outcome.reason


def test_scripted_agent_model_failure_is_recorded_as_agent_error(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [LLMError("cannot reach the model server at http://127.0.0.1:9")])
    t = _episode(aio, sandbox_pool, agent, ScriptedChatModel("scripted-user", [user("hi")]))
    assert t.outcome.termination is TerminationReason.agent_error and t.outcome.status == "error"
    assert "cannot reach" in t.outcome.reason
    assert _user_texts(t) == ["hi"]


def test_scripted_max_user_turns_stops_the_episode(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", ["ok"] * 5)
    simulator = ScriptedChatModel("scripted-user", [user(f"now do step {i} of my list") for i in range(5)])
    t = _episode(aio, sandbox_pool, agent, simulator, max_user_turns=3)
    assert t.outcome.termination is TerminationReason.max_user_turns and t.outcome.status == "max_turns"
    assert t.stats.user_turns == 3


def test_scripted_tool_call_budget_stops_the_episode(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [calls(("exec", {"command": "true"}), ("exec", {"command": "true"}))] * 3)
    t = _episode(aio, sandbox_pool, agent, ScriptedChatModel("scripted-user", [user("loop")]), max_tool_calls=3)
    assert t.outcome.termination is TerminationReason.max_tool_calls
    assert t.stats.tool_calls == 3  # the reply asking for a 4th call was cut, every call has a result


def test_scripted_agent_step_cap_stops_the_episode(aio, sandbox_pool):
    agent = ScriptedChatModel("scripted-agent", [calls(("list", {}))] * 3)
    t = _episode(aio, sandbox_pool, agent, ScriptedChatModel("scripted-user", [user("look around")]), max_agent_steps=2)
    assert t.outcome.termination is TerminationReason.max_agent_steps
    assert t.stats.tool_calls == 2


def test_scripted_time_budget_ends_the_episode_and_frees_the_workspace(aio, sandbox_pool):
    # The workspace stays busy until the cut-off command ends, so keep it short.
    agent = ScriptedChatModel("scripted-agent", [calls(("exec", {"command": "sleep 4"}))])
    t = _episode(aio, sandbox_pool, agent, ScriptedChatModel("scripted-user", [user("wait a bit")]), time_budget_s=1.5)
    assert t.outcome.termination is TerminationReason.time_budget
    assert t.executions == []  # the step that was cut off is not half-recorded
    # Both workspaces of the pool are free again and work (the next episodes get reset ones).
    for _ in range(2):
        ok = _episode(aio, sandbox_pool, ScriptedChatModel("a", [calls(("exec", {"command": "echo alive"})), "ok"]),
                      ScriptedChatModel("u", [user("check")]), max_user_turns=1)
        assert ok.executions[0].exit_code == 0


def test_a_bug_in_our_own_code_is_raised_not_recorded(aio, sandbox_pool):
    """Only model, simulator and sandbox failures are episode outcomes: a bug (here a KeyError
    from the tool runner, or a TypeError from the simulator's model client) stops with its traceback."""
    from ise_trace.execute import TOOL_SCHEMAS

    async def buggy_run_tool(ws, name, args):
        raise KeyError("bug in ise-trace")

    agent = ScriptedChatModel("scripted-agent", [calls(("exec", {"command": "ls"}))])
    simulator = ScriptedChatModel("scripted-user", [user("list the files")])
    setup = EpisodeSetup(agent_model=agent, user_model=simulator, config=SimulateConfig(), tools=TOOL_SCHEMAS,
                         run_tool=buggy_run_tool, sandbox_image="t", run_key="test")
    with pytest.raises(KeyError, match="bug in ise-trace"):
        aio.run(run_episode(make_intent(), sandbox_pool, setup))

    broken_user = ScriptedChatModel("scripted-user", [TypeError("bug in a client")])
    with pytest.raises(TypeError, match="bug in a client"):
        aio.run(run_episode(make_intent(), sandbox_pool, _setup(ScriptedChatModel("a", ["hi"]), broken_user)))


def test_with_the_drift_judge_on_a_turn_the_patterns_pass_is_judged_and_regenerated(aio, sandbox_pool):
    """SCRIPTED stand-in simulator: it also answers the judge's question (the DriftVerdict schema)."""
    agent = ScriptedChatModel("scripted-agent", ["Which file?", "Okay."])
    simulator = ScriptedChatModel("scripted-user", [
        user("make notes.txt"),
        '{"out_of_role": false, "evidence": ""}',  # the judge on the opening turn
        user("Consider it sorted, boss."),
        '{"out_of_role": true, "evidence": "Consider it sorted"}',  # judged out of role: regenerated
        user("notes.txt in the top folder"),
        '{"out_of_role": false, "evidence": ""}',
    ])
    t = _episode(aio, sandbox_pool, agent, simulator, drift_judge=True, max_user_turns=2)
    assert _user_texts(t) == ["make notes.txt", "notes.txt in the top folder"]
    assert t.stats.drift_turns == 1
