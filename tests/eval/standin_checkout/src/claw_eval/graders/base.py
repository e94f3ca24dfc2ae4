"""Stand-in grader base class: graders subclass it and implement grade()."""


class AbstractGrader:
    def grade(self, messages, dispatches, task, audit_data=None, judge=None):
        """Return {"completion", "robustness", "communication", "safety"}, each in [0, 1]."""
        raise NotImplementedError
