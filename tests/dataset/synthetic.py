"""Synthetic but schema-valid trajectories, shaped like the paper's corpus.

Deterministic for a seed. Used by the dataset tests and by benchmarks/bench_build.py; by default a
trajectory has about 8 user turns, 68 dialogue turns and 29 tool calls, with tool outputs of a few
hundred characters, failed calls and recoveries, and tool-specific argument objects.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from ise_trace.schemas import (
    AssistantMessage,
    DomainSpec,
    ExecutionRecord,
    FunctionCall,
    Intent,
    Outcome,
    Persona,
    Provenance,
    RendererInfo,
    SystemMessage,
    TaskSpec,
    TerminationReason,
    ToolCall,
    ToolMessage,
    Trajectory,
    UserMessage,
    compute_stats,
)

DOMAINS = [
    "Intelligence-Core", "Code-Runtime", "File-IO", "Source-Chain", "Automation-Flow",
    "Web-Extraction", "Comms-Social", "Multimedia", "Agent-Memory", "System-Infrastructure",
]
WORDS = (
    "parse the quarterly csv report and group totals by region then write a summary table with "
    "counts averages and the largest outliers check the logs for errors rotate archives keep only "
    "recent files rename images by date extract links from the saved html page compress results"
).split()


def _schema(name: str, props: dict[str, str], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} in the workspace",
            "parameters": {
                "type": "object",
                "properties": {k: {"type": t} for k, t in props.items()},
                "required": required,
            },
        },
    }


TOOLS = [
    _schema("exec", {"command": "string", "timeout_s": "number"}, ["command"]),
    _schema("read", {"path": "string", "offset": "integer", "limit": "integer"}, ["path"]),
    _schema("write", {"path": "string", "content": "string"}, ["path", "content"]),
    _schema("edit", {"path": "string", "old": "string", "new": "string"}, ["path", "old", "new"]),
    _schema("list", {"path": "string"}, []),
    _schema("glob", {"pattern": "string"}, ["pattern"]),
    _schema("grep", {"pattern": "string", "path": "string", "ignore_case": "boolean"}, ["pattern"]),
]


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def _arguments(rng: random.Random, tool: str) -> dict:
    path = f"work/{rng.choice(['data', 'out', 'src', 'logs'])}/{rng.choice(WORDS)}.{rng.choice(['csv', 'txt', 'py'])}"
    if tool == "exec":
        args = {"command": f"python3 -c 'print({rng.randint(1, 99)})' && ls -la {path.rsplit('/', 1)[0]}"}
        if rng.random() < 0.3:
            args["timeout_s"] = rng.choice([10, 30, 60])
        return args
    if tool == "read":
        return {"path": path, "limit": rng.randint(20, 200)} if rng.random() < 0.4 else {"path": path}
    if tool == "write":
        return {"path": path, "content": _text(rng, rng.randint(20, 80))}
    if tool == "edit":
        return {"path": path, "old": rng.choice(WORDS), "new": rng.choice(WORDS)}
    if tool == "list":
        return {"path": path.rsplit("/", 1)[0]}
    if tool == "glob":
        return {"pattern": f"**/*.{rng.choice(['csv', 'txt', 'py'])}"}
    return {"pattern": rng.choice(WORDS), "path": "work", "ignore_case": rng.random() < 0.5}


def make_intent(i: int, seed: int = 0) -> Intent:
    rng = random.Random(f"intent-{seed}-{i}")
    complexity = rng.choices(["complex", "medium", "simple"], weights=[50, 40, 10])[0]
    domains = rng.sample(DOMAINS, k={"simple": 1, "medium": 2, "complex": 3}[complexity])
    intent_id = hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()[:16]
    return Intent(
        id=intent_id,
        text=f"As a {rng.choice(['data engineer', 'analyst', 'sysadmin'])}: {_text(rng, rng.randint(25, 45))}",
        persona=Persona(
            id=f"p{i % 965}",
            name=rng.choice(["Ana Silva", "Kenji Ito", "Maya Cohen", "Olu Ade"]),
            role=rng.choice(["data engineer", "analyst", "sysadmin"]),
            industry=rng.choice(["logistics", "healthcare", "retail", "finance"]),
            experience_level=rng.choice(["junior", "senior"]),
            communication_style=rng.choice(["terse", "chatty", "formal"]),
            work_context="maintains nightly reports",
            expertise=rng.sample(["python", "bash", "sql", "git"], k=2),
        ),
        domains=[DomainSpec(name=d, tasks=[TaskSpec(name=f"{d.lower()}-task", description=_text(rng, 12))]) for d in domains],
        complexity=complexity,
        seed=seed,
        renderer=RendererInfo(model="synthetic", prompt_version="v1"),
    )


def make_trajectory(i: int, seed: int = 0, *, intent: Intent | None = None, user_turns: int | None = None,
                    calls_per_turn: float = 3.6, output_chars: int = 600) -> Trajectory:
    """One trajectory; about 8.5 dialogue turns and 3.6 tool calls per user turn by default."""
    rng = random.Random(f"traj-{seed}-{i}")
    intent = intent or make_intent(i, seed)
    n_turns = user_turns or max(1, min(23, round(rng.gauss(8.1, 3.0))))
    messages = [SystemMessage(content="You are an agent working in a Linux workspace. Use the tools.")]
    executions = []
    call_no = 0
    for turn in range(n_turns):
        messages.append(UserMessage(content=f"Turn {turn + 1}: {_text(rng, rng.randint(12, 35))}"))
        budget = max(0, round(rng.gauss(calls_per_turn, 1.2)))
        while budget > 0:
            k = 2 if budget >= 2 and rng.random() < 0.15 else 1
            calls = []
            for _ in range(k):
                name = rng.choice(["exec", "exec", "read", "write", "edit", "list", "glob", "grep"])
                calls.append(ToolCall(id=f"call_{i}_{call_no}", function=FunctionCall(name=name, arguments=_arguments(rng, name))))
                call_no += 1
            messages.append(AssistantMessage(
                content=_text(rng, 10) if rng.random() < 0.3 else None,
                reasoning_content=_text(rng, 25) if rng.random() < 0.5 else None,
                tool_calls=calls,
            ))
            for tc in calls:
                failed = rng.random() < 0.12
                code = (rng.choice([1, 2, 127]) if failed else 0)
                out = ("error: " if failed else "") + _text(rng, max(5, int(rng.gauss(output_chars, output_chars / 3)) // 6))
                messages.append(ToolMessage(tool_call_id=tc.id, name=tc.function.name, content=out))
                executions.append(ExecutionRecord(tool_call_id=tc.id, exit_code=code, duration_ms=round(rng.uniform(5, 900), 1),
                                                  is_error=failed, truncated=rng.random() < 0.02))
            budget -= k
        messages.append(AssistantMessage(content=_text(rng, rng.randint(15, 40))))
    status, term = rng.choices(
        [("success", TerminationReason.user_completed), ("failure", TerminationReason.user_gave_up),
         ("max_turns", TerminationReason.max_user_turns)], weights=[80, 12, 8])[0]
    return Trajectory(
        id=f"t-{intent.id}-{i}",
        intent=intent,
        messages=messages,
        tools=TOOLS,
        executions=executions,
        outcome=Outcome(status=status, reason="simulator verdict", termination=term),
        stats=compute_stats(messages, executions, drift_turns=1 if rng.random() < 0.002 else 0),
        provenance=Provenance(
            agent_model="synthetic-agent", user_model="synthetic-user", seeds={"run": seed, "episode": i},
            prompt_versions={"user": "v3", "agent": "v1"}, sandbox_image="ise-trace-sandbox:synthetic",
            ise_trace_version="0.1.0", created_at=f"2026-01-01T00:{i % 60:02d}:00+00:00",
        ),
    )


def write_run_dir(path: Path, n: int, seed: int = 0, **kw) -> Path:
    """A run directory with `n` trajectories (one per intent), as `ise-trace simulate` lays it out."""
    path.mkdir(parents=True, exist_ok=True)
    with (path / "trajectories.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(make_trajectory(i, seed, **kw).model_dump_json() + "\n")
    (path / "failures.jsonl").write_text('{"intent_id": "x", "reason": "agent_error"}\n', encoding="utf-8")
    (path / "run.json").write_text('{"run_key": "synthetic", "seed": %d}\n' % seed, encoding="utf-8")
    return path


def write_intents(path: Path, n: int, seed: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(make_intent(i, seed).model_dump_json() + "\n")
    return path
