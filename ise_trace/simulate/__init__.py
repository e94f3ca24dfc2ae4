"""Stage S: a role-locked user simulator and the agent, talking over real execution (see README.md)."""

from .drift import DriftFinding, DriftKind, check_drift
from .episode import EpisodeSetup, run_episode
from .intents_file import load_intents
from .runner import open_run, run_simulation
from .user_simulator import UserSimulator, UserTurn

__all__ = [
    "DriftFinding",
    "DriftKind",
    "EpisodeSetup",
    "UserSimulator",
    "UserTurn",
    "check_drift",
    "load_intents",
    "open_run",
    "run_episode",
    "run_simulation",
]
