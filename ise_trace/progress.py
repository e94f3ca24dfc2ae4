"""One progress line for every long command: done/total, rate, ETA, successes and failures.

It writes to stderr, redraws in place on a terminal, and prints a plain line every few seconds
otherwise (CI logs), so a long job always shows that it is alive.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


def _fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


@dataclass
class Progress:
    total: int
    label: str = ""
    done: int = 0
    ok: int = 0
    failed: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    stream: object = None  # None: sys.stderr at the time of writing (pytest swaps it)
    min_interval_s: float = 0.2
    _start: float = field(default_factory=time.monotonic)
    _last: float = 0.0
    _last_shown: tuple | None = None  # the counts of the last line written (not its clock)
    _new_since_start: int = 0

    def update(self, *, ok: bool = True, n: int = 1, **extra: object) -> None:
        self.done += n
        self._new_since_start += n
        if ok:
            self.ok += n
        else:
            self.failed += n
        self.extra.update(extra)
        self.render()

    def skip(self, n: int) -> None:
        """Count work finished by an earlier run (resume) without skewing the rate."""
        self.done += n
        self.ok += n
        self.render(force=True)

    def _extras(self) -> str:
        return "".join(f" {k}={v}" for k, v in self.extra.items())

    def _counts(self) -> tuple:
        """What a line says apart from its clock (rate, elapsed, ETA change on every call)."""
        return self.done, self.ok, self.failed, self._extras()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self._new_since_start / elapsed
        left = max(self.total - self.done, 0)
        eta = left / rate if rate > 0 else float("inf")
        extras = self._extras()
        return (
            f"{self.label} {self.done}/{self.total} ok={self.ok} failed={self.failed} "
            f"{rate:.2f}/s elapsed {_fmt_eta(elapsed)} eta {_fmt_eta(eta)}{extras}"
        ).strip()

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def render(self, force: bool = False) -> None:
        now = time.monotonic()
        out = self._out()
        tty = getattr(out, "isatty", lambda: False)()
        interval = self.min_interval_s if tty else 10.0
        counts = self._counts()
        new = counts != self._last_shown
        # Forced (a resume's skip, close) and the final count: written only when the counts are
        # news, so the last line, already shown by the update that reached the total, is not
        # written again a moment later with another rate. Otherwise one line per interval.
        if force or self.done >= self.total:
            if not new:
                return
        elif now - self._last < interval:
            return
        line = self.line()
        self._last, self._last_shown = now, counts
        if tty:
            out.write("\r\033[K" + line)
        else:
            out.write(line + "\n")
        out.flush()

    def close(self) -> None:
        self.render(force=True)
        out = self._out()
        if getattr(out, "isatty", lambda: False)():
            out.write("\n")
            out.flush()
