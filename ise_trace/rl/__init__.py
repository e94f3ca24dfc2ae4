"""ise-trace's executable tasks as a TRL environment: `GRPOTrainer(environment_factory=TaskEnvironment)`.

- `environment`: `TaskEnvironment`, one rollout's live workspace, its tools and its reward.
- `runtime`: the process-wide event loop thread and workspace pool the environments share.
- `config`: `TaskEnvironmentConfig`, from `TaskEnvironment.configure()` or $ISE_TRACE_RL_CONFIG.
- `data`: intents (JSONL, a built dataset folder or a Hub id) -> the rows `reset()` takes.

See README.md in this folder.
"""

from .config import CONFIG_ENV, TaskEnvironmentConfig
from .environment import TaskEnvironment

__all__ = ["CONFIG_ENV", "TaskEnvironment", "TaskEnvironmentConfig"]
