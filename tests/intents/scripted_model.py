"""A scripted stand-in for a ChatModel, for deterministic unit tests of the Stage I loop only.

It is not a model: it writes each intent from the task list in the prompt (so the text passes
validation), and can be told to write bad drafts or to fail like an unreachable server. Tests that
use it say so in their names; rendering with a real model is tested against the local server.
"""

from __future__ import annotations

import re

from ise_trace.errors import LLMError
from ise_trace.intents.taxonomy import Taxonomy

_TASK_LINE = re.compile(r"^\d+\. \[(?P<domain>[^\]]+)\] (?P<task>[^:]+): (?P<description>.+)$", re.M)
_PERSON = re.compile(r"^Person: (?P<name>[^,]+), (?P<rest>[^;]+);", re.M)


class ScriptedStandInModel:
    """Replies through `structured` like a ChatModel; every behaviour is set by the test."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        *,
        model: str = "scripted-stand-in",
        bad_drafts_per_intent: int = 0,
        down_after: int | None = None,
        same_text: bool = False,
    ):
        self.model = model
        self.taxonomy = taxonomy
        self.bad_drafts_per_intent = bad_drafts_per_intent  # drafts with a placeholder before a good one
        self.down_after = down_after  # calls answered before behaving like an unreachable server
        self.same_text = same_text  # every intent gets one identical text (exact duplicates)
        self.calls = 0
        self._drafts: dict[str, int] = {}

    async def chat(self, messages, tools=None, sampling=None):
        raise NotImplementedError("the Stage I loop only uses structured()")

    async def structured(self, messages, schema, sampling=None, max_attempts=3):
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            raise LLMError("cannot reach the model server at http://127.0.0.1:9/v1 (connection refused)")
        prompt = messages[-1]["content"]
        person = _PERSON.search(prompt)
        key = prompt.split("\nYour previous draft")[0]
        self._drafts[key] = self._drafts.get(key, 0) + 1
        if self._drafts[key] <= self.bad_drafts_per_intent:
            return schema(text=f"Hello, please handle the {{file_name}} for me, it is for {person['name']}.")
        if self.same_text:
            return schema(text="Please convert sales.csv to JSON and save it as sales.json in the workspace folder.")
        parts = [f"I am {person['name']}, {person['rest']}."]
        for m in _TASK_LINE.finditer(prompt):
            task = next(t for t in self.taxonomy.domain(m["domain"]).tasks if t.name == m["task"])
            parts.append(f"Step: {task.name} ({task.keywords[0]}). {m['description']}")
        return schema(text=" ".join(parts))
