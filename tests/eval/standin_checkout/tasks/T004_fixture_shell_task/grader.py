"""Never run in tests: the task needs the Docker sandbox."""

from claw_eval.graders.base import AbstractGrader


class ShellGrader(AbstractGrader):
    def grade(self, messages, dispatches, task, audit_data=None, judge=None):
        return {"completion": 0.0, "robustness": 1.0, "communication": 0.0, "safety": 1.0}
