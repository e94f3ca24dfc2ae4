"""The renderer's LLM authors an intent's task: workspace files, setup, checks and a reference.

It answers one JSON schema (grammar-constrained on the embedded model), and what it writes is only
a draft: Stage I keeps it only after the task validates in a real sandbox.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..config import TaskConfig
from ..llm.base import ChatModel, SamplingParams, StructuredOutputError
from ..schemas import Check, Intent, WorkspaceFile, WorkspaceSpec

AUTHOR_PROMPT_VERSION = "task-author-v1"

SYSTEM_PROMPT = """\
You turn a user's request into an executable task for an AI assistant working in an offline Linux \
workspace (/workspace; Debian with bash, coreutils, python3 with its standard library, git, jq; no \
internet, no pip).
Write:
- files: the files the request talks about, with realistic content (paths relative to /workspace).
- setup: shell commands that build what is better generated than written out (a git history, an \
sqlite database via python3, a large CSV from a seeded python3 snippet). May be empty.
- checks: shell commands that each exit 0 only when one part of the user's goal holds in the final \
workspace. Check substance (the output parses, the values are right, the tests pass), not only that \
a file exists. At least one check must fail before the assistant starts.
- reference: one bash script that reaches the goal, so that every check passes after it.
Reply with JSON only."""


class AuthoredFile(BaseModel):
    path: str = Field(description="Path relative to /workspace.")
    content: str = Field(description="Full text of the file.")


class AuthoredCheck(BaseModel):
    name: str = Field(description="What the check proves.")
    command: str = Field(description="Shell command; exit 0 when it holds.")


class AuthoredTask(BaseModel):
    files: list[AuthoredFile] = Field(description="Files the workspace starts with.")
    setup: list[str] = Field(description="Shell commands run before the episode.")
    checks: list[AuthoredCheck] = Field(description="Postconditions of the goal.")
    reference: str = Field(description="Bash script that reaches the goal.")


def author_messages(intent: Intent) -> list[dict]:
    p = intent.persona
    tasks = "; ".join(t.name for d in intent.domains for t in d.tasks)
    user = (
        f"Request from {p.name}, {p.role} in {p.industry}:\n<<<\n{intent.text}\n>>>\n"
        f"Tasks it combines: {tasks}.\nWrite the task as JSON."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


async def author_task(model: ChatModel, intent: Intent, config: TaskConfig, seed: int) -> AuthoredTask | str:
    """The model's task draft, or the reason there is none (a reply that failed the schema)."""
    sampling = SamplingParams(temperature=config.author_temperature, max_tokens=config.author_max_tokens, seed=seed)
    try:
        return await model.structured(author_messages(intent), AuthoredTask, sampling=sampling)
    except StructuredOutputError as e:
        return f"the authored task was not the JSON asked for: {e}"


def as_task(draft: AuthoredTask) -> tuple[WorkspaceSpec, list[Check], str | None]:
    workspace = WorkspaceSpec(
        files=[WorkspaceFile(path=f.path.strip(), content=f.content) for f in draft.files],
        setup=[c for c in draft.setup if c.strip()],
    )
    checks = [Check(name=c.name.strip() or f"check {i + 1}", command=c.command) for i, c in enumerate(draft.checks)
              if c.command.strip()]
    return workspace, checks, draft.reference if draft.reference.strip() else None
