"""The role-drift check as it was before the held-out evaluation (commit bb8bf90), frozen.

Kept only as the baseline that benchmarks/bench_drift.py and the held-out tests compare the
current check (drift.py) against; nothing in the pipeline calls it. Do not edit: a change here
would silently move the baseline.
"""

from __future__ import annotations

import re

from .digest import TurnDigest
from .drift import DriftFinding, DriftKind


def _rx(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


_WORK_VERBS = (
    r"(?:created|written|wrote|updated|fixed|implemented|run|ran|executed|modified|added|"
    r"installed|saved|generated|configured|refactored|deployed)"
)

ASSISTANT_VOICE = _rx(
    r"\bas an? (?:ai|language model|assistant|llm)\b",
    r"\bi(?:'m| am) (?:just )?(?:an? )?(?:ai|language model|virtual assistant|ai assistant)\b",
    r"\bhere(?:'s| is| are) (?:your|the (?:updated|revised|fixed|corrected|final|modified))\b",
    rf"\bi(?:'ve| have) (?:now |just |already )?{_WORK_VERBS}\b",
    r"\blet me (?:run|execute|create|write|fix|update|implement|install|modify|edit|try|go ahead)\b",
    r"\bi(?:'ll| will) (?:now |go ahead and )?(?:run|execute|create|write|implement|install|modify|edit|fix|update)\b",
)

OFFERS_HELP = _rx(
    r"\bhow (?:can|may|could) i (?:help|assist)\b",
    r"\bwhat can i (?:do|help) (?:for|with)\b",
    r"\banything else (?:that )?i can (?:help|do|assist)\b",
    r"\b(?:happy|glad) to (?:help|assist)\b",
    r"\bi can (?:help|assist) (?:you )?(?:with|by)\b",
    r"\bfeel free to (?:ask|reach out)\b",
    r"\b(?:further|additional) assistance\b",
    r"\bwould you like me to\b",
    r"\bdo you want me to\b",
    r"\bshall i\b",
    r"\blet me know if you(?:'d| would)? (?:like|want|need) (?:me to|any(?:thing)?|more|further|help)\b",
)

# Small models often echo the reply schema ("<your next message to the assistant>") instead of
# writing a message; such a turn would teach the agent to answer template text.
PLACEHOLDER = _rx(
    r"^\W*<[^<>]{0,120}>\W*$",
    r"[<\[{]\s*(?:your|the user'?s?|insert|message|query|next message)\b[^>\]}]{0,80}[>\]}]",
    r"\b(?:the user'?s|your) next message to the assistant\b",
    r"\bshort note on why the user says this\b",
)

OPEN_QUESTION = _rx(
    r"\bwhat (?:would|do) you (?:like|want|prefer|need)\b",
    r"\bhow (?:would|do) you (?:like|want)\b",
    r"\bwhich (?:\w+\s+){0,3}(?:would|do|should) (?:you|i|we) (?:like|want|prefer|need|use|choose|pick)\b",
    r"\bwhat (?:\w+\s+){0,3}should (?:i|we|it|the \w+) (?:be|use|have|contain|include|look like|do)\b",
    # "What should the columns of the summary be?": asking the agent to decide for the user.
    r"\b(?:what|which|how)\b[^.?!]{0,60}\bshould\b[^.?!]{0,60}\?",
    r"\bwhat(?:'s| is| are) (?:your|the) (?:requirements?|preferences?|goals?|task|plan)\b",
    r"\bwhat (?:else )?(?:do|should) (?:we|i) (?:do|work on) next\b",
)

# A statement that things now work / that they fail. Requests and questions are not claims:
# "make sure the tests pass" states nothing about what happened.
CLAIMS_SUCCESS = _rx(
    r"\b(?:it|that|this|everything|all|the (?:script|command|tests?|build|job|code|run|pipeline|query|fix))\s+"
    r"(?:now\s+)?(?:works|worked|is working|passed|passes|ran (?:fine|successfully|cleanly|without errors?)|succeeded|went through)\b",
    r"\b(?:works|working) (?:now|fine|perfectly|great)\b",
    r"\b(?:all )?(?:the )?tests (?:are )?(?:passing|green)\b",
)
CLAIMS_FAILURE = _rx(
    r"\b(?:it|that|this|the (?:script|command|tests?|build|code|run|job))\s+(?:still\s+)?"
    r"(?:failed|fails|is failing|crashed|crashes|errored|errors out|broke|threw)\b",
    r"\bstill (?:getting|seeing|throws|throwing|fails|failing|broken)\b",
    r"\b(?:got|getting|seeing) (?:an? |the |that |this )?(?:error|traceback|exception)\b",
)
NOT_A_CLAIM = re.compile(
    r"\b(?:make sure|ensure|check|verify|confirm|whether|if|until|so that|can you|could you|please|should)\b",
    re.IGNORECASE,
)

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


def _first_match(patterns: list[re.Pattern[str]], text: str) -> str | None:
    for p in patterns:
        m = p.search(text)
        if m:
            return m.group(0)
    return None


def _claims(text: str) -> list[str]:
    return [
        s for s in _SENTENCE_SPLIT.split(text) if s.strip() and not s.rstrip().endswith("?") and not NOT_A_CLAIM.search(s)
    ]


def check_drift_baseline(text: str, digest: TurnDigest | None) -> list[DriftFinding]:
    """Findings for one simulator turn; empty means the turn stays in role.

    `digest` is what ran in the agent turn this message answers (None for the opening message,
    where there is nothing yet to contradict).
    """
    findings: list[DriftFinding] = []
    for kind, patterns in (
        (DriftKind.assistant_voice, ASSISTANT_VOICE),
        (DriftKind.offers_help, OFFERS_HELP),
        (DriftKind.open_question, OPEN_QUESTION),
        (DriftKind.placeholder, PLACEHOLDER),
    ):
        hit = _first_match(patterns, text)
        if hit:
            findings.append(DriftFinding(kind, hit))
    if digest is not None:
        contradiction = _contradiction(text, digest)
        if contradiction:
            findings.append(DriftFinding(DriftKind.contradicts_execution, contradiction))
    return findings


def _contradiction(text: str, digest: TurnDigest) -> str | None:
    for sentence in _claims(text):
        success = _first_match(CLAIMS_SUCCESS, sentence)
        if success and (not digest.calls or digest.ends_in_failure):
            return success
        failure = _first_match(CLAIMS_FAILURE, sentence)
        if failure and digest.calls and not digest.failed:
            return failure
    return None
