"""Executable tasks: the workspace an intent starts from, the checks that prove its goal, and the
sandbox runs that validate a task (Stage I) and verify an episode's final state (Stage S+E)."""
