"""The Stage I taxonomy: domains with tasks, and the parts personas are composed from.

The data lives in `data/domains.yaml` and `data/personas.yaml` (package data a person reviews in
one read); a user may point at a folder with their own two files. Loading validates the files and
reports a problem as `file:line: field '...': what is wrong`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError

DATA_DIR = Path(__file__).with_name("data")
DOMAINS_FILE = "domains.yaml"
PERSONAS_FILE = "personas.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ten times faster


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(names: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{what} '{n}' appears twice")
        seen.add(n)
    return names


class TaskEntry(_Strict):
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    keywords: tuple[str, ...] = Field(min_length=1, description="Word stems for the coverage check.")
    workspace: str | None = Field(None, description="Kind of seeded workspace its generator builds (tasks/kinds.py).")

    @field_validator("workspace")
    @classmethod
    def _known_kind(cls, v: str | None) -> str | None:
        from ..tasks.kind_names import KIND_NAMES

        if v is not None and v not in KIND_NAMES:
            raise ValueError(f"unknown workspace kind '{v}'; known: {', '.join(KIND_NAMES)}")
        return v

    @field_validator("keywords")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not k.strip() for k in v):
            raise ValueError("keywords must not be empty strings")
        return tuple(k.strip().lower() for k in v)


class DomainEntry(_Strict):
    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)
    summary: str = ""
    tasks: tuple[TaskEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_tasks(self) -> DomainEntry:
        _unique([t.name for t in self.tasks], "task")
        return self


class DomainsFile(_Strict):
    version: int = 1
    domains: tuple[DomainEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_domains(self) -> DomainsFile:
        _unique([d.name for d in self.domains], "domain")
        return self


class RoleEntry(_Strict):
    name: str = Field(min_length=1)
    expertise: tuple[str, ...] = Field(min_length=1)


class StyleEntry(_Strict):
    name: str = Field(min_length=1)
    voice: str = Field(min_length=1, description="How a person of this style writes.")


class PersonasFile(_Strict):
    version: int = 1
    expertise_per_persona: int = Field(2, ge=1)
    industries: tuple[str, ...] = Field(min_length=1)
    roles: tuple[RoleEntry, ...] = Field(min_length=1)
    experience_levels: tuple[str, ...] = Field(min_length=1)
    communication_styles: tuple[StyleEntry, ...] = Field(min_length=1)
    work_contexts: tuple[str, ...] = Field(min_length=1)
    first_names: tuple[str, ...] = Field(min_length=1)
    last_names: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PersonasFile:
        _unique(list(self.industries), "industry")
        _unique([r.name for r in self.roles], "role")
        _unique(list(self.experience_levels), "experience level")
        _unique([s.name for s in self.communication_styles], "communication style")
        _unique(list(self.work_contexts), "work context")
        for r in self.roles:
            _unique(list(r.expertise), f"expertise of role '{r.name}':")
            if len(r.expertise) < self.expertise_per_persona:
                raise ValueError(
                    f"role '{r.name}' lists {len(r.expertise)} expertise areas but "
                    f"expertise_per_persona is {self.expertise_per_persona}"
                )
        return self


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc` (pydantic error path), or of its nearest parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node, line = match, match.start_mark.line + 1
    return line


def _load_file(path: Path, model: type[BaseModel]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: taxonomy file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read taxonomy file ({e.strerror})") from None
    try:
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (see the packaged {path.name})")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        line = _node_line(root, loc)
        field = ".".join(str(p) for p in loc)
        where = f"{path}:{line}" if line else str(path)
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {len(e.errors()) - 1} more problems)" if len(e.errors()) > 1 else ""
        raise ConfigError(f"{where}: field '{field}': {msg}{more}" if field else f"{where}: {msg}{more}") from None


@dataclass(frozen=True)
class Taxonomy:
    """Domains and persona parts, with the counts that size the sampling space."""

    domains: tuple[DomainEntry, ...]
    personas: PersonasFile
    source: str  # folder the files came from, or 'packaged'

    @classmethod
    def load(cls, folder: str | Path | None = None) -> Taxonomy:
        source = str(folder) if folder is not None else "packaged"
        folder = Path(folder) if folder is not None else DATA_DIR
        if not folder.is_dir():
            raise ConfigError(f"{folder}: taxonomy folder not found (it must hold {DOMAINS_FILE} and {PERSONAS_FILE})")
        domains = _load_file(folder / DOMAINS_FILE, DomainsFile)
        personas = _load_file(folder / PERSONAS_FILE, PersonasFile)
        return cls(domains=domains.domains, personas=personas, source=source)

    def domain(self, name: str) -> DomainEntry:
        return next(d for d in self.domains if d.name == name)

    def workspace_kind(self, domain: str, task: str) -> str | None:
        """The workspace hint of a task, or None when the taxonomy gives none."""
        for d in self.domains:
            if d.name == domain:
                return next((t.workspace for t in d.tasks if t.name == task), None)
        return None

    @cached_property
    def persona_count(self) -> int:
        """Distinct personas: every combination of the composed parts (names follow from them)."""
        p = self.personas
        expertise_choices = sum(math.comb(len(r.expertise), p.expertise_per_persona) for r in p.roles)
        return (
            len(p.industries)
            * expertise_choices
            * len(p.experience_levels)
            * len(p.communication_styles)
            * len(p.work_contexts)
        )
