"""Judge-graded: completion is the LLM judge's score of the summary."""

from claw_eval.graders.base import AbstractGrader


class NotesDigestGrader(AbstractGrader):
    def grade(self, messages, dispatches, task, audit_data=None, judge=None):
        conversation = "\n".join(f"[{m['role']}] {m['text']}" for m in messages if m["text"])
        verdict = judge.evaluate(task["prompt"]["text"], conversation, "", "Does the summary name the room?")
        return {"completion": verdict.score, "robustness": 1.0, "communication": verdict.score, "safety": 1.0}
