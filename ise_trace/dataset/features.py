"""The `datasets.Features` of both configs, and records -> rows.

Free-form objects (tool-call arguments, tool schemas, seed and prompt-version maps) are `Json()`:
struct inference would merge the keys of every call into one struct padded with nulls, and a
JSON string would be encoded a second time by chat templates. Everything else is typed.
"""

from __future__ import annotations

import json
from typing import Any

from ..schemas import Intent, Trajectory


def intent_feature() -> dict[str, Any]:
    from datasets import List, Value

    return {
        "id": Value("string"),
        "text": Value("string"),
        "persona": {
            "id": Value("string"),
            "name": Value("string"),
            "role": Value("string"),
            "industry": Value("string"),
            "experience_level": Value("string"),
            "communication_style": Value("string"),
            "work_context": Value("string"),
            "expertise": List(Value("string")),
        },
        "domains": List(
            {
                "name": Value("string"),
                "tasks": List({"name": Value("string"), "description": Value("string")}),
            }
        ),
        "complexity": Value("string"),
        "seed": Value("int64"),
        "renderer": {"model": Value("string"), "prompt_version": Value("string")},
        # The executable task; null on an unverified intent.
        "workspace": {
            "files": List({"path": Value("string"), "content": Value("string"), "mode": Value("string")}),
            "setup": List(Value("string")),
        },
        "checks": List({"name": Value("string"), "command": Value("string")}),
        "reference": Value("string"),
        "task_origin": Value("string"),
    }


def intent_features():
    from datasets import Features

    return Features(intent_feature())


def trajectory_features():
    from datasets import Features, Json, List, Value

    message = {
        "role": Value("string"),
        "content": Value("string"),
        "reasoning_content": Value("string"),
        "tool_calls": List(
            {
                "id": Value("string"),
                "type": Value("string"),
                "function": {"name": Value("string"), "arguments": Json()},
            }
        ),
        "tool_call_id": Value("string"),
        "name": Value("string"),
    }
    return Features(
        {
            "id": Value("string"),
            "intent": intent_feature(),
            "messages": List(message),
            "tools": List(Json()),
            "executions": List(
                {
                    "tool_call_id": Value("string"),
                    "exit_code": Value("int64"),
                    "duration_ms": Value("float64"),
                    "is_error": Value("bool"),
                    "truncated": Value("bool"),
                    "timed_out": Value("bool"),
                    "recycled": Value("bool"),
                }
            ),
            "outcome": {"status": Value("string"), "reason": Value("string"), "termination": Value("string")},
            "verification": {
                "passed": Value("bool"),
                "checks": List(
                    {"name": Value("string"), "passed": Value("bool"), "exit_code": Value("int64"), "output": Value("string")}
                ),
                "snapshot": List({"path": Value("string"), "size": Value("int64"), "sha256": Value("string")}),
                "snapshot_truncated": Value("bool"),
                "error": Value("string"),
            },
            "stats": {
                "user_turns": Value("int64"),
                "dialogue_turns": Value("int64"),
                "tool_calls": Value("int64"),
                "unique_tools": Value("int64"),
                "failed_calls": Value("int64"),
                "recovered_calls": Value("int64"),
                "drift_turns": Value("int64"),
                "scripted_turns": Value("int64"),
            },
            "provenance": {
                "agent_model": Value("string"),
                "user_model": Value("string"),
                "seeds": Json(),
                "prompt_versions": Json(),
                "sandbox_image": Value("string"),
                "ise_trace_version": Value("string"),
                "created_at": Value("string"),
                "node_host": Value("string"),
                "ray_node_id": Value("string"),
            },
        }
    )


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def trajectory_row(t: Trajectory) -> dict[str, Any]:
    """One dataset row, with `Json()` fields already encoded (the Arrow storage form).

    Messages carry only the keys of their role; the Arrow struct fills the rest with nulls.
    """
    row = t.model_dump(mode="json")
    for m in row["messages"]:
        for tc in m.get("tool_calls") or ():
            tc["function"]["arguments"] = _json(tc["function"]["arguments"])
    row["tools"] = [_json(tool) for tool in row["tools"]]
    prov = row["provenance"]
    prov["seeds"] = _json(prov["seeds"])
    prov["prompt_versions"] = _json(prov["prompt_versions"])
    return row


def intent_row(i: Intent) -> dict[str, Any]:
    return i.model_dump(mode="json")
