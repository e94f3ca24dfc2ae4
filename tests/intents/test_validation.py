"""Validation of rendered intent texts: length, template tokens, meta replies, task coverage."""

from __future__ import annotations

import pytest

from ise_trace.config import IntentConfig
from ise_trace.intents.sampler import SampledIntent
from ise_trace.intents.validation import uncovered_tasks, validate

from .factories import sampled_intent

CONFIG = IntentConfig(min_chars=60, max_chars=600)


def _intent(*tasks: tuple[str, tuple[str, ...]]) -> SampledIntent:
    return sampled_intent("File-IO", *tasks)


MERGE_AND_ARCHIVE = _intent(("merge csv files", ("merg", "combin", "csv")), ("archive a folder", ("archiv", "tar", "zip")))
GOOD = (
    "I have three exports in shipments/2024-q1/ (north.csv, south.csv, east.csv). Merge them into "
    "shipments_q1.csv with one header row, then pack the folder into shipments_q1.tar.gz for the auditors."
)


def test_a_concrete_text_covering_its_tasks_passes():
    assert validate(GOOD, MERGE_AND_ARCHIVE, CONFIG).ok


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Merge the CSV files and zip them.", "too_short"),
        (GOOD + " " + "Also keep a log of every step. " * 30, "too_long"),
        (GOOD.replace("north.csv", "{file_name}"), "placeholder"),
        (GOOD.replace("north.csv", "{{ region }}.csv"), "placeholder"),
        (GOOD.replace("north.csv", "<input file>"), "placeholder"),
        (GOOD.replace("north.csv", "<FILENAME>"), "placeholder"),
        (GOOD.replace("north.csv", "[TODO: name]"), "placeholder"),
        (GOOD.replace("north.csv", "[insert file]"), "placeholder"),
        (GOOD.replace("north.csv", "XXX.csv"), "placeholder"),
        (GOOD.replace("north.csv", "${REGION}.csv"), "placeholder"),
        ("Sure! Here is a request: " + GOOD, "meta"),
        ("As an AI language model I would write: " + GOOD, "meta"),
        ("Your previous draft was rejected, does not mention: merge csv files, archive a folder. " + GOOD, "meta"),
        ("Person: Ines Ferreira, senior data analyst.\nTasks:\n" + GOOD, "meta"),
        (
            "I have three exports in shipments/2024-q1/ (north.txt, south.txt, east.txt). Please merge them into "
            "one file with a single header row so I can send it on.",
            "uncovered_tasks",
        ),
    ],
)
def test_bad_texts_are_rejected_with_their_reason(text, reason):
    verdict = validate(text, MERGE_AND_ARCHIVE, CONFIG)
    assert not verdict.ok
    assert verdict.reason == reason
    assert verdict.detail


def test_html_tags_in_a_scraping_intent_are_not_placeholders():
    intent = _intent(("extract a table from html", ("table", "html")))
    text = "Our saved page reports/prices.html has a <table> with id 'rates'; turn its rows into rates.csv please."
    assert validate(text, intent, CONFIG).ok


def test_uncovered_tasks_names_what_is_missing():
    text = "Merge north.csv and south.csv into all.csv, keeping one header row, and tell me the row count."
    assert uncovered_tasks(text, MERGE_AND_ARCHIVE) == ["archive a folder"]
    verdict = validate(text, MERGE_AND_ARCHIVE, CONFIG)
    assert verdict.reason == "uncovered_tasks" and "archive a folder" in verdict.detail


def test_short_stems_match_whole_words_only():
    intent = _intent(("report disk usage", ("du", "df")))
    during = "During the night the backup job wrote files to /srv/data; please tell me which folders grew the most."
    assert uncovered_tasks(during, intent) == ["report disk usage"]
    assert uncovered_tasks(during + " Use du for it.", intent) == []


def test_long_stems_match_word_starts_so_inflections_count():
    intent = _intent(("merge csv files", ("merg",)))
    assert uncovered_tasks("The files were merged yesterday.", intent) == []
    assert uncovered_tasks("The files were emerging yesterday.", intent) == ["merge csv files"]


def test_partial_coverage_can_be_allowed_by_config():
    text = "Merge north.csv and south.csv into all.csv, keeping one header row, and tell me the row count."
    assert validate(text, MERGE_AND_ARCHIVE, CONFIG.model_copy(update={"min_task_coverage": 0.5})).ok


CHORE = _intent(("automate a chore", ("automat", "script", "cron")), ("parse dates", ("date", "pars")))


@pytest.mark.parametrize(
    "text",
    [
        # The reply that got through before: a refusal, then "the user" in the third person.
        "This is a task I can't complete. The user wants to help me to automate a chore: a script that parses the "
        "dates in invoices.csv every night from cron.",
        "I'm sorry, but I can't help with that. I could write a script that parses the dates in invoices.csv and "
        "schedule it with cron to automate the chore.",
        "As an assistant, I would phrase it like this: automate the chore with a script that parses the dates in "
        "invoices.csv, run nightly by cron.",
        "The user would like a script that parses the dates in invoices.csv and a cron entry to automate the chore "
        "every night.",
        "Okay, here is a request in the persona's voice: write a script that parses the dates in invoices.csv and "
        "automate it with cron each night.",
        "I cannot complete this task as described, but a script that parses the dates in invoices.csv, run from "
        "cron, would automate the chore.",
    ],
)
def test_meta_replies_in_the_assistants_voice_are_rejected(text):
    verdict = validate(text, CHORE, CONFIG)
    assert (verdict.ok, verdict.reason) == (False, "meta"), verdict


@pytest.mark.parametrize(
    "text",
    [
        "I can't get my script to parse dates, can you fix parse.py so it reads 03/04/2024 as 3 April and then "
        "automate it with a nightly cron job?",
        "I cannot keep doing this chore by hand every Friday: write a script that parses the dates in invoices.csv "
        "and add a cron line so it runs automatically.",
        "Our app logs which user asked for each export. Write a script that parses the dates in exports.log and "
        "automate the weekly cleanup with cron.",
        "I can't help feeling this should be automated: a cron job and a small script that parses the dates in "
        "the backups folder names and deletes the old ones.",
    ],
)
def test_first_person_requests_that_say_i_cant_still_pass(text):
    verdict = validate(text, CHORE, CONFIG)
    assert verdict.ok, verdict
