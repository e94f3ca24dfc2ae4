"""Why an episode stopped early: one exception per party, each mapped to a termination reason.

They never leave `run_episode`; they only carry the reason to the place that records it.
"""

from __future__ import annotations

from ..schemas import TerminationReason


class EpisodeFailure(Exception):
    termination: TerminationReason = TerminationReason.infrastructure_error


class SimulatorFailure(EpisodeFailure):
    """The user simulator could not produce a usable turn (model error, schema, empty, drift)."""

    termination = TerminationReason.user_error


class AgentFailure(EpisodeFailure):
    """The agent model failed after its client's retries."""

    termination = TerminationReason.agent_error


class WorkspaceFailure(EpisodeFailure):
    """The sandbox could not run a tool call (container gone, engine error, call hung)."""

    termination = TerminationReason.infrastructure_error
