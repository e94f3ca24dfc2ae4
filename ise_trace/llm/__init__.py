"""The LLM layer: one chat interface over several backends (see base.py)."""
