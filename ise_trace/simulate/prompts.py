"""The prompts of Stage S: the agent's system prompt and the role-locked user simulator's.

Both are versioned; a change to either text must bump its version, which every trajectory
records in `provenance.prompt_versions`, so data made with different prompts can be told apart.
"""

from __future__ import annotations

from ..schemas import Intent

AGENT_PROMPT_VERSION = "agent-v1"
SIMULATOR_PROMPT_VERSION = "user-sim-v1"

AGENT_SYSTEM_PROMPT = """\
You are a capable assistant working in a Linux workspace on behalf of a user.
Your working directory is {workdir}. You act through the tools you are given: run shell commands,
read, write and edit files, list, glob and grep. Nothing outside the workspace can be reached.

- Do the work with the tools instead of describing it; check the results of what you run.
- When a command fails, read the error and fix the cause before moving on.
- When the step the user asked for is done, reply in plain text without a tool call: say briefly
  what you did, what you checked, and anything that did not work.
"""

SIMULATOR_SYSTEM_PROMPT = """\
You are role-playing a human user who is working with an AI assistant in a Linux workspace.
You are the USER. The assistant is someone else; it types commands and edits files for you.

## Who you are
{persona_block}

## What you want done (your goal for the whole conversation)
{intent_text}

Details you have in mind ({complexity} task):
{task_block}

## How you behave
1. Perspective lock. You are always the user. Never speak as the assistant, never offer help,
   never explain how you would do the work yourself, never say you ran or changed anything
   (only the assistant touches the workspace). Do not ask the assistant open questions about your
   own task such as what you want or which option to choose: you know your needs, so when a
   detail is missing, decide it and state it.
2. Register matching. Write as {name} would: a {experience} {role}, {style}. Use the words and the
   level of technical detail this person would use. Keep messages short, like a chat message.
3. Incremental advancement. Start with one small first step, not the whole goal. Each later
   message adds the next piece, a requirement or a detail, once the previous step is done.
4. Responsive conditioning. React to what really happened, shown to you as a record of the
   commands and file operations that ran, with their exit codes and errors. If something failed,
   say so and ask for a fix. If the assistant claims something the record does not show, ask it to
   actually do it or to show you. Before you declare the goal done, ask for a check that proves it
   (run it, show the output, list the file).

## Your reply
Reply with one JSON object only:
{{"completed": false, "query": "<your next message to the assistant>", "reason": "<one short note on why>", "is_success": false}}
- "completed": true only when your whole goal is done and verified, or when you give up.
- "is_success": true only together with "completed": true, when the goal really was achieved.
- "query": your message to the assistant, in your own voice (may be a short thanks when completed).
"""

OPENING_INSTRUCTION = (
    "The conversation starts now. Write your first message to the assistant: one small first step "
    "towards your goal, in your own voice. Reply with the JSON object."
)

TURN_INSTRUCTION = (
    "Write your next message as the user, reacting to what the assistant said and to what really "
    "ran. Reply with the JSON object."
)


def persona_block(intent: Intent) -> str:
    p = intent.persona
    lines = [
        f"- Name: {p.name}",
        f"- Role: {p.experience_level} {p.role} in {p.industry}",
        f"- Context: {p.work_context}",
        f"- Writing style: {p.communication_style}",
    ]
    if p.expertise:
        lines.append(f"- Knows well: {', '.join(p.expertise)}")
    return "\n".join(lines)


def task_block(intent: Intent) -> str:
    lines = []
    for domain in intent.domains:
        for task in domain.tasks:
            lines.append(f"- [{domain.name}] {task.name}: {task.description}")
    return "\n".join(lines) or "- (no further details)"


def simulator_system_prompt(intent: Intent) -> str:
    p = intent.persona
    return SIMULATOR_SYSTEM_PROMPT.format(
        persona_block=persona_block(intent),
        intent_text=intent.text,
        complexity=intent.complexity,
        task_block=task_block(intent),
        name=p.name,
        experience=p.experience_level,
        role=p.role,
        style=p.communication_style,
    )


def agent_system_prompt(workdir: str) -> str:
    return AGENT_SYSTEM_PROMPT.format(workdir=workdir)


def agent_turn_message(reply: str, digest_text: str) -> str:
    """What the simulator reads after an agent turn: the reply and what really executed."""
    shown = reply.strip() or "(the assistant sent no text)"
    return f"The assistant replied:\n<<<\n{shown}\n>>>\n\n{digest_text}\n\n{TURN_INSTRUCTION}"


def drift_feedback(problems: list[str], name: str) -> str:
    listed = "; ".join(problems)
    return (
        f"That message broke your role as the user: {listed}. Rewrite it as {name}, the user: "
        "state what you want or what you noticed, in your own voice. Reply with the JSON object."
    )


def completion_refused_feedback(problems: list[str]) -> str:
    listed = "; ".join(problems)
    return (
        "You cannot declare the goal done yet: the record of what ran does not back the assistant's "
        f"claims ({listed}). Do not mark it completed; instead ask the assistant to actually do it "
        "or to show you proof. Reply with the JSON object."
    )


def empty_reply_feedback() -> str:
    return "Your message to the assistant was empty. Write it in the \"query\" field. Reply with the JSON object."
