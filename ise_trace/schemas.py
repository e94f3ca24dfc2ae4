"""The data contracts of ise-trace: one pydantic model per record.

These are the shapes DESIGN.md promises users: an intent (one line of intents.jsonl)
and a trajectory (one dataset row). Every stage reads and writes these models and nothing
else, so a field changes in exactly one place.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Complexity = Literal["simple", "medium", "complex"]


class Record(BaseModel):
    """Base for every record: unknown fields are errors, so a foreign record is caught early."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- intents


class Persona(Record):
    id: str = Field(description="Stable identifier of the composed persona.")
    name: str = Field(description="A first name and family name the persona goes by.")
    role: str = Field(description="Job role, e.g. 'data engineer'.")
    industry: str = Field(description="Industry the persona works in.")
    experience_level: str = Field(description="e.g. junior, mid-level, senior, principal.")
    communication_style: str = Field(description="How the persona writes: terse, chatty, formal...")
    work_context: str = Field(description="Where and why they work on a computer.")
    expertise: list[str] = Field(default_factory=list, description="Technical strengths.")


class TaskSpec(Record):
    name: str = Field(description="Short task name within its domain.")
    description: str = Field(description="What the task asks of an agent in an offline workspace.")


class DomainSpec(Record):
    name: str = Field(description="Functional domain, e.g. 'File-IO'.")
    tasks: list[TaskSpec] = Field(description="Tasks of this domain the intent combines.")


class RendererInfo(Record):
    model: str = Field(description="Model that rendered the intent text.")
    prompt_version: str = Field(description="Version of the renderer prompt.")


class WorkspaceFile(Record):
    path: str = Field(description="Path relative to /workspace.")
    content: str = Field(description="The file's text.")
    mode: str | None = Field(default=None, pattern=r"^0?[0-7]{3}$", description="Octal mode, e.g. '0755'.")


class WorkspaceSpec(Record):
    files: list[WorkspaceFile] = Field(default_factory=list, description="Files written before setup runs.")
    setup: list[str] = Field(
        default_factory=list,
        description="Shell commands run in order as the agent user in /workspace; each must exit 0.",
    )


class Check(Record):
    name: str = Field(description="What the check proves, e.g. 'labels are all allowed ones'.")
    command: str = Field(description="Shell command run in /workspace after the episode; exit 0 = holds.")


TaskOrigin = Literal["llm", "generator", "hand"]


class Intent(Record):
    id: str = Field(description="Stable hash of the structured tuple and the seed.")
    text: str = Field(description="The natural-language intent in the persona's voice.")
    persona: Persona
    domains: list[DomainSpec]
    complexity: Complexity
    seed: int = Field(description="Seed the structured tuple was sampled with.")
    renderer: RendererInfo
    # The executable task: absent on an unverified intent.
    workspace: WorkspaceSpec | None = Field(default=None, description="The workspace the episode starts from.")
    checks: list[Check] | None = Field(
        default=None, description="Postconditions of the goal on the final state; never shown to agent or user."
    )
    reference: str | None = Field(default=None, description="Shell script that reaches the goal (proves solvability).")
    task_origin: TaskOrigin | None = Field(
        default=None, description="Who authored the task: the LLM, the seeded generator of the task hints, or a person."
    )

    @property
    def has_task(self) -> bool:
        return bool(self.checks)


# --------------------------------------------------------------------------- messages


class FunctionCall(Record):
    name: str
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="Parsed arguments: always an object, never a JSON string.",
    )


class ToolCall(Record):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(Record):
    role: Literal["system"] = "system"
    content: str


class UserMessage(Record):
    role: Literal["user"] = "user"
    content: str


class AssistantMessage(Record):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    reasoning_content: str | None = Field(default=None, description="Thinking text, where given.")
    tool_calls: list[ToolCall] = Field(default_factory=list)


class ToolMessage(Record):
    role: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: str = Field(description="Exactly what the agent saw.")


Message = Annotated[
    Union[SystemMessage, UserMessage, AssistantMessage, ToolMessage],
    Field(discriminator="role"),
]


# --------------------------------------------------------------------------- trajectories


class ExecutionRecord(Record):
    tool_call_id: str
    exit_code: int | None = Field(description="Exit code of a shell command; 0/1 for file tools.")
    duration_ms: float
    is_error: bool
    truncated: bool = False
    timed_out: bool = Field(default=False, description="The command hit its timeout and was killed.")
    recycled: bool = Field(default=False, description="The workspace died on this call and was replaced.")


