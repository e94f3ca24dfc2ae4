"""Validation of rendered intent texts: prompt echoes (bracketed domain tags and placeholders, the
task list restated as a spec) are rejected; ordinary text with brackets is not."""

from __future__ import annotations

import pytest

from ise_trace.config import IntentConfig
from ise_trace.intents.validation import validate

from .factories import sampled_intent

CONFIG = IntentConfig(min_chars=60, max_chars=2500)

_intent = sampled_intent  # (domain, *tasks)


MERGE = _intent("File-IO", ("merge csv files", ("merg", "csv")), ("archive a folder", ("archiv", "tar", "zip")))
GOOD = (
    "I have three exports in shipments/2024-q1/ (north.csv, south.csv, east.csv). Merge them into "
    "shipments_q1.csv with one header row, then pack the folder into shipments_q1.tar.gz for the auditors."
)

# The draft the embedded SmolLM2-135M got accepted for the demo's only intent (seed 0).
DEMO_ECHO = (
    "The task was: 1. [Intelligence-Core] compare two documents: [This task] is a 311-word annual fundraising "
    "report of Fowler-Brown. The result:  [This task] is a 309-word site safety report of Jackson, Rivera and "
    "Russell. The task is to compare two documents, compare two versions of a policy, contract, or spec, and "
    "compare the results to the specified requirements, write a summary of at most 120 words that lists the "
    "report's revenue, incident count, and satisfaction figures exactly as written."
)
COMPARE = _intent(
    "Intelligence-Core",
    ("compare two documents", ("compar", "diff")),
    ("translate structured text", ("translat",)),
)


def test_the_demo_echo_is_rejected():
    verdict = validate(DEMO_ECHO, COMPARE, CONFIG.model_copy(update={"min_task_coverage": 0.5}))
    assert (verdict.ok, verdict.reason) == (False, "meta"), verdict
    assert "'The task was:'" in verdict.detail


@pytest.mark.parametrize(
    "text, reason, shown",
    [
        # Bracketed domain tags, the intent's own or another packaged domain, in any case.
        (GOOD.replace("Merge them", "[File-IO] Merge them"), "meta", "[File-IO]"),
        (GOOD + " [Intelligence-Core] Then summarise it.", "meta", "[Intelligence-Core]"),
        (GOOD + " Tag it [ system-infrastructure ].", "meta", "[ system-infrastructure ]"),
        (GOOD + " See [Multimedia] for the charts.", "meta", "[Multimedia]"),
        # Bracketed placeholders.
        (GOOD.replace("the auditors", "[This task]"), "placeholder", "[This task]"),
        (GOOD.replace("the auditors", "[Your name]"), "placeholder", "[Your name]"),
        (GOOD.replace("north.csv", "[insert file]"), "placeholder", "[insert file]"),
        (GOOD.replace("the auditors", "[Company Name]"), "placeholder", "[Company Name]"),
        (GOOD.replace("one header row", "[number] header rows"), "placeholder", "[number]"),
        # The brief restated as a spec.
        ("The task was: merge north.csv, south.csv and east.csv into shipments_q1.csv, then archive it as a tar.gz.",
         "meta", "The task was:"),
        ("Task 1: merge north.csv and south.csv into all.csv. Task 2: archive the folder as shipments.tar.gz.",
         "meta", "Task 1:"),
        ("I work in logistics. Tasks: merge north.csv and south.csv into all.csv, then zip the folder.",
         "meta", "Tasks:"),
        ("1. [Data] merge csv files: north.csv and south.csv into all.csv\n2. [Data] archive a folder as a zip",
         "meta", "1. [Data]"),
        ("The user needs north.csv and south.csv merged into all.csv and the folder archived as a zip.",
         "meta", "The user needs"),
        ("The user wants to merge north.csv and south.csv into all.csv and archive the folder as a zip.",
         "meta", "The user wants"),
    ],
)
def test_prompt_echoes_are_rejected_with_their_reason(text, reason, shown):
    verdict = validate(text, MERGE, CONFIG)
    assert (verdict.ok, verdict.reason) == (False, reason), verdict
    assert repr(shown) in verdict.detail


@pytest.mark.parametrize(
    "text",
    [
        GOOD + " The column layout is described in [the schema notes](docs/schema.md).",
        GOOD + " Drop the rows whose id does not match [0-9]+ before merging.",
        GOOD + " In merge.py, rows[0] is the header and x[0] the first column; keep both.",
        "Merge report[2024].csv and report[2023].csv into reports.csv, then zip the folder as reports.zip.",
        GOOD + " Lines tagged [ERROR] or [WARN] in merge.log should be listed too.",
        GOOD + " Also add an [archive] section to settings.ini with the tar.gz path.",
        "I have two cron tasks: merge.sh, which merges the csv files, and pack.sh, which makes the tar.gz.",
        "My task is simple: merge north.csv and south.csv into all.csv, then archive the folder as a zip.",
        "Our app logs which user asked for each export; merge those csv exports and zip the folder afterwards.",
        "Create the account bob; the user www-data needs read access to the merged csv and the zip archive.",
    ],
)
def test_ordinary_brackets_and_task_words_pass(text):
    verdict = validate(text, MERGE, CONFIG)
    assert verdict.ok, verdict
