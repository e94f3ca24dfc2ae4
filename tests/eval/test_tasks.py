"""Task selection over a checkout in the harness's task format (the stand-in fixture checkout)."""

from __future__ import annotations

import shutil

import pytest

from ise_trace.errors import UserError
from ise_trace.evaluation import load_checkout, select_tasks
from ise_trace.evaluation.tasks import describe_tasks, judge_free_tasks


def names(tasks):
    return [t.folder.name for t in tasks]


def test_default_selection_is_the_offline_t_family(standin_checkout):
    checkout = load_checkout(standin_checkout)
    selection = select_tasks(checkout)
    assert names(selection.tasks) == ["T001_fixture_notes_lookup", "T002_fixture_notes_digest"]
    assert names(selection.excluded) == ["T003_fixture_live_search", "T004_fixture_shell_task"]
    assert [t.needs_judge for t in selection.tasks] == [False, True]
    assert selection.tasks[0].category == "knowledge"


def test_explicit_ids_numbers_and_ranges(standin_checkout):
    checkout = load_checkout(standin_checkout)
    assert names(select_tasks(checkout, "T2").tasks) == ["T002_fixture_notes_digest"]
    assert names(select_tasks(checkout, "t001, C01_fixture_chat").tasks) == ["C01_fixture_chat", "T001_fixture_notes_lookup"]
    picked = select_tasks(checkout, "T1-T4")
    assert names(picked.tasks) == ["T001_fixture_notes_lookup", "T002_fixture_notes_digest"]
    assert names(picked.excluded) == ["T003_fixture_live_search", "T004_fixture_shell_task"]
    live = select_tasks(checkout, "1-4", include_live_web=True)
    assert "T003_fixture_live_search" in names(live.tasks)
    assert names(live.excluded) == ["T004_fixture_shell_task"]  # the sandbox is never started


def test_judge_free_names_the_offline_t_tasks_graded_by_rules_alone(standin_checkout):
    checkout = load_checkout(standin_checkout)
    assert names(select_tasks(checkout, "judge-free").tasks) == ["T001_fixture_notes_lookup"]
    assert names(select_tasks(checkout, "judge-free,T2").tasks) == ["T001_fixture_notes_lookup", "T002_fixture_notes_digest"]
    assert describe_tasks(judge_free_tasks(checkout)) == "T001"


def test_task_lists_are_described_as_ranges(standin_checkout):
    checkout = load_checkout(standin_checkout)
    tasks = [checkout.tasks[n] for n in ("T001_fixture_notes_lookup", "T002_fixture_notes_digest",
                                         "T004_fixture_shell_task", "C01_fixture_chat")]
    assert describe_tasks(tasks) == "T001-T002, T004, C01_fixture_chat"


def test_judge_need_follows_inherited_graders(standin_checkout, tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(standin_checkout, root)
    english = root / "tasks" / "T005_fixture_notes_digest_en"
    shutil.copytree(root / "tasks" / "T001_fixture_notes_lookup", english)
    (english / "grader.py").write_text(
        "from claw_eval.graders.base import load_peer_grader\n\n"
        '_Base = load_peer_grader("T002_fixture_notes_digest")\n\n\n'
        "class EnglishDigest(_Base):\n    pass\n"
    )
    assert load_checkout(root).tasks["T005_fixture_notes_digest_en"].needs_judge


def test_broken_task_yaml_names_the_file_and_line(standin_checkout, tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(standin_checkout, root)
    bad = root / "tasks" / "T001_fixture_notes_lookup" / "task.yaml"
    bad.write_text("task_id: T001\nprompt: [unclosed\n")
    with pytest.raises(UserError, match=r"T001_fixture_notes_lookup/task\.yaml:\d+: not valid YAML"):
        load_checkout(root)
