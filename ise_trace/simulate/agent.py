"""One agent turn: the agent model with the tools, in a loop, every call run in the workspace.

The turn ends when the model answers without a tool call, or is cut by the episode's tool-call
budget or the per-turn step cap. A tool that fails is data (a tool message the agent reads and
an execution record with its exit code); only a workspace that cannot run anything at all is a
`WorkspaceFailure`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..config import SimulateConfig
from ..llm.base import ChatModel, ChatReply, SamplingParams
from ..schemas import AssistantMessage, ExecutionRecord, TerminationReason, ToolCall, ToolMessage
from .digest import ExecutedCall, TurnDigest, call_target, excerpt
from .failures import AgentFailure, WorkspaceFailure
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
        for _ in range(self.config.max_agent_steps):
            reply = await self._chat()
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

    async def _chat(self) -> ChatReply:
        sampling = SamplingParams(
            temperature=self.config.agent_temperature,
            max_tokens=self.config.agent_max_tokens,
            seed=self.seeds.next(),
        )
        try:
            return await self.model.chat(self.transcript.chat, tools=self.tools, sampling=sampling)
        except Exception as e:  # the model client already retried; the episode records the reason
            raise AgentFailure(f"agent model failed: {type(e).__name__}: {e}") from e

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
        for call in calls:
            name, args = call.function.name, call.function.arguments
            try:
                result = await asyncio.wait_for(
                    self.run_tool(self.workspace, name, args), timeout=self.config.tool_timeout_s
                )
            except TimeoutError as e:
                raise WorkspaceFailure(f"tool call {name} did not return within {self.config.tool_timeout_s:g}s") from e
            except Exception as e:
                raise WorkspaceFailure(f"workspace failed on {name}: {type(e).__name__}: {e}") from e
            results.append(ToolMessage(tool_call_id=call.id, name=name, content=result.content))
            executions.append(
                ExecutionRecord(
                    tool_call_id=call.id,
                    exit_code=result.exit_code,
                    duration_ms=result.duration_ms,
                    is_error=result.is_error,
                    truncated=result.truncated,
                )
            )
            executed.append(
                ExecutedCall(
                    tool=name,
                    target=call_target(args),
                    exit_code=result.exit_code,
                    is_error=result.is_error,
                    error_excerpt=excerpt(result.content, self.config.digest_excerpt_chars) if result.is_error else "",
                )
            )
        message = AssistantMessage(content=reply.content, reasoning_content=reply.reasoning_content, tool_calls=calls)
        self.transcript.add_step(message, results, executions, executed)
        digest.calls += executed
