"""The demo's last resort for an intent's text: the generator's brief, worded as the persona's request."""

from __future__ import annotations

import re

from ise_trace.config import IntentConfig
from ise_trace.intents.sampler import IntentSampler
from ise_trace.intents.task_maker import brief_intent
from ise_trace.intents.taxonomy import Taxonomy
from ise_trace.intents.validation import validate
from ise_trace.tasks.generate import generate_task


def test_brief_text_names_every_file_of_the_brief_and_says_who_asks():
    taxonomy = Taxonomy.load()
    for sampled in IntentSampler(taxonomy, IntentConfig(seed=0)).sample(6):
        task = generate_task(sampled, taxonomy)
        if task is None:
            continue
        intent = brief_intent(sampled, task.brief)
        assert intent.renderer.model == "brief-template"  # told apart from rendered texts
        assert intent.text.startswith(f"Hi, I'm {sampled.persona.name}")
        for name in re.findall(r"[\w./-]+\.(?:md|csv|json|py|txt|ini)\b", task.brief):
            assert name in intent.text
        assert "The result:" not in intent.text and "- " not in intent.text[:3]


def test_brief_text_is_not_mistaken_for_a_prompt_echo():
    taxonomy = Taxonomy.load()
    sampled = IntentSampler(taxonomy, IntentConfig(seed=0)).sample(1)[0]
    intent = brief_intent(sampled, generate_task(sampled, taxonomy).brief)
    verdict = validate(intent.text, sampled, IntentConfig(min_task_coverage=0.0))
    assert verdict.ok or verdict.reason not in ("meta", "placeholder"), verdict
