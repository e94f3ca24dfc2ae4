"""Sampled intents for the validation tests: one persona, tasks given as (name, keywords)."""

from __future__ import annotations

from ise_trace.intents.sampler import SampledIntent
from ise_trace.schemas import DomainSpec, Persona, TaskSpec

PERSONA = Persona(
    id="p",
    name="Ines Ferreira",
    role="data analyst",
    industry="logistics",
    experience_level="senior",
    communication_style="terse",
    work_context="an audit",
)


def sampled_intent(domain: str, *tasks: tuple[str, tuple[str, ...]]) -> SampledIntent:
    return SampledIntent(
        index=0,
        id="x",
        seed=0,
        complexity="medium",
        persona=PERSONA,
        domains=[DomainSpec(name=domain, tasks=[TaskSpec(name=name, description="d") for name, _ in tasks])],
        keywords=tuple(k for _, k in tasks),
    )
