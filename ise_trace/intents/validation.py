"""Checks a rendered intent text must pass before it is kept.

A text is rejected when it is too short or too long, still contains template tokens or
placeholders, talks about the request or echoes the prompt (its bracketed domain tags, its task
list) instead of making the request, or does not mention the tasks it was rendered from (a
lexical check against each task's keyword stems from the taxonomy). Each rejection carries a short machine-readable reason
so the stats can count failures by kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ..config import IntentConfig
from .sampler import SampledIntent
from .taxonomy import Taxonomy

# Template and placeholder debris: {name}, {{var}}, <file>, <YOUR_NAME>, [TODO], [insert x], [number],
# XXX, TBD, lorem ipsum, $VAR-style template slots like ${name}.
_PLACEHOLDERS = [
    re.compile(r"\{\{?\s*[\w .-]*\}?\}"),
    re.compile(r"\$\{[^}]*\}"),
    re.compile(r"\[\s*(?:todo|tbd|insert|placeholder|your|name|file|date|number|value|language|x+)\b[^\]]*\]", re.I),
    re.compile(r"\b(?:XXX+|TBD)\b"),
    re.compile(r"\blorem ipsum\b", re.I),
    re.compile(r"\b(?:placeholder|insert (?:name|file|date|value) here)\b", re.I),
    # A bracketed phrase of plain words, "[This task]", "[Company Name]". Not a markdown link
    # "[the docs](docs.md)", an index "x[0]", "report[2024].csv", a regex "[0-9]+", a log tag "[ERROR]".
    re.compile(r"(?<![\w\]])\[\s*[A-Za-z][A-Za-z']*(?:\s+[A-Za-z][A-Za-z']*)+\s*\](?![(\[])"),
]

# <file>, <YOUR_NAME>, <project name> are slots; <table> or <a> in a web-scraping intent are not.
_ANGLE_SLOT = re.compile(r"<\s*([A-Za-z_][\w -]{0,40})\s*>")
_HTML_TAGS = frozenset(
    "a abbr article aside b body br button caption code div em footer form h1 h2 h3 h4 h5 h6 head "
    "header hr html i img input label li link main meta nav ol option p pre script section select "
    "span strong style sub sup table tbody td textarea tfoot th thead time title tr u ul url loc "
    "item entry channel feed lastmod urlset".split()
)

# Replies that talk about the job instead of doing it, or echo the renderer prompt back
# (its field labels, or the rejection feedback of a previous draft, which names the tasks).
_META = re.compile(
    r"^\s*(?:sure|certainly|here is|here's|as an ai|i am an ai|i'm an ai)\b|\bas an ai (?:language )?model\b"
    r"|\bprevious draft\b|\bwas rejected\b|\bdoes not mention\b|^\s*(?:person|voice|situation|tasks):"
    # The renderer answering in the assistant's voice: refusing, or describing "the user" in the
    # third person. "I can't" alone is no sign (users write "I can't get my script to parse dates"),
    # so only a refusal of the task or request itself counts.
    r"|\bas an? (?:ai|assistant|language model|llm)\b"
    r"|\b(?:task|request)s? (?:that |which )?i (?:can't|cannot|can not|am unable to|won't be able to)\b"
    r"|\bi (?:can't|cannot|can not|am unable to|won't) (?:help (?:you|with)|assist|comply|fulfil|fulfill)\b"
    r"|\bi (?:can't|cannot|can not|am unable to|won't) (?:complete|do|write|generate|create|provide) "
    r"(?:this|that|the|your|such an?) (?:task|request|intent|message)\b"
    r"|\bi(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:can't|cannot|can not|am unable)\b"
    r"|\bthe user(?:'s)? (?:wants|needs|would like|asks|is asking|requests|wishes|has asked|is requesting)\b"
    r"|\bhere (?:is|are) (?:a|the|your) (?:request|intent|user request|rewrite|rewritten|version)\b",
    re.I | re.M,
)

# The renderer prompt's task list restated as a spec: "The task was:", "Task 1:", "Tasks:" opening a
# line or sentence, and its "1. [File-IO] merge csv files" lines (any bracketed tag).
_SPEC_ECHO = re.compile(
    r"(?:^|(?<=[.!?;]\s))\s*(?:the |my |your )?tasks?(?: (?:was|were|is|are)| ?#?\d+)?\s*:"
    r"|^\s*\d+[.)]\s*\[[^\]\n]+\]",
    re.I | re.M,
)
# A bracketed domain name, the prompt's "[Intelligence-Core]": the intent's own domains or any of
# the packaged taxonomy's.
_BRACKETED = re.compile(r"\[\s*([^\[\]\n]{1,60}?)\s*\]")


@cache
def _packaged_domains() -> frozenset[str]:
    return frozenset(d.name.lower() for d in Taxonomy.load().domains)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # one of: too_short, too_long, placeholder, meta, uncovered_tasks
    detail: str = ""


def _mentions(text: str, stem: str) -> bool:
    """True when a word of `text` starts with `stem`; stems under four characters must match a
    whole word (optionally plural), so that 'du' does not match 'during'."""
    if len(stem) < 4:
        return re.search(rf"(?<![\w]){re.escape(stem)}s?(?![\w])", text) is not None
    return re.search(rf"(?<![\w]){re.escape(stem)}", text) is not None


def uncovered_tasks(text: str, intent: SampledIntent) -> list[str]:
    lowered = text.lower()
    return [
        task.name
        for (_, task), stems in zip(intent.tasks, intent.keywords)
        if not any(_mentions(lowered, s) for s in stems)
    ]


def validate(text: str, intent: SampledIntent, config: IntentConfig) -> Verdict:
    text = text.strip()
    if len(text) < config.min_chars:
        return Verdict(False, "too_short", f"{len(text)} characters, need at least {config.min_chars}")
    if len(text) > config.max_chars:
        return Verdict(False, "too_long", f"{len(text)} characters, at most {config.max_chars}")
    # An echo first: '[File-IO]' would also read as a '[file ...]' placeholder.
    domains = _packaged_domains() | {d.name.lower() for d in intent.domains}
    m = _SPEC_ECHO.search(text) or next((b for b in _BRACKETED.finditer(text) if b.group(1).lower() in domains), None)
    if m:
        return Verdict(False, "meta", f"echoes the prompt instead of making the request ({m.group(0).strip()!r})")
    for pattern in _PLACEHOLDERS:
        m = pattern.search(text)
        if m:
            return Verdict(False, "placeholder", f"template token {m.group(0)!r}")
    for m in _ANGLE_SLOT.finditer(text):
        if m.group(1).strip().lower() not in _HTML_TAGS:
            return Verdict(False, "placeholder", f"template token {m.group(0)!r}")
    m = _META.search(text)
    if m:
        return Verdict(False, "meta", f"talks about the request instead of making it ({m.group(0).strip()!r})")
    missing = uncovered_tasks(text, intent)
    n_tasks = len(intent.keywords)
    if n_tasks and (n_tasks - len(missing)) / n_tasks < config.min_task_coverage:
        return Verdict(False, "uncovered_tasks", "does not mention: " + ", ".join(missing))
    return Verdict(True)
