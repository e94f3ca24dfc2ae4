"""The packaged taxonomy meets the paper's shape, and a broken taxonomy file is reported clearly."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import pytest
import yaml

from ise_trace.config import ComplexityShape, IntentConfig
from ise_trace.errors import ConfigError
from ise_trace.intents.space import sampling_space, task_combinations
from ise_trace.intents.taxonomy import DATA_DIR, Taxonomy

PAPER_DOMAINS = {
    "Intelligence-Core",
    "Code-Runtime",
    "File-IO",
    "Source-Chain",
    "Automation-Flow",
    "Web-Extraction",
    "Comms-Social",
    "Multimedia",
    "Agent-Memory",
    "System-Infrastructure",
}


def test_packaged_taxonomy_has_the_papers_ten_domains_with_at_least_15_tasks_each():
    taxonomy = Taxonomy.load()
    assert {d.name for d in taxonomy.domains} >= PAPER_DOMAINS
    for domain in taxonomy.domains:
        assert len(domain.tasks) >= 15, domain.name
        for task in domain.tasks:
            assert len(task.description) > 30 and task.keywords


def test_tasks_never_ask_for_the_internet():
    # Web-flavoured tasks work on saved local files or a localhost server.
    for domain in Taxonomy.load().domains:
        for task in domain.tasks:
            text = f"{task.name} {task.description}".lower()
            assert "download" not in text and "internet" not in text and "online" not in text, task.name


def test_persona_parts_give_at_least_965_personas_over_at_least_47_industries():
    taxonomy = Taxonomy.load()
    assert len(taxonomy.personas.industries) >= 47
    assert taxonomy.persona_count >= 965
    p = taxonomy.personas
    expected = (
        len(p.industries)
        * sum(math.comb(len(r.expertise), p.expertise_per_persona) for r in p.roles)
        * len(p.experience_levels)
        * len(p.communication_styles)
        * len(p.work_contexts)
    )
    assert taxonomy.persona_count == expected


def test_sampling_space_exceeds_the_papers_10_to_the_11():
    space = sampling_space(Taxonomy.load(), IntentConfig().complexity)
    assert space["total"] > 10**11
    assert space["total"] == space["personas"] * sum(space["task_combinations"].values())
    assert space["log10"] == pytest.approx(math.log10(space["total"]), abs=0.01)


@pytest.mark.parametrize(
    "shape",
    [
        ComplexityShape(weight=1, domains=(1, 1), tasks=(1, 1)),
        ComplexityShape(weight=1, domains=(1, 2), tasks=(2, 3)),
        ComplexityShape(weight=1, domains=(2, 3), tasks=(3, 5)),
    ],
)
def test_task_combinations_agree_with_brute_force_enumeration(shape):
    sizes = [3, 4, 2, 5]
    tasks = [(d, t) for d, n in enumerate(sizes) for t in range(n)]
    (dl, dh), (tl, th) = shape.domains, shape.tasks
    brute = sum(
        1
        for total in range(tl, th + 1)
        for combo in itertools.combinations(tasks, total)
        if dl <= len({d for d, _ in combo}) <= dh
    )
    assert task_combinations(sizes, shape) == brute


# ---------------------------------------------------------------------------- broken files


@pytest.fixture
def taxonomy_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "taxonomy"
    shutil.copytree(DATA_DIR, folder)
    return folder


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_invalid_yaml_names_the_file_and_line(taxonomy_copy: Path):
    path = taxonomy_copy / "domains.yaml"
    lines = path.read_text().splitlines()
    lines[30] = "      - name: [unclosed"
    path.write_text("\n".join(lines))
    with pytest.raises(ConfigError, match=r"domains\.yaml:3\d: not valid YAML"):
        Taxonomy.load(taxonomy_copy)


def test_missing_field_names_the_file_line_and_field(taxonomy_copy: Path):
    path = taxonomy_copy / "domains.yaml"
    _edit(path, lambda d: d["domains"][2]["tasks"][4].pop("description"))
    with pytest.raises(ConfigError) as err:
        Taxonomy.load(taxonomy_copy)
    message = str(err.value)
    assert "domains.yaml:" in message and "field 'domains.2.tasks.4.description'" in message
    assert "Field required" in message
    line = int(message.split("domains.yaml:")[1].split(":")[0])
    assert "- name:" in path.read_text().splitlines()[line - 1]  # points at that task entry


def test_duplicate_task_name_is_reported(taxonomy_copy: Path):
    def dup(d):
        d["domains"][0]["tasks"][1]["name"] = d["domains"][0]["tasks"][0]["name"]

    _edit(taxonomy_copy / "domains.yaml", dup)
    with pytest.raises(ConfigError, match=r"field 'domains\.0'.*task 'summarise a report' appears twice"):
        Taxonomy.load(taxonomy_copy)


def test_unknown_key_in_personas_is_an_error(taxonomy_copy: Path):
    _edit(taxonomy_copy / "personas.yaml", lambda d: d.update(hobbies=["chess"]))
    with pytest.raises(ConfigError, match=r"personas\.yaml:\d+: field 'hobbies': Extra inputs are not permitted"):
        Taxonomy.load(taxonomy_copy)


def test_role_with_too_few_expertise_areas_is_reported(taxonomy_copy: Path):
    _edit(taxonomy_copy / "personas.yaml", lambda d: d["roles"][3].update(expertise=["Python"]))
    with pytest.raises(ConfigError, match=r"role 'machine learning engineer' lists 1 expertise areas"):
        Taxonomy.load(taxonomy_copy)


def test_missing_taxonomy_file_or_folder_is_reported(taxonomy_copy: Path, tmp_path: Path):
    (taxonomy_copy / "personas.yaml").unlink()
    with pytest.raises(ConfigError, match=r"personas\.yaml: taxonomy file not found"):
        Taxonomy.load(taxonomy_copy)
    with pytest.raises(ConfigError, match="taxonomy folder not found"):
        Taxonomy.load(tmp_path / "nowhere")
