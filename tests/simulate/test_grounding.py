"""Completion is refused while the agent's claimed result is not backed by what ran and by the
workspace's state (pure logic here; tests/tasks/test_verification.py asks a live workspace)."""

from __future__ import annotations

from ise_trace.simulate.digest import ExecutedCall, TurnDigest, call_excerpt, call_target, excerpt
from ise_trace.simulate.grounding import FileState, claimed_paths, file_problem, unbacked_claims

WROTE_REPORT = ExecutedCall("write", "out/report.csv", 0, False, "region,total\nnorth,12")
LISTED = ExecutedCall("exec", "ls -la", 0, False, "out\nsales.csv")
FAILED_RUN = ExecutedCall("exec", "python3 make_report.py", 1, True, "ModuleNotFoundError: No module named 'pandas'")

START = {"sales.csv": FileState(40, "a" * 64)}
NOW = {"sales.csv": FileState(40, "a" * 64), "out/report.csv": FileState(22, "b" * 64), "empty.txt": FileState(0, "c" * 64)}


def test_claimed_paths_finds_files_the_reply_says_were_made():
    reply = "I created `out/report.csv` and saved the summary to summary.json. Version 3.11 was used, e.g. for f-strings."
    assert claimed_paths(reply) == ["out/report.csv", "summary.json"]
    assert claimed_paths("The file notes.txt has been written.") == ["notes.txt"]
    assert claimed_paths("I looked at the folder; it is empty.") == []


def test_a_claimed_file_that_exists_non_empty_and_new_is_backed():
    assert unbacked_claims("I created out/report.csv for you.", [LISTED], TurnDigest([LISTED]), NOW, START) == []
    assert unbacked_claims("Saved /workspace/out/report.csv.", [LISTED], TurnDigest([LISTED]), NOW, START) == []


def test_a_command_string_naming_the_file_does_not_back_it():
    read = ExecutedCall("exec", "cat report.csv", 0, False)
    problems = unbacked_claims("I created report.csv.", [read], TurnDigest([read]), NOW, START)
    assert problems == ["the assistant says it made report.csv, but there is no such file in the workspace"]


def test_empty_and_unchanged_files_do_not_back_a_claim():
    assert "empty" in file_problem("empty.txt", NOW, START)
    assert "exactly as it was" in file_problem("sales.csv", NOW, START)
    assert file_problem("out", NOW, START) is None  # a folder with files in it
    assert file_problem("/etc/passwd", NOW, START) is None  # outside: the sandbox cannot say


def test_nothing_run_at_all_is_refused():
    assert unbacked_claims("All done!", [], TurnDigest(), NOW, START) == ["nothing has run successfully in the workspace yet"]


def test_turn_ending_in_a_failed_call_is_refused():
    problems = unbacked_claims("Done, the report is ready.", [LISTED, FAILED_RUN], TurnDigest([FAILED_RUN]), NOW, START)
    assert problems and "last call failed" in problems[0]


def test_digest_shows_exit_codes_and_what_calls_printed():
    text = TurnDigest([LISTED, WROTE_REPORT, FAILED_RUN]).render()
    assert "3 tool calls, 1 failed" in text
    assert "exec `ls -la` -> ok (exit 0)" in text and "| sales.csv" in text
    assert "write `out/report.csv` -> ok" in text and "content written" in text and "| north,12" in text
    assert "exec `python3 make_report.py` -> FAILED (exit 1)" in text and "| ModuleNotFoundError" in text
    assert "ran no commands" in TurnDigest().render()


def test_digest_stays_within_its_bound_and_keeps_the_last_output():
    big = [ExecutedCall("exec", f"cmd {i}", 0, False, "x" * 500) for i in range(20)]
    text = TurnDigest(big).render(max_chars=2000)
    assert len(text) < 2000 + 20 * 80  # outputs within the bound; one outcome line per call beyond it
    assert "output not shown" in text and text.rstrip().endswith("x" * 20)


def test_call_target_and_excerpt_keep_head_and_tail():
    assert call_target({"command": "ls -la"}) == "ls -la"
    assert call_target({"pattern": "TODO", "path": "src"}) == "TODO in src"
    assert call_target({}) == ""
    long = "Starting job\n" + "line\n" * 200 + "Error: disk full"
    cut = excerpt(long, 120)
    assert len(cut) <= 120 and cut.startswith("Starting job") and cut.endswith("Error: disk full")
    assert call_excerpt("write", {"path": "a", "content": "hello"}, "wrote 5 bytes", 100) == "hello"
