"""One agent turn: the agent model with the tools, in a loop, every call run in the workspace.

The turn ends when the model answers without a tool call, or is cut by the episode's tool-call
budget or the per-turn step cap. A tool that fails is data (a tool message the agent reads and
an execution record with its exit code); a workspace that cannot run anything, or that died and
was replaced by an empty one, is a `WorkspaceFailure`: the episode ends as an infrastructure error
and is retried, never continued in a workspace that lost its files.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..config import SandboxConfig, SimulateConfig
from ..errors import LLMError, SandboxError
from ..execute.workspace import WorkspaceDied
from ..llm.base import ChatModel, ChatReply, SamplingParams
from ..schemas import AssistantMessage, ExecutionRecord, TerminationReason, ToolCall, ToolMessage
from .context import fit_to_context
from .digest import ExecutedCall, TurnDigest, call_excerpt, call_target
from .failures import AgentFailure, WorkspaceFailure

_SANDBOX = SandboxConfig()


def host_bound_s(tool: str, arguments: dict[str, Any], slack_s: float) -> float:
    """How long the host waits for a tool call: the command's own timeout (as the workspace will
    clamp it) plus `slack_s`, so a legitimate `exec` with timeout 120 is never cut at 60."""
    own = _SANDBOX.command_timeout_s
    requested = arguments.get("timeout") if tool == "exec" else None
    if isinstance(requested, (int, float)) and not isinstance(requested, bool) and requested > 0:
        own = min(float(requested), _SANDBOX.max_command_timeout_s)
    return own + slack_s
from .seeds import SeedStream
from .transcript import Transcript


@dataclass
class AgentTurn:
    reply: str
    digest: TurnDigest = field(default_factory=TurnDigest)
    stop: TerminationReason | None = None  # set when a budget cut the turn short


class Agent:
    def __init__(
        self,
        model: ChatModel,
        workspace: Any,
        transcript: Transcript,
        tools: list[dict[str, Any]],
        run_tool: Any,
        config: SimulateConfig,
        seeds: SeedStream,
    ):
        self.model = model
        self.workspace = workspace
        self.transcript = transcript
        self.tools = tools
        self.run_tool = run_tool
        self.config = config
        self.seeds = seeds
        self._ids: set[str] = set()

    async def turn(self) -> AgentTurn:
        digest = TurnDigest()
        for step in range(self.config.max_agent_steps):
            reply = await self._chat(self._tool_choice(step))
            if not reply.tool_calls:
                message = AssistantMessage(content=reply.content or "", reasoning_content=reply.reasoning_content)
                self.transcript.add_answer(message)
                return AgentTurn(reply.content or "", digest)
            budget = self.config.max_tool_calls - self.transcript.tool_calls
            if budget <= 0:
                return AgentTurn(reply.content or "", digest, TerminationReason.max_tool_calls)
            calls = [self._unique(tc) for tc in reply.tool_calls[:budget]]
            await self._run_step(reply, calls, digest)
            if len(reply.tool_calls) > budget:
                return AgentTurn(reply.content or "", digest, TerminationReason.max_tool_calls)
        return AgentTurn("", digest, TerminationReason.max_agent_steps)

    def _tool_choice(self, step: int) -> str | None:
        cfg = self.config
        if cfg.agent_tool_steps is not None and step >= cfg.agent_tool_steps:
            return "none"
        return "required" if step == 0 and cfg.agent_tool_first else None

    async def _chat(self, tool_choice: str | None) -> ChatReply:
        sampling = SamplingParams(
            temperature=self.config.agent_temperature,
            top_p=self.config.agent_top_p,
            max_tokens=self.config.agent_max_tokens,
            seed=self.seeds.next(),
        )
        budget = self.config.agent_context_tokens - self.config.agent_max_tokens
        messages = fit_to_context(self.transcript.chat, budget, self.tools)
        try:
            return await self.model.chat(messages, tools=self.tools, sampling=sampling, tool_choice=tool_choice)
        except LLMError as e:  # the model client already retried; the episode records the reason
            raise AgentFailure(f"agent model failed: {e}") from e

    def _unique(self, call: ToolCall) -> ToolCall:
        # Servers may repeat or omit ids; execution records are keyed by them.
        call_id = call.id
        if not call_id or call_id in self._ids:
            call_id = f"call_{len(self._ids) + 1}"
            call = call.model_copy(update={"id": call_id})
        self._ids.add(call_id)
        return call

    async def _run_step(self, reply: ChatReply, calls: list[ToolCall], digest: TurnDigest) -> None:
        results, executions, executed = [], [], []
        recycled = None
        for call in calls:
            name, args = call.function.name, call.function.arguments
            bound = host_bound_s(name, args, self.config.tool_timeout_s)
            try:
                result = await asyncio.wait_for(self.run_tool(self.workspace, name, args), timeout=bound)
            except TimeoutError as e:
                raise WorkspaceFailure(f"tool call {name} did not return within {bound:g}s") from e
            except (SandboxError, WorkspaceDied, OSError) as e:  # the engine, not our code: anything else is a bug
                raise WorkspaceFailure(f"workspace failed on {name}: {type(e).__name__}: {e}") from e
            results.append(ToolMessage(tool_call_id=call.id, name=name, content=result.content))
            executions.append(
                ExecutionRecord(
                    tool_call_id=call.id,
                    exit_code=result.exit_code,
                    duration_ms=result.duration_ms,
                    is_error=result.is_error,
                    truncated=result.truncated,
                    timed_out=getattr(result, "timed_out", False),
                    recycled=getattr(result, "recycled", False),
                )
            )
            executed.append(
                ExecutedCall(
                    tool=name,
                    target=call_target(args),
                    exit_code=result.exit_code,
                    is_error=result.is_error,
                    output=call_excerpt(name, args, result.content, self.config.digest_excerpt_chars),
                )
            )
            if executions[-1].recycled:
                recycled = name
                break  # the rest of the step would run in an empty workspace
        message = AssistantMessage(
            content=reply.content, reasoning_content=reply.reasoning_content, tool_calls=calls[: len(results)]
        )
        self.transcript.add_step(message, results, executions, executed)
        digest.calls += executed
        if recycled is not None:
            raise WorkspaceFailure(f"the workspace died during {recycled} and was replaced; its files are gone")
