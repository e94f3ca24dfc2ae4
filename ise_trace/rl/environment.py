"""`TaskEnvironment`: ise-trace's executable tasks as an environment for TRL's `GRPOTrainer`.

    GRPOTrainer(model, args=GRPOConfig(...), train_dataset=tasks, environment_factory=TaskEnvironment)

One instance per rollout, reused across batches. TRL calls `reset(**row)` with a row of the
`intents` config (an intent with its workspace and checks); the workspace is seeded with the
task's files and its setup runs, and the intent's text is the opening user message. The public
methods are the agent's tools (the same seven, with the same descriptions, as the SFT data);
each runs in the live workspace and returns what the agent sees, errors included, as text.
`get_reward()` runs the task's checks on the state the rollout left.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable, ClassVar

from ..errors import SandboxError
from ..execute import run_tool
from ..execute.tools import TOOLS
from ..schemas import CheckResult, Intent
from ..tasks.runs import SetupFailed, head_tail, run_checks, run_setup, seed_files
from . import runtime
from .config import TaskEnvironmentConfig, config_from_env
from .runtime import Lease, SharedWorkspaces

TOOL_CALL_BUDGET_S = 30.0  # file tools; the longest command timeout is added for exec


def _documented(name: str) -> Callable:
    """Give a tool method the Google-style docstring TRL turns into its schema, written from the tool's
    own spec in `execute.tools` (description and argument help), so RL and SFT prompts describe the
    tools in the same words and the two cannot drift apart."""
    spec = TOOLS[name]

    def wrap(method: Callable) -> Callable:
        args = "\n".join(f"    {arg}: {info.description}" for arg, info in spec.args.model_fields.items())
        method.__doc__ = f"{spec.description}\n\nArgs:\n{args}"  # no Returns: block, as in TOOL_SCHEMAS
        return method

    return wrap


class TaskEnvironment:
    """One rollout's live workspace; settings are process-wide (`configure()` or $ISE_TRACE_RL_CONFIG).

    There is deliberately no public `close()`: TRL exposes every public method as a tool. A workspace
    goes back to the pool at the next `reset()`, on `with ... :` exit, or at `TaskEnvironment.shutdown()`.
    """

    _config: ClassVar[TaskEnvironmentConfig | None] = None

    def __init__(self) -> None:
        self._lease: Lease | None = None
        self._shared: SharedWorkspaces | None = None
        self.intent: Intent | None = None
        self.tool_calls: list[dict[str, Any]] = []  # name, exit_code, is_error, duration_ms of each call
        self.last_checks: list[CheckResult] = []  # the results behind the last get_reward()

    # ------------------------------------------------------------------ settings (classmethods: not tools)

    @classmethod
    def configure(cls, config: TaskEnvironmentConfig | None = None, **changes: Any) -> TaskEnvironmentConfig:
        """Set the process-wide settings (before the first reset for sandbox and image settings)."""
        base = config or cls._config or config_from_env()
        cls._config = TaskEnvironmentConfig.model_validate({**base.model_dump(), **changes}) if changes else base
        return cls._config

    @classmethod
    def settings(cls) -> TaskEnvironmentConfig:
        if cls._config is None:
            cls._config = config_from_env()
        return cls._config

    @classmethod
    def warm(cls) -> None:
        """Start the process's workspaces now (a missing image or engine fails here, not mid-training)."""
        shared = runtime.shared(cls.settings())
        shared.run(shared.warm(), shared.config.sandbox.start_timeout_s * shared.config.pool_size)

    @classmethod
    def shutdown(cls) -> None:
        """Remove every workspace of this process and stop its loop (environments holding one lose it)."""
        runtime.shutdown()

    # ------------------------------------------------------------------ the rollout

    def reset(self, **row: Any) -> str:
        """Start a rollout on the task in `row` (an `intents` row); returns the opening user message."""
        intent = Intent.model_validate({k: v for k, v in row.items() if k in Intent.model_fields})
        if not intent.has_task:
            raise ValueError(f"intent {intent.id} has no checks: RL needs an executable task (workspace + checks)")
        config = self.settings()
        shared = runtime.shared(config)
        self._release()
        self.intent, self.tool_calls, self.last_checks = intent, [], []
        self._shared = shared
        self._lease = shared.run(self._start(shared, intent, config), config.tasks.setup_timeout_s * (
            1 + len(intent.workspace.setup if intent.workspace else [])))
        return intent.text

    @staticmethod
    async def _start(shared: SharedWorkspaces, intent: Intent, config: TaskEnvironmentConfig) -> Lease:
        try:
            lease = await shared.acquire(episode_id=f"rl-{intent.id}", files=seed_files(intent.workspace))
        except SandboxError as e:
            raise ValueError(f"intent {intent.id}: {e}") from None
        try:
            await run_setup(lease.workspace, intent.workspace, config.tasks)
        except BaseException as e:
            await shared.release(lease)
            if isinstance(e, SetupFailed):
                raise RuntimeError(f"intent {intent.id}: {e}") from None
            raise
        return lease

    def get_reward(self) -> float:
        """Run the checks on the workspace as the rollout left it: 1.0 when all pass, else 0.0 (or the
        fraction passed, with partial_credit)."""
        if self._lease is None or self.intent is None:
            raise RuntimeError("get_reward() before reset(): no rollout to score")
        config = self.settings()
        checks = self.intent.checks or []
        self.last_checks = self._shared.run(
            run_checks(self._lease.workspace, checks, config.tasks), config.tasks.check_timeout_s * len(checks)
        )
        passed = sum(c.passed for c in self.last_checks)
        reward = passed / len(checks) if config.partial_credit else float(passed == len(checks))
        if config.reward_log:
            self._log_reward(config.reward_log, reward, passed)
        return reward

    def _log_reward(self, path: str, reward: float, passed: int) -> None:
        line = {
            "intent_id": self.intent.id, "reward": reward, "passed": passed, "checks": len(self.last_checks),
            "results": [c.model_dump(exclude={"output"}) for c in self.last_checks],
            "tool_calls": len(self.tool_calls), "time": time.time(),
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def _release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None and runtime.current() is self._shared and self._shared.loop.loop.is_running():
            self._shared.run(self._shared.release(lease), 30.0)

    def __del__(self) -> None:
        lease, self._lease = getattr(self, "_lease", None), None
        if lease is not None and runtime.current() is self._shared and self._shared.loop.loop.is_running():
            # Garbage collection may run on any thread, the loop's included: hand back without waiting.
            asyncio.run_coroutine_threadsafe(self._shared.release(lease), self._shared.loop.loop)

    def __enter__(self) -> "TaskEnvironment":
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    # ------------------------------------------------------------------ the tools (public methods = tools)

    def _tool(self, name: str, **arguments: Any) -> str:
        if self._lease is None:
            return "error: no workspace: the environment has not been reset"
        args = {k: v for k, v in arguments.items() if v is not None}
        sandbox = self._lease.workspace.config  # the workspace enforces the command's timeout; this only bounds the wait
        r = self._shared.run(run_tool(self._lease.workspace, name, args), TOOL_CALL_BUDGET_S + sandbox.max_command_timeout_s)
        self.tool_calls.append(
            {"name": name, "exit_code": r.exit_code, "is_error": r.is_error, "duration_ms": r.duration_ms}
        )
        limit = self.settings().tool_output_chars
        return head_tail(r.content, limit) if limit else r.content

    @_documented("exec")
    def exec(self, command: str, timeout: float | None = None, workdir: str | None = None) -> str:
        return self._tool("exec", command=command, timeout=timeout, workdir=workdir)

    @_documented("read")
    def read(self, path: str, offset: int | None = None, limit: int | None = None) -> str:
        return self._tool("read", path=path, offset=offset, limit=limit)

    @_documented("write")
    def write(self, path: str, content: str) -> str:
        return self._tool("write", path=path, content=content)

    @_documented("edit")
    def edit(self, path: str, old_text: str, new_text: str) -> str:
        return self._tool("edit", path=path, old_text=old_text, new_text=new_text)

    @_documented("list")
    def list(self, path: str | None = None) -> str:
        return self._tool("list", path=path)

    @_documented("glob")
    def glob(self, pattern: str, path: str | None = None) -> str:
        return self._tool("glob", pattern=pattern, path=path)

    @_documented("grep")
    def grep(self, pattern: str, path: str | None = None, include: str | None = None,
             ignore_case: bool | None = None) -> str:
        return self._tool("grep", pattern=pattern, path=path, include=include, ignore_case=ignore_case)
