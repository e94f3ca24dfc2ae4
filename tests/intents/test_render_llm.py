"""`ise-trace intents` end to end with the real local model server (embedded SmolLM2-135M).

A 135M model writes weak text and validation rejects much of it, so these tests assert what a
user relies on (structure, counts, resume, messages), never the quality of the prose.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ise_trace.cli import main
from ise_trace.intents.pipeline import OutputPaths
from ise_trace.intents.renderer import PROMPT_VERSION
from ise_trace.schemas import Intent


def _intents_cli(out: Path, *extra: str) -> int:
    return main(["intents", "--n", "2", "--seed", "11", "--out", str(out), "--concurrency", "2", "--max-attempts", "2", *extra])


@pytest.mark.slow
def test_real_model_renders_validated_intents_and_a_rerun_resumes(llm_server, tmp_path, capsys):
    out = tmp_path / "run" / "intents.jsonl"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("intents:\n  max_tokens: 160\nllm:\n  timeout_s: 300\n")  # short drafts keep CPU time low
    server = ["--base-url", llm_server.base_url, "--model", llm_server.model, "--config", str(recipe)]
    assert _intents_cli(out, *server) == 0
    stats = json.loads(OutputPaths.beside(out).stats.read_text())
    records = [Intent.model_validate_json(line) for line in out.read_text().splitlines()]

    assert stats["sampled"] == 2
    assert stats["rendered"] + stats["failed_validation"]["intents"] == 2
    assert stats["unique"] == len(records) == stats["rendered"] - sum(
        stats["duplicates_removed"][k] for k in ("exact", "near")
    )
    rejects = [json.loads(line) for line in OutputPaths.beside(out).rejects.read_text().splitlines()]
    assert sum(stats["failed_validation"]["attempts_by_reason"].values()) == len(rejects)
    # The cap held: at most 2 drafts per text, and a tuple has two texts at most (the plain one and,
    # when its task falls back to the generator, the one rendered from the generator's brief).
    drafts = Counter(r["id"] for r in rejects if not r["reason"].startswith("task_"))
    assert all(n <= 2 * 2 for n in drafts.values()), drafts
    for record in records:
        assert record.renderer.model == llm_server.model and record.renderer.prompt_version == PROMPT_VERSION
        assert record.seed == 11 and record.text.strip()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["unique"] == stats["unique"]

    before = out.read_text()
    assert _intents_cli(out, *server) == 0
    again = json.loads(OutputPaths.beside(out).stats.read_text())
    assert again["run"]["rendered_this_run"] == 0 and again["run"]["failed_this_run"] == 0
    assert out.read_text() == before


def test_unreachable_model_server_is_one_clear_error(tmp_path, capsys):
    out = tmp_path / "intents.jsonl"
    # Port 9 (discard) has no listener on this machine: connection refused.
    code = _intents_cli(out, "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "error:" in line]) == 1
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in err[-1]
    assert "rerun the same command to resume" in err[-1]
    stats = json.loads(OutputPaths.beside(out).stats.read_text())
    assert stats["run"]["model_errors"] == 1 and stats["unique"] == 0


def test_bad_taxonomy_via_the_cli_names_the_file(tmp_path, capsys):
    folder = tmp_path / "tax"
    folder.mkdir()
    (folder / "domains.yaml").write_text("domains: [\n")
    (folder / "personas.yaml").write_text("industries: []\n")
    code = main(["intents", "--n", "1", "--out", str(tmp_path / "i.jsonl"), "--taxonomy", str(folder)])
    assert code == 2
    assert "domains.yaml:2: not valid YAML" in capsys.readouterr().err
    assert not (tmp_path / "i.jsonl").exists()


def test_unknown_recipe_key_is_an_error(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("intents:\n  n: 5\n  temprature: 0.3\n")
    code = main(["intents", "--config", str(recipe), "--out", str(tmp_path / "i.jsonl")])
    assert code == 2
    assert "field 'temprature': Extra inputs are not permitted" in capsys.readouterr().err
