"""The shared progress line: what a user watching a long job (or a CI log) sees."""

from __future__ import annotations

import io

from ise_trace.progress import Progress


def test_progress_lines_show_counts_rate_elapsed_and_eta():
    out = io.StringIO()
    p = Progress(total=3, label="simulate", stream=out)
    p.skip(1)  # finished by an earlier run
    p.update(ok=True, drift=0)
    p.update(ok=False, drift=2)
    p.close()
    lines = out.getvalue().splitlines()
    last = lines[-1]
    assert last.startswith("simulate 3/3 ok=2 failed=1")
    assert "elapsed" in last and "eta 00:00" in last and "drift=2" in last
    # Closing does not print the final count again (with a rate a moment older: not the same text).
    assert [l for l in lines if l.startswith("simulate 3/3")] == [last]


def test_a_forced_line_without_news_is_not_written():
    out = io.StringIO()
    p = Progress(total=2, label="build", stream=out)
    p.update()
    p.update()
    p.render(force=True)
    p.close()
    assert [l.split()[1] for l in out.getvalue().splitlines()] == ["1/2", "2/2"]


def test_progress_is_quiet_between_intervals_on_a_log():
    out = io.StringIO()
    p = Progress(total=1000, label="intents", stream=out)
    for _ in range(200):
        p.update()
    assert len(out.getvalue().splitlines()) <= 2  # a CI log gets a line every few seconds, not per item