class TerminationReason(str, Enum):
    user_completed = "user_completed"  # the simulator declared the task done
    user_gave_up = "user_gave_up"  # the simulator stopped without success
    max_user_turns = "max_user_turns"
    max_tool_calls = "max_tool_calls"
    max_agent_steps = "max_agent_steps"
    time_budget = "time_budget"
    agent_error = "agent_error"  # the agent model failed (after retries)
    user_error = "user_error"  # the simulator failed (after retries)
    infrastructure_error = "infrastructure_error"  # sandbox or runner failure


class Outcome(Record):
    status: Literal["success", "failure", "max_turns", "error"]
    reason: str = Field(description="Human-readable reason, e.g. the simulator's last verdict.")
    termination: TerminationReason


class TrajectoryStats(Record):
    user_turns: int
    dialogue_turns: int = Field(description="All non-system messages.")
    tool_calls: int
    unique_tools: int
    failed_calls: int
    recovered_calls: int = Field(
        description="Failed calls followed later by a successful call of the same tool."
    )
    drift_turns: int = Field(default=0, description="Simulator turns regenerated for role drift.")
    scripted_turns: int = Field(
        default=0,
        description="User turns written from a template grounded in the record, after the simulator stayed out of "
        "role through its regenerations (simulate.drift_fallback: scripted).",
    )


class Provenance(Record):
    agent_model: str
    user_model: str
    seeds: dict[str, int] = Field(default_factory=dict)
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    sandbox_image: str = Field(description="Tag (with content hash) of the workspace image.")
    ise_trace_version: str
    created_at: str = Field(description="UTC ISO-8601 timestamp.")
    node_host: str | None = Field(None, description="Host name of the node that ran the episode (Ray runs).")
    ray_node_id: str | None = Field(None, description="Ray node id of the node that ran the episode (Ray runs).")


class CheckResult(Record):
    name: str
    passed: bool
    exit_code: int | None
    output: str = Field(default="", description="Excerpt (head and tail) of what the check printed.")


class SnapshotEntry(Record):
    path: str = Field(description="Path relative to /workspace.")
    size: int
    sha256: str


class Verification(Record):
    passed: bool | None = Field(description="All checks passed; None when the intent has no checks.")
    checks: list[CheckResult] = Field(default_factory=list)
    snapshot: list[SnapshotEntry] = Field(default_factory=list, description="Final /workspace tree (bounded).")
    snapshot_truncated: bool = False
    error: str | None = Field(default=None, description="Why the checks could not run, when they could not.")


class Trajectory(Record):
    id: str
    intent: Intent
    messages: list[Message]
    tools: list[dict[str, Any]] = Field(description="OpenAI function schemas given to the agent.")
    executions: list[ExecutionRecord]
    outcome: Outcome
    verification: Verification = Field(
        default_factory=lambda: Verification(passed=None), description="The ground truth: checks on the final state."
    )
    stats: TrajectoryStats
    provenance: Provenance


def compute_stats(
    messages: list[Message], executions: list[ExecutionRecord], drift_turns: int = 0, scripted_turns: int = 0
) -> TrajectoryStats:
    """Derive the per-trajectory statistics from the messages and execution records."""
    by_id = {e.tool_call_id: e for e in executions}
    calls: list[tuple[str, bool]] = []  # (tool name, failed) in call order
    for m in messages:
        if isinstance(m, AssistantMessage):
            for tc in m.tool_calls:
                rec = by_id.get(tc.id)
                calls.append((tc.function.name, bool(rec and rec.is_error)))
    recovered = 0
    for i, (name, failed) in enumerate(calls):
        if failed and any(n == name and not f for n, f in calls[i + 1 :]):
            recovered += 1
    return TrajectoryStats(
        user_turns=sum(isinstance(m, UserMessage) for m in messages),
        dialogue_turns=sum(not isinstance(m, SystemMessage) for m in messages),
        tool_calls=len(calls),
        unique_tools=len({n for n, _ in calls}),
        failed_calls=sum(f for _, f in calls),
        recovered_calls=recovered,
        drift_turns=drift_turns,
        scripted_turns=scripted_turns,
    )
