"""The role-drift check on labelled simulator turns: drifting ones are caught, clean ones pass."""

from __future__ import annotations

import pytest

from ise_trace.simulate.digest import ExecutedCall, TurnDigest
from ise_trace.simulate.drift import DriftKind, check_drift

OK = TurnDigest([ExecutedCall("exec", "python3 clean.py", 0, False)])
FAILED = TurnDigest([
    ExecutedCall("write", "clean.py", 0, False),
    ExecutedCall("exec", "python3 clean.py", 1, True, "NameError: name 'df' is not defined"),
])
NOTHING = TurnDigest([])

# (simulator turn, digest of the agent turn it answers, expected drift kind or None for clean)
LABELLED = [
    # --- assistant voice
    ("As an AI language model, I can't access your files.", OK, DriftKind.assistant_voice),
    ("Here is your updated script with the fix applied.", OK, DriftKind.assistant_voice),
    ("I've created the backup folder and copied the logs into it.", OK, DriftKind.assistant_voice),
    ("Let me run the tests again to be sure.", OK, DriftKind.assistant_voice),
    ("I will now write the config file for you.", OK, DriftKind.assistant_voice),
    ("I am an AI assistant and this is what I found.", OK, DriftKind.assistant_voice),
    # --- offering help
    ("Done. Is there anything else I can help you with?", OK, DriftKind.offers_help),
    ("Would you like me to add unit tests as well?", OK, DriftKind.offers_help),
    ("Happy to help with the next step whenever you're ready.", OK, DriftKind.offers_help),
    ("Let me know if you need anything else.", OK, DriftKind.offers_help),
    ("How can I assist you further with the report?", OK, DriftKind.offers_help),
    ("Shall I go ahead and compress the archive?", OK, DriftKind.offers_help),
    ("What can I do for you today?", OK, DriftKind.offers_help),
    # --- open questions about the user's own task
    ("What would you like the output file to be called?", OK, DriftKind.open_question),
    ("Which format do you want to use for the dates?", OK, DriftKind.open_question),
    ("What should the columns of the summary be?", OK, DriftKind.open_question),
    ("How would you like the results sorted?", OK, DriftKind.open_question),
    ("What are your requirements for the cleanup job?", OK, DriftKind.open_question),
    ("What's your goal?", OK, DriftKind.open_question),
    # --- claims the record contradicts
    ("Great, it works now. Next, add a header row.", FAILED, DriftKind.contradicts_execution),
    ("Perfect, the script ran successfully. Let's move on.", FAILED, DriftKind.contradicts_execution),
    ("Nice, all tests are passing.", NOTHING, DriftKind.contradicts_execution),
    ("It still fails with the same error.", OK, DriftKind.contradicts_execution),
    ("I'm still getting an error when it runs.", OK, DriftKind.contradicts_execution),
    # --- placeholders and echoed instructions (small models copy the reply schema)
    ("<your next message to the assistant>", None, DriftKind.placeholder),
    ("The user's next message to the assistant.", OK, DriftKind.placeholder),
    ("Please rename [insert file name here] to report.csv", OK, DriftKind.placeholder),
    # --- clean user turns
    ("Can you make a folder called reports and put an empty notes.txt in it?", None, None),
    ("The script crashed with a NameError on df. Please fix that and run it again.", FAILED, None),
    ("Good. Now add a header row: date, carrier, weight_kg.", OK, None),
    ("Before we call it done, run it once more and show me the first five lines.", OK, None),
    ("Use ISO dates, YYYY-MM-DD. Name the file weekly_summary.csv.", OK, None),
    ("Did the cleanup remove the temp files? Show me the folder listing.", OK, None),
    ("You said you wrote the file but I don't see any write in what ran. Please actually create it.", NOTHING, None),
    ("Make sure the tests pass before you tell me it works.", FAILED, None),
    ("Why did it fail? Fix the import and rerun.", FAILED, None),
    ("Thanks, that works for me. Now sort the rows by weight, heaviest first.", OK, None),
    ("Our nightly export fails with a timeout; start by finding the script under jobs/.", None, None),
    ("Let me know when the archive is ready.", OK, None),
    ("Which file did you change? Show me the diff.", OK, None),
    ("Replace <title> in index.html with 'Q3 report'.", OK, None),
]


