"""The scripted stand-in model for the Ray tests: tests/llm/standin_server.py with a reply policy.

Stateless, so any number of episodes may talk to it at once: the agent (a request with tools)
lists the files with one `exec` call and then says so; the simulated user (a request without
tools) asks for that first and declares the goal reached on its next turn. Each reply waits
`delay_s`, as a model would, so that episodes are in flight long enough to kill an actor under them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.llm.standin_server import Scripted, StandinServer, completion


def policy(delay_s: float):
    def reply(body: dict[str, Any]) -> Scripted:
        time.sleep(delay_s)
        messages = body.get("messages") or []
        if body.get("tools"):
            since_user = []
            for m in reversed(messages):
                if m["role"] == "user":
                    break
                since_user.append(m["role"])
            if "tool" not in since_user:
                call = {"id": f"call_{len(messages)}", "type": "function",
                        "function": {"name": "exec", "arguments": json.dumps({"command": "ls -la"})}}
                return Scripted(completion(None, [call], finish="tool_calls"))
            return Scripted(completion("The workspace is listed above."))
        opened = any(m["role"] == "assistant" for m in messages)
        return Scripted(completion(json.dumps({
            "completed": opened, "is_success": opened, "reason": "stand-in",
            "query": "Thanks, that is what I needed." if opened else "List the files in the workspace, please.",
        })))

    return reply


def standin_server(delay_s: float = 0.0) -> StandinServer:
    return StandinServer([policy(delay_s)])
