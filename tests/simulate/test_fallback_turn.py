"""The template user turns sent when the simulator stays out of role (drift_fallback: scripted)."""

from __future__ import annotations

import pytest

from ise_trace.simulate import fallback_turn
from ise_trace.simulate.digest import ExecutedCall, TurnDigest
from ise_trace.simulate.drift import check_drift

from .scripted import make_intent

RAN = ExecutedCall("exec", "python3 report.py", 0, False, "wrote report.md")
BROKE = ExecutedCall("exec", "python3 report.py", 1, True, "Traceback (most recent call last):\nKeyError: 'amount'\n[exit code: 1]")
RECORDS = {
    "nothing": TurnDigest([]),
    "ok": TurnDigest([RAN]),
    "failed": TurnDigest([RAN, BROKE]),
    "recovered": TurnDigest([BROKE, RAN]),
}


def test_the_opening_is_the_intent_text():
    assert fallback_turn.opening_text(make_intent(text="  Clean up my invoices folder.  ")) == "Clean up my invoices folder."


def test_a_failed_call_is_quoted_back_with_its_last_error_line():
    text = fallback_turn.reply_text(RECORDS["failed"], 0)
    assert "`python3 report.py`" in text and "exit 1" in text and "KeyError: 'amount'" in text
    assert "Traceback" not in text


def test_a_failure_a_later_call_did_not_make_good_is_quoted_even_when_the_turn_ends_well():
    missing = ExecutedCall("read", "notes.txt", None, True, "error: no such file or directory: notes.txt")
    text = fallback_turn.reply_text(TurnDigest([missing, RAN]), 0)
    assert "read `notes.txt`" in text and "no such file" in text
    assert "`python3 report.py`" in fallback_turn.reply_text(RECORDS["recovered"], 0)  # fixed by the rerun
    assert "ran" in fallback_turn.reply_text(RECORDS["recovered"], 0)


def test_nothing_ran_asks_for_real_work_and_a_clean_run_asks_for_a_check():
    assert "Nothing ran" in fallback_turn.reply_text(RECORDS["nothing"], 0)
    ok = fallback_turn.reply_text(RECORDS["ok"], 0)
    assert "`python3 report.py`" in ok and "check" in ok and "FAILED" not in ok


@pytest.mark.parametrize("kind", sorted(RECORDS))
@pytest.mark.parametrize("pick", [0, 1])
def test_every_template_passes_the_drift_check_it_replaces(kind, pick):
    """A template the drift check itself rejects would be a drifted turn sent on anyway."""
    text = fallback_turn.reply_text(RECORDS[kind], pick)
    assert check_drift(text, RECORDS[kind]) == [], text


def test_a_long_command_is_shortened():
    long = ExecutedCall("exec", "echo " + "x" * 300, 2, True, "")
    text = fallback_turn.reply_text(TurnDigest([long]), 0)
    assert "..." in text and len(text) < 200 and "exit 2" in text