@pytest.mark.parametrize("text,digest,expected", LABELLED, ids=[t[:40] for t, _, _ in LABELLED])
def test_drift_check_labels_each_example(text, digest, expected):
    kinds = {f.kind for f in check_drift(text, digest)}
    if expected is None:
        assert kinds == set(), f"clean turn flagged as {kinds}"
    else:
        assert expected in kinds, f"drifting turn not caught (got {kinds})"


def test_drift_findings_name_the_offending_words():
    [finding] = check_drift("Would you like me to add unit tests as well?", OK)
    assert "offers help" in finding.describe()
    assert "Would you like me to" in finding.describe()


def test_opening_turn_is_not_checked_against_a_record():
    # Nothing has run before the first message, so describing one's own broken job is fine.
    assert check_drift("Our build fails on main since Tuesday, can you look?", None) == []


def test_a_turn_repeating_the_reply_schema_is_a_placeholder():
    """SmolLM2 opened a demo conversation with the schema's own docstring; that is no user message."""
    from ise_trace.simulate.drift import echoed_instruction
    from ise_trace.simulate.user_simulator import SCHEMA_TEXTS

    echo = echoed_instruction('One simulator verdict. Booleans are strict: the string "false" is rejected.', SCHEMA_TEXTS)
    assert echo is not None and echo.kind is DriftKind.placeholder
    assert echoed_instruction("Please list the CSV files in data/ and count their rows.", SCHEMA_TEXTS) is None


def test_tutorial_style_answers_are_drift_with_their_own_description():
    [finding] = check_drift("There are a few ways to approach this: awk, or Python's csv module.", OK, learned=False)
    assert finding.kind is DriftKind.explains
    assert "explains how to do the task" in finding.describe()


def test_paraphrased_promises_and_reports_are_caught_by_patterns():
    for text in ("Of course! Here's a script that does that.", "I'll take care of it right away.", "Consider it done."):
        assert {f.kind for f in check_drift(text, OK, learned=False)} == {DriftKind.assistant_voice}, text


@pytest.mark.parametrize(
    "text",
    [
        'The bot\'s greeting should be "How can I help you today?" - put that in greetings.py.',
        "I renamed the file myself yesterday, it's now sales_2024.csv. Use that name.",
        "Sorry for the confusion, I meant the other folder.",
        "I don't have access to the server, so you'll have to check it.",
    ],
)
def test_quoted_words_and_the_users_own_side_are_not_assistant_voice(text):
    assert check_drift(text, OK, learned=False) == []


def test_the_llm_judge_is_optional_and_turns_a_verdict_into_a_finding():
    import asyncio

    from ise_trace.simulate.drift import DriftVerdict, judge_drift

    class Fake:
        model = "fake"

        def __init__(self, verdict):
            self.verdict, self.seen = verdict, []

        async def structured(self, messages, schema, sampling=None, max_attempts=3):
            self.seen.append(messages)
            return schema.model_validate(self.verdict)

    out = Fake({"out_of_role": True, "evidence": "Consider it sorted."})
    finding = asyncio.run(judge_drift(out, "Consider it sorted.", OK))
    assert finding.kind is DriftKind.reads_as_assistant and finding.evidence == "Consider it sorted."
    assert "python3 clean.py" in out.seen[0][1]["content"]
    assert asyncio.run(judge_drift(Fake({"out_of_role": False, "evidence": ""}), "Sort by date.", None)) is None
    assert DriftVerdict.model_fields["out_of_role"].is_required()


def test_a_long_message_sent_again_is_a_repeat_a_short_one_is_not():
    from ise_trace.simulate.drift import DriftKind, repeated_message

    earlier = ["Hi, I'm Kavya. In my workspace, saved_pages/ holds 5 saved web pages. I need pages.csv."]
    assert repeated_message("hi, i'm kavya. in my workspace, saved_pages/ holds 5 saved", earlier).kind is DriftKind.repeats
    assert repeated_message("fix it", ["fix it"]) is None
    garbled = "Hi, I'm Kavya. In my workspace, saved_pages/ holds 5 saved we; I need pages.csv with; the"
    assert repeated_message(garbled, earlier) is not None  # seen from the 135M simulator
    follow_up = "pages.csv has the wrong link count for two of the saved web pages, fix that"
    assert repeated_message(follow_up, earlier) is None  # the same words, a new message
