"""Completion is refused while the agent's claimed result is not backed by what really ran."""

from __future__ import annotations

from ise_trace.simulate.digest import ExecutedCall, TurnDigest, call_target, excerpt
from ise_trace.simulate.grounding import claimed_paths, unbacked_claims

WROTE_REPORT = ExecutedCall("write", "out/report.csv", 0, False)
LISTED = ExecutedCall("exec", "ls -la", 0, False)
FAILED_RUN = ExecutedCall("exec", "python3 make_report.py", 1, True, "ModuleNotFoundError: No module named 'pandas'")


def test_claimed_paths_finds_files_the_reply_says_were_made():
    reply = "I created `out/report.csv` and saved the summary to summary.json. Version 3.11 was used, e.g. for f-strings."
    assert claimed_paths(reply) == ["out/report.csv", "summary.json"]
    assert claimed_paths("The file notes.txt has been written.") == ["notes.txt"]
    assert claimed_paths("I looked at the folder; it is empty.") == []


def test_claim_backed_by_a_successful_write_passes():
    digest = TurnDigest([WROTE_REPORT, LISTED])
    assert unbacked_claims("I created out/report.csv for you.", [WROTE_REPORT, LISTED], digest) == []


def test_claim_backed_by_a_command_naming_the_file_passes():
    made = ExecutedCall("exec", "python3 gen.py > weekly.csv && head weekly.csv", 0, False)
    assert unbacked_claims("Generated weekly.csv.", [made], TurnDigest([made])) == []


def test_claimed_file_that_nothing_touched_is_refused():
    problems = unbacked_claims("I created report.csv with the totals.", [LISTED], TurnDigest([LISTED]))
    assert len(problems) == 1 and "report.csv" in problems[0]


def test_claim_backed_only_by_a_failed_call_is_refused():
    failed_write = ExecutedCall("write", "report.csv", None, True, "error: permission denied")
    problems = unbacked_claims("Saved report.csv.", [LISTED, failed_write], TurnDigest([failed_write, LISTED]))
    assert any("report.csv" in p for p in problems)


def test_nothing_run_at_all_is_refused():
    assert unbacked_claims("All done!", [], TurnDigest()) == ["nothing has run successfully in the workspace yet"]


def test_turn_ending_in_a_failed_call_is_refused():
    problems = unbacked_claims("Done, the report is ready.", [LISTED, FAILED_RUN], TurnDigest([FAILED_RUN]))
    assert problems and "last call failed" in problems[0] and "pandas" in problems[0]


def test_digest_shows_tool_target_exit_code_and_error_excerpt():
    text = TurnDigest([WROTE_REPORT, FAILED_RUN]).render()
    assert "2 tool calls, 1 failed" in text
    assert "write `out/report.csv` -> ok" in text
    assert "exec `python3 make_report.py` -> FAILED (exit 1): ModuleNotFoundError" in text
    assert "ran no commands" in TurnDigest().render()


def test_call_target_and_excerpt():
    assert call_target({"command": "ls -la"}) == "ls -la"
    assert call_target({"pattern": "TODO", "path": "src"}) == "TODO in src"
    assert call_target({}) == ""
    long = "line\n" * 200 + "Error: disk full"
    cut = excerpt(long, 60)
    assert len(cut) == 60 and cut.endswith("Error: disk full")
