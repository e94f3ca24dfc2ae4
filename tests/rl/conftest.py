"""Fixtures of the RL tests: `TaskEnvironment` on the real sandbox image, shut down after the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def rl_env(sandbox_image):
    """`TaskEnvironment`, configured with the test session's image (its workspaces are its own)."""
    from ise_trace.rl import TaskEnvironment, TaskEnvironmentConfig

    TaskEnvironment.configure(TaskEnvironmentConfig(image=sandbox_image))
    yield TaskEnvironment
    TaskEnvironment.shutdown()
    TaskEnvironment._config = None


@pytest.fixture
def partial_credit(rl_env):
    """Partial credit on for one test (a reward setting: the running workspaces stay)."""
    before = rl_env.settings()
    rl_env.configure(partial_credit=True)
    yield
    rl_env.configure(before)
