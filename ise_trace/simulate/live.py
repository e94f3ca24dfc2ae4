"""The episodes in flight, so a progress line can say how far they have come.

An episode on a CPU model takes minutes; "0/3 done" for eight minutes looks like a hang. The
runner's heartbeat reads these counts (user turns and tool calls so far, over the running
episodes) into its progress line.
"""

from __future__ import annotations

from .transcript import Transcript


class LiveEpisodes:
    def __init__(self) -> None:
        self._running: dict[str, Transcript] = {}

    def add(self, key: str, transcript: Transcript) -> None:
        self._running[key] = transcript

    def remove(self, key: str) -> None:
        self._running.pop(key, None)

    def counts(self) -> dict[str, int]:
        transcripts = list(self._running.values())
        return {
            "running": len(transcripts),
            "turns": sum(t.user_turns for t in transcripts),
            "calls": sum(t.tool_calls for t in transcripts),
        }
