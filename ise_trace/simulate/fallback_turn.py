"""The user turn written from a template when the simulator could not write one in role.

A small simulator (the embedded 135M model) often stays out of role through every regeneration.
With `simulate.drift_fallback: scripted` the episode then goes on with a plain user message built
from the record of what really ran, instead of ending in an error: the opening states the intent
itself, later turns quote a failed call nothing made good, push for real work when nothing ran, or
ask for a check of what did run. The turn never declares the goal done, so success still rests on the model's own
verdict and on the intent's checks. Each such turn is counted in `stats.scripted_turns`, so a user
can drop or keep those trajectories.
"""

from __future__ import annotations

from ..schemas import Intent
from .digest import ExecutedCall, TurnDigest

# Each record kind has a few wordings; the episode's seed stream picks one, so reruns agree.
_FAILED = (
    "That failed: {call}. Please fix the cause and run it again.",
    "It didn't work, {call}. Can you fix that and rerun it?",
)
_NOTHING = (
    "Nothing ran in the workspace this time. Please do it with the tools instead of describing it, and show me the output.",
    "You didn't touch any files in that reply. Please actually do it in the workspace and show me what it printed.",
)
_RAN = (
    "OK, {call} ran. Please check the result against what I asked for and show me the output.",
    "Thanks, {call} went through. Can you verify the result and show me what it looks like?",
)

_ERROR_CHARS = 160  # of the failed call's output quoted back: its last line, where errors end


def _is_message(line: str) -> bool:
    """A line of what the call printed, not one of the tool's own bracketed notes ("[exit code: 1]")."""
    line = line.strip()
    return bool(line) and not (line.startswith("[") and line.endswith("]"))


def _describe(call: ExecutedCall) -> str:
    target = call.target if len(call.target) <= 80 else call.target[:77] + "..."
    if not target:
        what = f"the {call.tool} call"
    else:  # a command speaks for itself; a path or a pattern needs the tool that took it
        what = f"`{target}`" if call.tool == "exec" else f"{call.tool} `{target}`"
    if not call.is_error:
        return what
    code = f"exit {call.exit_code}" if call.exit_code is not None else "an error"
    last = next((line.strip() for line in reversed(call.output.splitlines()) if _is_message(line)), "")
    return f"{what} ended with {code}" + (f' ("{last[:_ERROR_CHARS]}")' if last else "")


def unrecovered_failure(calls: list[ExecutedCall]) -> ExecutedCall | None:
    """The last failed call that no later call of the same tool and target made good."""
    for i in range(len(calls) - 1, -1, -1):
        c = calls[i]
        if c.is_error and not any(d.tool == c.tool and d.target == c.target and not d.is_error for d in calls[i + 1 :]):
            return c
    return None


def opening_text(intent: Intent) -> str:
    """The first message: the intent's text, which Stage I wrote and checked as the user's request."""
    return intent.text.strip()


def reply_text(digest: TurnDigest, pick: int) -> str:
    """A reply to one agent turn, grounded in its record; `pick` chooses among the wordings."""
    if not digest.calls:
        return _NOTHING[pick % len(_NOTHING)]
    failed = unrecovered_failure(digest.calls)
    if failed is not None:
        return _FAILED[pick % len(_FAILED)].format(call=_describe(failed))
    return _RAN[pick % len(_RAN)].format(call=_describe(digest.calls[-1]))
