"""The role-locked user simulator: one persona pursuing one intent, turn by turn.

Its history holds its own earlier turns (as its assistant messages) and, between them, what
the agent said plus the digest of what really ran. Each new turn goes through three gates before
the episode sees it: an empty message is retried, a drifting message is regenerated, and a
successful completion is refused while the agent's result is not backed by the record and the
live workspace (the files it claims exist, are non-empty and changed). A gate
that keeps failing past its cap ends the episode with a `SimulatorFailure`, except refused
completions, which end it as a recorded failure (`unbacked`), and, with `drift_fallback: scripted`,
drift, which gives way to a template turn grounded in the record (fallback_turn.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ..config import SimulateConfig
from ..errors import LLMError
from ..llm.base import ChatModel, SamplingParams, StructuredOutputError
from ..schemas import Intent
from . import fallback_turn, prompts
from .context import fit_to_context
from .digest import ExecutedCall, TurnDigest
from .drift import check_drift, echoed_instruction, judge_drift, repeated_message
from .failures import SimulatorFailure
from .grounding import WorkspaceState, unbacked_claims
from .seeds import SeedStream

# Reads the live workspace when a completion is to be checked: (state now, state at the start).
StateProbe = Callable[[], Awaitable[tuple[WorkspaceState, WorkspaceState]]]


async def _no_workspace() -> tuple[WorkspaceState, WorkspaceState]:
    return {}, {}


class UserTurn(BaseModel):
    """One simulator verdict. Booleans are strict: the string "false" is rejected, not truthy."""

    model_config = ConfigDict(extra="ignore")

    completed: StrictBool = Field(description="True when the goal is done and verified, or the user gives up.")
    query: str = Field(description="The user's next message to the assistant.")
    reason: str = Field(description="Short note on why the user says this.")
    is_success: StrictBool = Field(description="True only with completed=true when the goal was achieved.")


# What the simulator is shown about its reply format; a message repeating any of it is no message.
SCHEMA_TEXTS = [UserTurn.__doc__ or ""] + [f.description or "" for f in UserTurn.model_fields.values()]


@dataclass
class AcceptedTurn:
    turn: UserTurn
    unbacked: list[str] = field(default_factory=list)  # set when a completion was accepted unbacked

    @property
    def text(self) -> str:
        return self.turn.query.strip()


class UserSimulator:
    def __init__(self, model: ChatModel, intent: Intent, config: SimulateConfig, seeds: SeedStream):
        self.model = model
        self.intent = intent
        self.config = config
        self.seeds = seeds
        self.history: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.simulator_system_prompt(intent)}
        ]
        self.drift_turns = 0
        self.scripted_turns = 0
        self.sent: list[str] = []  # the messages accepted so far, model-written or templates

    async def open(self) -> AcceptedTurn:
        """The first message: one small step. A 'completed' flag here means nothing and is dropped."""
        accepted = await self._next(prompts.OPENING_INSTRUCTION, digest=None, agent_reply=None, calls=[])
        accepted.turn = accepted.turn.model_copy(update={"completed": False, "is_success": False})
        return accepted

    async def respond(
        self, agent_reply: str, digest: TurnDigest, calls: list[ExecutedCall], probe: StateProbe | None = None
    ) -> AcceptedTurn:
        """The next message, after reading the agent's reply and what ran during its turn."""
        prompt = prompts.agent_turn_message(agent_reply, digest.render(self.config.digest_max_chars))
        return await self._next(prompt, digest=digest, agent_reply=agent_reply, calls=calls, probe=probe)

    async def _next(
        self,
        prompt: str,
        digest: TurnDigest | None,
        agent_reply: str | None,
        calls: list[ExecutedCall],
        probe: StateProbe | None = None,
    ) -> AcceptedTurn:
        self.history.append({"role": "user", "content": prompt})
        cfg = self.config
        empty_left, drift_left, refusals_left = cfg.empty_reply_retries, cfg.drift_regenerations, cfg.completion_refusals
        # The rejected attempt and the note on why: shown for the next try only, never kept.
        correction: list[dict[str, Any]] = []
        while True:
            turn = await self._ask(self.history + correction)
            text = turn.query.strip()
            opening = agent_reply is None
            if not text and (opening or not turn.completed):
                if empty_left == 0:
                    raise SimulatorFailure(f"simulator sent empty messages {cfg.empty_reply_retries + 1} times")
                empty_left -= 1
                correction = self._correction(turn, prompts.empty_reply_feedback())
                continue
            findings = check_drift(text, digest) if text else []
            echo = echoed_instruction(text, SCHEMA_TEXTS) if text else None
            if echo:
                findings.append(echo)
            repeat = repeated_message(text, self.sent) if text else None
            if repeat:
                findings.append(repeat)
            if text and not findings and cfg.drift_judge:
                judged = await self._judge(text, digest)
                if judged:
                    findings.append(judged)
            if findings:
                self.drift_turns += 1
                if drift_left == 0:
                    if cfg.drift_fallback == "scripted":
                        return self._scripted(digest)
                    raise SimulatorFailure(
                        f"simulator stayed out of role after {cfg.drift_regenerations} regenerations: "
                        + "; ".join(f.describe() for f in findings)
                    )
                drift_left -= 1
                problems = [f.describe() for f in findings]
                correction = self._correction(turn, prompts.drift_feedback(problems, self.intent.persona.name))
                continue
            unbacked: list[str] = []
            if not opening and turn.completed and turn.is_success:
                now, before = await (probe or _no_workspace)()
                unbacked = unbacked_claims(agent_reply or "", calls, digest or TurnDigest(), now, before)
                if unbacked and refusals_left > 0:
                    refusals_left -= 1
                    correction = self._correction(turn, prompts.completion_refused_feedback(unbacked))
                    continue
            return self._accept(turn, unbacked)

    def _scripted(self, digest: TurnDigest | None) -> AcceptedTurn:
        if digest is None:
            text = fallback_turn.opening_text(self.intent)
        else:
            text = fallback_turn.reply_text(digest, self.seeds.next())
        # The turn stays in the simulator's history as its own; a reason naming the template would
        # be copied by the model into its later verdicts (seen with the 135M one), so it has none.
        self.scripted_turns += 1
        return self._accept(UserTurn(completed=False, query=text, reason="", is_success=False))

    def _accept(self, turn: UserTurn, unbacked: list[str] | None = None) -> AcceptedTurn:
        """The turn goes to the episode and, as the simulator's own message, into its history."""
        self.history.append({"role": "assistant", "content": turn.model_dump_json()})
        self.sent.append(turn.query.strip())
        return AcceptedTurn(turn, unbacked or [])

    async def _judge(self, text: str, digest: TurnDigest | None):
        try:
            return await judge_drift(self.model, text, digest)
        except StructuredOutputError:
            return None  # a judge that cannot answer is no finding; the offline check already passed
        except LLMError as e:
            raise SimulatorFailure(f"drift judge failed: {e}") from e

    @staticmethod
    def _correction(turn: UserTurn, feedback: str) -> list[dict[str, Any]]:
        return [{"role": "assistant", "content": turn.model_dump_json()}, {"role": "user", "content": feedback}]

    async def _ask(self, messages: list[dict[str, Any]]) -> UserTurn:
        sampling = SamplingParams(
            temperature=self.config.user_temperature,
            top_p=self.config.user_top_p,
            max_tokens=self.config.user_max_tokens,
            seed=self.seeds.next(),
        )
        messages = fit_to_context(messages, self.config.user_context_tokens - self.config.user_max_tokens)
        try:
            return await self.model.structured(messages, UserTurn, sampling=sampling)
        except StructuredOutputError as e:
            raise SimulatorFailure(f"simulator reply failed the schema after {e.attempts} attempts: {e}") from e
        except LLMError as e:  # a model or transport failure is user_error data; anything else is a bug
            raise SimulatorFailure(f"simulator model failed: {e}") from e
