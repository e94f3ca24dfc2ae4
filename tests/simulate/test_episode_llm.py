"""Full episodes with the REAL local model server (agent and user) over the REAL Docker sandbox."""

from __future__ import annotations

import pytest

from ise_trace.config import SimulateConfig
from ise_trace.schemas import AssistantMessage, SystemMessage, TerminationReason, ToolMessage, Trajectory, UserMessage
from ise_trace.simulate.episode import EpisodeSetup, run_episode

from .scripted import make_intent

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_full_episode_against_the_real_model_server_and_sandbox(aio, sandbox_pool, llm_server):
    from ise_trace.execute import TOOL_SCHEMAS, run_tool
    from ise_trace.llm import make_chat_model

    agent = make_chat_model("openai", llm_server.model, llm_server.base_url)
    simulator = make_chat_model("openai", llm_server.model, llm_server.base_url)
    # Small budgets bound the episode (one call of the 135M model on a busy 2-core CPU takes
    # 10-40 s); the loop is the same as with any model.
    config = SimulateConfig(max_user_turns=2, max_agent_steps=2, max_tool_calls=3, agent_max_tokens=48,
                            user_max_tokens=64, drift_regenerations=1, time_budget_s=100)
    setup = EpisodeSetup(agent, simulator, config, TOOL_SCHEMAS, run_tool, sandbox_pool.image, run_key="llm")
    intent = make_intent("llm-0", "Make a folder called reports and put a README.md in it.")
    t = aio.run(run_episode(intent, sandbox_pool, setup))

    assert Trajectory.model_validate_json(t.model_dump_json()) == t
    # A small model may end the episode in many ways; a broken sandbox or loop must not be one.
    assert t.outcome.termination is not TerminationReason.infrastructure_error, t.outcome.reason
    assert t.provenance.agent_model == llm_server.model == t.provenance.user_model
    assert t.provenance.sandbox_image == sandbox_pool.image
    calls = [tc.id for m in t.messages if isinstance(m, AssistantMessage) for tc in m.tool_calls]
    assert calls == [m.tool_call_id for m in t.messages if isinstance(m, ToolMessage)]
    assert calls == [e.tool_call_id for e in t.executions]
    assert t.stats.user_turns <= config.max_user_turns and t.stats.tool_calls <= config.max_tool_calls
    # The simulator opened with a real message and the agent answered it.
    assert isinstance(t.messages[0], SystemMessage)
    assert isinstance(t.messages[1], UserMessage) and t.messages[1].content.strip()
    assert isinstance(t.messages[2], AssistantMessage)
