"""The role-drift check, run on every simulator turn before it reaches the agent.

A simulator drifts when it stops being the user: it talks like the assistant, offers help, asks
the agent open questions about the user's own task, or states an execution outcome the digest
contradicts. Each drifting turn is regenerated (see user_simulator.py).

Two layers. Patterns come first: cheap, deterministic, and their evidence names the offending
words, which the simulator is shown when asked to rewrite. Paraphrases no pattern list keeps up
with ("Consider it done.", an answer written like a tutorial) go to a small learned classifier
over sentence embeddings (drift_classifier.py), consulted only when no pattern fired. Both are
tuned on the development set (data/drift_dev.json) and measured on held-out sets never tuned
on (data/drift_heldout*.json); benchmarks/bench_drift.py prints the figures. A third, optional
stage (judge_drift, an LLM verdict) is off by default and never run by check_drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, Field, StrictBool

from .digest import TurnDigest


class DriftKind(str, Enum):
    assistant_voice = "assistant_voice"
    offers_help = "offers_help"
    open_question = "open_question"
    contradicts_execution = "contradicts_execution"
    placeholder = "placeholder"
    explains = "explains"  # a tutorial-style answer: teaching is the assistant's job
    reads_as_assistant = "reads_as_assistant"  # the classifier's verdict, no pattern fired
    repeats = "repeats"  # an earlier message of the same user again, word for word


@dataclass(frozen=True)
class DriftFinding:
    kind: DriftKind
    evidence: str

    def describe(self) -> str:
        what = {
            DriftKind.assistant_voice: "it speaks as the assistant",
            DriftKind.offers_help: "it offers help instead of asking for it",
            DriftKind.open_question: "it asks the assistant what you want instead of saying it",
            DriftKind.contradicts_execution: "it claims an outcome the record of what ran contradicts",
            DriftKind.placeholder: "it writes a placeholder or repeats the instructions instead of a real message",
            DriftKind.explains: "it explains how to do the task, as the assistant would, instead of asking for it",
            DriftKind.reads_as_assistant: "it reads like the assistant's reply, not like the user's message",
            DriftKind.repeats: "it repeats an earlier message of yours word for word instead of reacting to what ran",
        }[self.kind]
        return f'{what} ("{self.evidence}")'


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
    # Added from the development set. Acknowledging the request, then reporting or promising work:
    # a user who opens with "Sure," goes on to decide ("Sure, JSON is fine"), not to promise.
    r"^\W*(?:sure(?: thing)?|certainly|of course|absolutely|got it|understood|noted|no problem|no worries)"
    r"\b[^.?!\n]{0,3}[\s,.!\u2014-]*(?:i(?:'ll| will|'ve)\b|here\b|let me\b|let's get\b|i can do\b|"
    r"(?:switching|updating|implementing|keeping|working)\b)",
    r"\bi(?:'ll| will) (?:take care of|handle|get (?:right )?on|get started on|look into|start by|be right)\b",
    r"\bi(?:'m| am) (?:on it|working on it|going to (?:install|run|write|create|fix|rewrite|add|parse|check|update|"
    r"convert|normali[sz]e|list))\b",
    r"^\W*(?:on it|working on it|consider it (?:done|handled)|leave it with me|running (?:the|it) \w+ now)\b",
    r"\b(?:implementing|updating|fixing|adding|switching) (?:it|that|this|to \w+)? ?now\b",
    r"\bi (?:just |also |then )?(?:ran|executed|tested|verified|restored|removed|renamed|went ahead and)\b",
    r"\blet me (?:look|take a look|check(?! with)|dig|quickly|walk you|correct|try a)\b",
    r"\blet me explain\b(?! (?:the (?:setup|situation|context|problem|background)|what i|my|our))",
    r"\b(?:has|have) been (?:successfully )?(?:created|generated|saved|updated|fixed|resolved|committed|compressed|"
    r"dropped|refactored|added|removed|renamed|converted|written|installed|applied)\b[^?]*$",
    r"\bhere(?:'s| is| are) (?:what i did|a (?:quick )?summary|the (?:script|code|output of)|you go)\b",
    r"\b(?:here|there) you go\b",
    r"\b(?:below (?:is|are|you'll find)|see below)\b",
    r"\byou(?:'re| are) (?:very |most )?welcome\b",
    r"\b(?:glad (?:i could|it|that) help|hope (?:this|that|it) (?:helps|is useful|clears)|happy coding)\b",
    r"\b(?:great question|great choice|thanks for (?:pointing|your patience|the feedback|clarifying))\b",
    r"\bgood catch\b(?![^.!?]{0,30}\bi (?:didn't|did not|never) (?:know|notice|see))",
    r"\b(?:my apologies|i apologi[sz]e|apologies for|sorry for the (?:confusion|trouble|oversight))\b",
    r"\byou(?:'re| are) (?:absolutely )?right,? (?:my (?:mistake|bad|apologies|error)|i (?:should|made|missed|forgot|overlooked|misread))\b",
    r"\bbased on my\b|\bas requested\b|\bas your assistant\b|\btask completed\b",
    r"\bi (?:can't|cannot|can not) access\b|\bi (?:don't|do not) have (?:the ability|access|permission)\b",
    r"\bunfortunately,? i (?:can't|cannot)\b|\bi(?:'m| am) (?:not able|unable) to\b",
    # Round 2 of the development set.
    r"^\W*(?:done|all set|fixed|finished|ta-da)\s*!\s*\S",
    r"\bi(?:'ve| have)? (?:just )?(?:checked|looked at|looked into|verified|compared|deleted|fixed|double-checked|reran|re-ran)\b"
    r"(?! with\b)(?![^.]*\byou (?:printed|showed|sent|made|wrote|gave))",
    r"\b(?:after|upon) (?:checking|running|looking|reviewing)\b|^\W*running (?:it|the \w+) again\b",
    r"\b(?:first|next|then|now),? i(?:'ll| will)\b",
    r"^\W*(?:sounds good|makes sense|that makes sense|i see|got it|noted|understood|perfect|right away)[.!,]\s+"
    r"(?:i(?:'ll| will) \w+|\w+ing\b)",
    r"^\W*(?:\w+[!.,]\s+)?(?:starting|generating|working|running|exporting|processing|checking|looking)\b[^.?!]{0,40}\bnow\b",
    r"\b(?:give|bear with) me (?:a |one )?(?:moment|second|sec|minute)\b|\bone moment,? please\b|\bbear with me\b|\bhang tight\b",
    r"^\W*apologies\b|\b(?:oops|whoops),? i\b|\bthat was my (?:mistake|fault|bad)\b|\bi(?:'m| am) sorry,? (?:that|i)\b",
    r"\bplease find\b[^.?!]{0,40}\b(?:below|attached)\b|\battached (?:is|are)\b",
    r"\bit turns out\b|\b(?:good news|happy to (?:say|report)|glad to report)\b",
    r"\bwe can (?:certainly |definitely )?do that\b|^\W*let's do it!",
)

# Statements of how things now stand, the assistant's report. Checked sentence by sentence and
# only in statements: "Tell me when the export is ready." asks, it does not report.
REPORTS = _rx(
    r"\b(?:is|are) (?:now )?(?:ready|complete|in place)\b",
    r"\bnow (?:contains|has|lists|shows)\b",
    r"^\W*the (?:result|total|answer) (?:is|comes to) \W?\d",
)
# Explanations, sentence by sentence too: "So the error means the key is missing?" asks.
TEACHES = _rx(
    r"\b\w*error\b[^.]{0,20}\bmeans\b|\bmeans (?:that )?you\b|\bgenerally means\b",
    r"`?-{1,2}[\w-]+`? (?:flag|option)\b[^.]{0,20}\b(?:makes|shows|tells|compresses|creates|sets|preserves|enables)\b",
    r"\byou can (?:pass|set|loop)\b|\bboth (?:approaches|options) work\b|\bin (?:bash|python|sql),? you can\b",
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
    # Added from the development set.
    r"\bif (?:you(?:'d)? (?:like|want|need)|it(?:'s| is| would be) (?:useful|helpful)|that would help),? i (?:can|could)\b",
    r"\bi (?:can|could) also\b",
    r"\b(?:want|need) me to\b|\bshould i (?:also|go ahead)\b|\bjust (?:say the word|tell me what you need)\b",
    r"\blet me know (?:what else|if (?:this|that|there(?:'s| is)|you))\b|\b(?:ping|tell) me if you\b",
    r"\bfeel free\b|\bi(?:'m| am) here if\b|\bi(?:'d| would) be (?:glad|happy) to\b",
    r"\bhappy to (?:make|explain|walk)\b|\bi(?:'m| am) happy to\b",
    r"\bany (?:other|more) \w+ (?:you'd like|you would like|you want)\b|\banything else (?:you|i)\b",
    r"\b(?:can|may) i (?:help|assist)\b|\bany questions (?:about|on)\b",
    r"\bif you need anything\b|\b(?:walk|talk) you through\b|\bbe of (?:help|assistance)\b",
    # Round 2 of the development set.
    r"\bdo (?:let|tell) me\b|\blet me know if (?:there(?:'s| is)|any)\b|\breach out\b",
)

# Small models often echo the reply schema ("<your next message to the assistant>") instead of
# writing a message; such a turn would teach the agent to answer template text.
PLACEHOLDER = _rx(
    r"^\W*<[^<>]{0,120}>\W*$",
    r"[<\[{]\s*(?:your|the user'?s?|insert|message|query|next message)\b[^>\]}]{0,80}[>\]}]",
    r"\b(?:the user'?s|your) next message to the assistant\b",
    r"\bshort note on why the user says this\b",
    # Added from the development set: no words at all, a bare slot word, or the reply schema's
    # field labels and role tags instead of a message.
    r"^\W*$",
    r"^\W*(?:n/?a|todo|tbd|none|null|no message)\W*$",
    r"^\s*(?:(?:the )?user'?s? (?:next )?message|next message|user|assistant|query|reason|completed|is_success|"
    r"message(?: to the assistant)?)\s*[:=]",
    r"^\W*\{?\s*\"(?:query|completed|is_success|reason)\"\s*:|\{\s*\"(?:query|completed|is_success|reason)\"\s*:",
    r"^\s*[\[(*][^\n]*[\])*]\s*$",
    r"\bthe user (?:wants|asks|would|checks|is|says|reviews|replies)\b|\b(?:as|speaking as) the user\b",
    r"\bin character\b|\(user\)\s*:|^\s*\w+ replies:|<think>",
    r"\binsert (?:your |the )?\w+ here\b|\bgoes here\b|\bwrite the next\b",
)

# Added from the development set: explanations and how-tos, the register of an answer.
EXPLAINS = _rx(
    r"^\W*to (?:do|fix|find|make|rotate|convert|unzip|check) (?:this|that|it|\w+)[^.\n]{0,60},\s*(?:you|run|use|simply)\b",
    r"\byou can (?:achieve|do this|do that|fix (?:it|this) by)\b|\byou(?:'ll| will) (?:want|need) to\b",
    r"\bkeep in mind\b|^\s*(?:note|tip|explanation):",
    r"\b(?:usually|typically) (?:occurs|happens|means)\b|\bthis (?:usually|typically) (?:happens|occurs|means)\b",
    r"\bthere are (?:a few|two|several|many) (?:common )?(?:ways|approaches|options)\b",
    r"\bthe (?:easiest|simplest|best) (?:way|approach|practice)\b|\bbest practice\b|\bit's (?:generally )?a good idea\b",
    r"\bin short,|\bin summary,|\bto summari[sz]e\b|\blet's break (?:this|it) down\b|\bwhy this works\b",
    r"\bhere's how\b|\b(?:an )?overview of the\b|\bbreakdown of\b|\bsimply run\b",
    r"(?<!what )\bthis (?:function|script|query|command|regex) (?:reads|converts|returns|works|will|does|checks|matches)\b",
    r"\bthe function works by\b|\bmake sure you have\b|\bhappens when\b|\b(?:this|the) error is caused by\b",
    # Round 2 of the development set.
    r"^\s*(?:step|option) (?:\d+|[a-c])\s*:|\bstep \d+ is to\b",
    r"^\W*first,? [^.\n]{0,80}\.\s*(?:then|next)\b",
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
    # Added from the development set.
    r"\bwhere\b[^.?!]{0,40}\bshould\b[^.?!]{0,60}\?|\bwhere would you like\b",
    r"\b(?:do|did) you have (?:a |any )?(?:preference|specific|particular)\b|\bany (?:particular |specific )?preferences?\b",
    r"\bdo you prefer\b|\byou had in mind\b|\bwhat (?:do|would) you (?:suggest|recommend|think)\b",
    r"\bwhich (?:approach|option|one)\b[^.?!]{0,30}\byou\b[^.?!]{0,30}\?",
    r"\bhow should we proceed\b|\bwhat(?:'s| is) (?:the|our) next (?:step|move)\b",
    r"\bwhat (?:is|are) (?:the goal|you trying)\b|\btell me more about\b|\bspecific you want me\b",
    r"\b(?:could|can) you (?:let me know\b(?=[^.?!]*\b(?:your?|which|what|whether|if)\b)|provide|clarify|share (?:a sample|the expected|more))",
    r"\bis it (?:ok|okay|alright) if i\b|\bshould i\b(?! (?:be (?:worried|concerned)|worry|care|panic))",
    r"\bhow (?:many|much)\b[^.?!]{0,40}\b(?:do|would) you (?:need|want|like)\b",
    # Round 2 of the development set: either-or choices handed back, and asking where things are.
    r"^\W*(?:should (?:the|it|we|i(?! be (?:worried|concerned)))|do you want|would you (?:prefer|like)|is (?:this|that|it) for)\b[^?]{0,80}\bor\b[^?]{0,40}\?",
    r"\b(?:could|can) you tell me (?:where|which)\b(?![^?]*\b(?:installed|running|listening|in the|on the|there)\b)",
    r"^\W*any (?:particular|specific) \w+\b[^.?!]*\?|\bany preference\b",
)

# A statement that things now work / that they fail. Requests and questions are not claims:
# "make sure the tests pass" states nothing about what happened.
CLAIMS_SUCCESS = _rx(
    r"\b(?:it|that|this|everything|all|the (?:script|command|tests?|build|job|code|run|pipeline|query|fix))\s+"
    r"(?:now\s+)?(?:works|worked|is working|passed|passes|ran (?:fine|successfully|cleanly|without errors?)|succeeded|went through)\b",
    r"\b(?:works|working) (?:now|fine|perfectly|great)\b",
    r"\b(?:all )?(?:the )?tests (?:are )?(?:passing|green)\b",
    # Added from the development set.
    r"\b(?:is|are) (?:green|fixed) now\b|\bthat fixed it\b|\b(?:without|with no) errors\b|\bwent through\b",
    r"\b(?:ran|runs) (?:cleanly|fine|without)\b",
    r"\b(?:the )?(?:script|code|import|tests?) (?:runs|pass|went fine|works)\b|\bwent fine\b",
)
CLAIMS_FAILURE = _rx(
    r"\b(?:it|that|this|the (?:script|command|tests?|build|code|run|job))\s+(?:still\s+)?"
    r"(?:failed|fails|is failing|crashed|crashes|errored|errors out|broke|threw)\b",
    r"\bstill (?:getting|seeing|throws|throwing|fails|failing|broken)\b",
    r"\b(?:got|getting|seeing) (?:an? |the |that |this )?(?:error|traceback|exception)\b",
    # Added from the development set.
    r"\b(?:is|are) broken again\b|\bstill crashing\b|\b(?:failed|crashed|broke) again\b",
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


SENTENCE_PATTERNS = {DriftKind.assistant_voice: REPORTS, DriftKind.explains: TEACHES}

# Round 3 of the development set. Quoted text is someone else's words: "Set the greeting to 'How can
# I help you today?'" asks for a change. Code spans, fenced blocks and double-quoted strings are
# masked before the voice patterns run (the placeholder patterns still see them).
_QUOTED = re.compile(r"```.*?(?:```|$)|`[^`\n]*`|\"[^\"\n]*\"|\u201c[^\u201d\n]*\u201d", re.DOTALL)
# A user speaking of their own side, not of work done in this conversation: "I renamed it myself
# yesterday", "I'll run the deploy myself; you prepare it", "Sorry for the confusion, I meant ...".
USER_SIDE = re.compile(
    r"\bmyself\b|\byesterday\b|\blast (?:week|night|month|year|time)\b(?!'s)|\bthis morning\b|\bon my (?:side|laptop|machine)\b"
    r"|\bi (?:meant|forgot to (?:mention|say|tell)|gave you)\b|\bwith my (?:team|boss|colleague|manager)\b"
    r"|\byou(?:'ll| will)? (?:just |then )?(?:have to|need to|do it|produce|prepare|make)\b|\bplease do\b|\bwhat would happen if\b"
    r"|\bso you(?:'ll| can| have)\b",
    re.IGNORECASE,
)


def mask_quotes(text: str) -> str:
    """`text` with quoted phrases masked; a quoted single word (`-r`, "qty") stays."""
    return _QUOTED.sub(lambda m: " QUOTE " if " " in m.group(0).strip() else m.group(0), text)


def _first_unexempted(patterns: list[re.Pattern[str]], text: str, exempt: re.Pattern[str]) -> str | None:
    """Like _first_match, but a hit whose sentence `exempt` matches does not count."""
    for p in patterns:
        for m in p.finditer(text):
            start = max(text.rfind(c, 0, m.start()) for c in ".!?\n") + 1
            ends = [i for i in (text.find(c, m.end()) for c in ".!?\n") if i >= 0]
            if not exempt.search(text[start : min(ends) if ends else len(text)]):
                return m.group(0)
    return None
_ASKS_WHEN = re.compile(r"\b(?:when|once|tell me|let me know)\b", re.IGNORECASE)


def _first_in_statements(patterns: list[re.Pattern[str]], text: str) -> str | None:
    for sentence in _claims(text):
        if not _ASKS_WHEN.search(sentence):
            hit = _first_match(patterns, sentence)
            if hit is not None:
                return hit
    return None


def _claims(text: str) -> list[str]:
    return [
        s for s in _SENTENCE_SPLIT.split(text) if s.strip() and not s.rstrip().endswith("?") and not NOT_A_CLAIM.search(s)
    ]


def check_drift(text: str, digest: TurnDigest | None, *, learned: bool = True) -> list[DriftFinding]:
    """Findings for one simulator turn; empty means the turn stays in role.

    `digest` is what ran in the agent turn this message answers (None for the opening message,
    where there is nothing yet to contradict). `learned=False` skips the classifier (patterns only).
    """
    findings = pattern_findings(text, digest)
    if findings or not learned or not text.strip():
        return findings
    from .drift_classifier import default  # imported late: it loads an embedding model

    classifier = default()
    evidence = classifier.verdict(text, digest) if classifier else None
    return [DriftFinding(DriftKind.reads_as_assistant, evidence)] if evidence else []


def pattern_findings(text: str, digest: TurnDigest | None) -> list[DriftFinding]:
    """The pattern layer alone: each finding names the words that fired it."""
    findings: list[DriftFinding] = []
    said = mask_quotes(text)
    for kind, patterns in (
        (DriftKind.assistant_voice, ASSISTANT_VOICE),
        (DriftKind.offers_help, OFFERS_HELP),
        (DriftKind.open_question, OPEN_QUESTION),
        (DriftKind.placeholder, PLACEHOLDER),
        (DriftKind.explains, EXPLAINS),
    ):
        if kind is DriftKind.placeholder:
            hit = _first_match(patterns, text)
        elif kind is DriftKind.assistant_voice:
            hit = _first_unexempted(patterns, said, USER_SIDE)
        else:
            hit = _first_match(patterns, said)
        if hit is None:
            hit = _first_in_statements(SENTENCE_PATTERNS.get(kind, []), said)
        if hit is not None:
            findings.append(DriftFinding(kind, hit))
    if digest is not None:
        contradiction = _contradiction(said, digest)
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


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def echoed_instruction(text: str, instructions: list[str]) -> DriftFinding | None:
    """A placeholder finding when `text` repeats one of `instructions` (the reply schema's own
    descriptions, say) instead of saying something of its own; short phrases are ignored."""
    said = f" {_normal(text)} "
    for instruction in instructions:
        words = _normal(instruction).split()
        if len(words) < 4:
            continue
        width = min(6, len(words))  # any six words in a row of it: echoes are often partial
        for i in range(len(words) - width + 1):
            if f" {' '.join(words[i : i + width])} " in said:
                return DriftFinding(DriftKind.placeholder, instruction[:80])
    return None


REPEAT_MIN_WORDS = 6  # "fix it" twice is a user; a paragraph sent again is a model copying its history


REPEAT_SHARE = 0.7  # of the message's word pairs found in one earlier message: a copy, if garbled


def _pairs(words: list[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:]))


def repeated_message(text: str, earlier: list[str]) -> DriftFinding | None:
    """A finding when `text` is mostly one of the user's `earlier` messages again (case and
    punctuation aside; a cut or garbled copy counts): a small model copies its own history instead
    of reading the record."""
    words = _normal(text).split()
    if len(words) < REPEAT_MIN_WORDS:
        return None
    pairs = _pairs(words)
    for before in earlier:
        if len(pairs & _pairs(_normal(before).split())) >= REPEAT_SHARE * len(pairs):
            return DriftFinding(DriftKind.repeats, text[:80])
    return None


# --- optional third stage: an LLM judge (off by default; the default check stays offline and fast)

class DriftVerdict(BaseModel):
    """Whether a message written as the user, to an AI assistant, is out of role."""

    out_of_role: StrictBool = Field(description="True when the message is written as the assistant would, not as the user.")
    evidence: str = Field(description="The words that show it, copied from the message; empty when in role.")


JUDGE_PROMPT = (
    "You check messages that a simulated USER sends to an AI coding assistant. The user asks for work, "
    "gives details, decides, complains, or asks about what the assistant did. The message is OUT OF ROLE "
    "when it reads as the assistant's side instead: it reports or promises work done by the writer in this "
    "conversation, offers help, asks the assistant what the user wants, explains how to do the task like a "
    "tutorial, echoes a template or reply schema, narrates 'the user', or claims an outcome the record of "
    "what ran contradicts. Quoted text, the user's own past attempts ('I tried it myself yesterday') and "
    "the user's apologies or clarifications are in role."
)


async def judge_drift(model, text: str, digest: TurnDigest | None) -> DriftFinding | None:
    """One LLM verdict on `text` (model: ise_trace.llm ChatModel); a reads_as_assistant finding
    when the judge says out of role. The simulator calls it on the turns the offline check passed
    when `simulate.drift_judge` is on; `check_drift` never does."""
    from ..llm.base import SamplingParams

    record = "nothing has run yet (the opening message)" if digest is None else _describe_record(digest)
    messages = [
        {"role": "system", "content": JUDGE_PROMPT},
        {"role": "user", "content": f"What ran in the assistant's last turn: {record}\n\nThe user's message:\n{text}"},
    ]
    verdict = await model.structured(messages, DriftVerdict, SamplingParams(temperature=0.0, max_tokens=200))
    if not verdict.out_of_role:
        return None
    return DriftFinding(DriftKind.reads_as_assistant, (verdict.evidence or text).strip()[:100])


def _describe_record(digest: TurnDigest) -> str:
    return digest.render(max_chars=1500) if digest.calls else "no tool calls"
