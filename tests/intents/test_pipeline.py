"""The Stage I loop: output contract, stats, bounded resampling, resume, and every bad input.

These tests drive the loop with `ScriptedStandInModel` (a scripted stand-in, not a model) so that
counts are exact; rendering with the real local model server is in test_render_llm.py.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from ise_trace.config import IntentConfig
from ise_trace.errors import UserError
from ise_trace.intents.pipeline import IntentPipeline, OutputPaths
from ise_trace.intents.renderer import PROMPT_VERSION
from ise_trace.config import TaskConfig
from ise_trace.intents.taxonomy import Taxonomy
from ise_trace.schemas import Intent

from .scripted_model import ScriptedStandInModel


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


def _run(config: IntentConfig, model, out: Path, taxonomy: Taxonomy) -> dict:
    # The render loop alone: tasks come from the generator, unvalidated (tests/tasks validates them
    # in a real sandbox).
    config.task = TaskConfig(author="generator", validate_in_sandbox=False)
    return asyncio.run(IntentPipeline(config, model, out, taxonomy=taxonomy, progress_stream=io.StringIO()).run())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_scripted_stand_in_run_writes_contract_records_and_stats(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    model = ScriptedStandInModel(taxonomy)
    stats = _run(IntentConfig(n=12, seed=3, concurrency=3), model, out, taxonomy)

    records = [Intent.model_validate(r) for r in _lines(out)]  # extra fields would fail here
    assert len({r.id for r in records}) == len(records) == stats["unique"]
    assert all(r.seed == 3 and r.renderer.model == "scripted-stand-in" for r in records)
    assert all(r.renderer.prompt_version == PROMPT_VERSION for r in records)
    assert stats["requested"] == stats["sampled"] == stats["rendered"] == 12
    dups = stats["duplicates_removed"]
    assert stats["unique"] + dups["exact"] + dups["near"] == 12
    assert stats["failed_validation"] == {"intents": 0, "attempts": 0, "attempts_by_reason": {}}
    assert sum(c["intents"] for c in stats["complexity_mix"].values()) == stats["unique"]
    assert set(stats["domain_coverage"]) == {d.name for d in taxonomy.domains}
    assert 1.0 <= stats["diversity"]["vendi"]["score"] <= stats["unique"]
    assert 0 < stats["diversity"]["distinct_2"] <= 1
    assert stats["sampling_space"]["total"] > 10**11
    assert json.loads(OutputPaths.beside(out).stats.read_text()) == json.loads(json.dumps(stats))


def test_output_is_in_sampling_order_whatever_order_renders_finish_in(tmp_path, taxonomy):
    one = _run(IntentConfig(n=8, seed=5, concurrency=1), ScriptedStandInModel(taxonomy), tmp_path / "a.jsonl", taxonomy)
    many = _run(IntentConfig(n=8, seed=5, concurrency=8), ScriptedStandInModel(taxonomy), tmp_path / "b.jsonl", taxonomy)
    assert one["unique"] == many["unique"]
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_scripted_stand_in_bad_drafts_are_resampled_and_counted(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    model = ScriptedStandInModel(taxonomy, bad_drafts_per_intent=1)  # each tuple: one bad draft, then a good one
    stats = _run(IntentConfig(n=6, seed=1, max_render_attempts=3), model, out, taxonomy)
    assert model.calls == 12
    assert stats["rendered"] == 6
    assert stats["failed_validation"] == {"intents": 0, "attempts": 6, "attempts_by_reason": {"placeholder": 6}}
    rejects = _lines(OutputPaths.beside(out).rejects)
    assert len(rejects) == 6 and not any(r["final"] for r in rejects)
    assert all("{file_name}" in r["detail"] for r in rejects)


def test_scripted_stand_in_tuples_that_never_validate_fail_after_the_cap_and_stay_failed(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    model = ScriptedStandInModel(taxonomy, bad_drafts_per_intent=99)
    config = IntentConfig(n=4, seed=2, max_render_attempts=2)
    stats = _run(config, model, out, taxonomy)
    assert model.calls == 8  # 4 tuples x the cap of 2, never more
    assert stats["unique"] == 0 and stats["sampled"] == 4
    assert stats["failed_validation"]["intents"] == 4 and stats["failed_validation"]["attempts"] == 8
    assert out.exists() and out.read_text() == ""
    # A rerun does not spend the model on tuples already given up on.
    again = ScriptedStandInModel(taxonomy)
    stats = _run(config, again, out, taxonomy)
    assert again.calls == 0 and stats["failed_validation"]["intents"] == 4


def test_scripted_stand_in_exact_duplicates_are_removed_and_reported(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    config = IntentConfig(n=5, seed=4, min_task_coverage=0)  # one text cannot name every tuple's tasks
    stats = _run(config, ScriptedStandInModel(taxonomy, same_text=True), out, taxonomy)
    assert stats["unique"] == 1 and stats["duplicates_removed"]["exact"] == 4
    kept = _lines(out)
    removed = _lines(OutputPaths.beside(out).duplicates)
    assert len(removed) == 4
    assert all(r["kind"] == "exact" and r["duplicate_of"] == kept[0]["id"] for r in removed)
    assert all(Intent.model_validate(r["intent"]).id == r["id"] for r in removed)  # nothing rendered is lost


def test_scripted_stand_in_resume_after_a_model_outage_and_a_torn_line(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    config = IntentConfig(n=10, seed=8, concurrency=2)
    # The server goes away after 4 answers: the run stops with one clear message, keeping them.
    with pytest.raises(UserError, match=r"cannot reach the model server.*rendered so far are kept in .*rerun"):
        _run(config, ScriptedStandInModel(taxonomy, down_after=4), out, taxonomy)
    first = _lines(out)
    assert len(first) == 4
    stats = json.loads(OutputPaths.beside(out).stats.read_text())
    assert stats["run"]["model_errors"] == 1 and "cannot reach" in stats["run"]["stopped_by"]
    # A crash mid-append leaves a torn last line; the rerun cuts it off instead of failing on it.
    for path in (out, OutputPaths.beside(out).rejects, OutputPaths.beside(out).duplicates):
        with open(path, "a") as f:
            f.write('{"id": "torn-recor')

    resumed = ScriptedStandInModel(taxonomy)
    stats = _run(config, resumed, out, taxonomy)
    assert resumed.calls == 6  # only the tuples not yet rendered
    ids = [r["id"] for r in _lines(out)] + [r["id"] for r in _lines(OutputPaths.beside(out).duplicates)]
    assert len(ids) == len(set(ids)) == 10
    assert {r["id"] for r in first} <= set(ids)

    clean = tmp_path / "clean.jsonl"
    _run(config, ScriptedStandInModel(taxonomy), clean, taxonomy)
    assert out.read_text() == clean.read_text()  # resumed corpus == uninterrupted corpus

    rerun = ScriptedStandInModel(taxonomy)
    assert _run(config, rerun, out, taxonomy)["unique"] == stats["unique"] and rerun.calls == 0


def test_growing_n_renders_only_the_new_tuples(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    _run(IntentConfig(n=4, seed=6), ScriptedStandInModel(taxonomy), out, taxonomy)
    more = ScriptedStandInModel(taxonomy)
    stats = _run(IntentConfig(n=7, seed=6), more, out, taxonomy)
    assert more.calls == 3 and stats["sampled"] == 7


def test_resuming_with_another_seed_is_refused(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    _run(IntentConfig(n=2, seed=1), ScriptedStandInModel(taxonomy), out, taxonomy)
    before = out.read_text()
    with pytest.raises(UserError, match=r"sampled with seed 1, not 2: rerun with --seed 1"):
        _run(IntentConfig(n=2, seed=2), ScriptedStandInModel(taxonomy), out, taxonomy)
    assert out.read_text() == before


def test_a_corrupt_line_in_the_middle_is_reported_with_file_and_line(tmp_path, taxonomy):
    out = tmp_path / "intents.jsonl"
    _run(IntentConfig(n=3, seed=1), ScriptedStandInModel(taxonomy), out, taxonomy)
    lines = out.read_text().splitlines()
    lines.insert(1, '{"id": "x", "text": "no persona"}')
    out.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"intents\.jsonl:2: field 'persona': Field required .*fix or delete that line"):
        _run(IntentConfig(n=3, seed=1), ScriptedStandInModel(taxonomy), out, taxonomy)
    assert len(out.read_text().splitlines()) == 4  # nothing was rewritten


@pytest.mark.parametrize("make_bad", ["parent_is_a_file", "out_is_a_directory"])
def test_unwritable_output_path_is_one_clear_error(tmp_path, taxonomy, make_bad):
    if make_bad == "parent_is_a_file":
        (tmp_path / "notes.txt").write_text("x")
        out = tmp_path / "notes.txt" / "intents.jsonl"
    else:
        out = tmp_path / "intents.jsonl"
        out.mkdir()
    model = ScriptedStandInModel(taxonomy)
    with pytest.raises(UserError, match=r"cannot write .*intents\.jsonl: .*choose another --out"):
        _run(IntentConfig(n=2), model, out, taxonomy)
    assert model.calls == 0  # found out before any work was spent
