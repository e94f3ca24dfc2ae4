"""`ise-trace export harbor`: Harbor task folders, and the exported folder proving itself.

The Docker test builds the exported environment/ with the real engine on the locally built
workspace image (the BASE build arg; no registry here) and runs tests/test.sh in a container of
it, the way Harbor does (tests uploaded to /tests, run as root, reward in /logs/verifier): reward
0 and a non-zero exit on the untouched workspace, reward 1 after solution/solve.sh.
"""

from __future__ import annotations

import subprocess
import tomllib
import uuid

import pytest

from ise_trace.cli import main
from ise_trace.export.harbor import ExportSettings, task_folder_name, write_task
from tests.simulate.scripted import make_intent
from tests.tasks.handmade import task_intent


def _write_jsonl(path, intents):
    path.write_text("".join(i.model_dump_json(exclude_none=True) + "\n" for i in intents), encoding="utf-8")
    return path


def test_task_folder_has_harbor_layout_and_metadata(tmp_path):
    intent = task_intent()
    folder = write_task(intent, tmp_path, ExportSettings(source="handmade"))
    assert folder == tmp_path / "task-0001"
    for name in ("instruction.md", "task.toml", "environment/Dockerfile", "environment/packages.txt",
                 "environment/workspace/sales.csv", "environment/workspace/bin/hello.sh", "environment/setup/01.sh",
                 "tests/test.sh", "tests/checks/01.sh", "tests/checks/02.sh", "solution/solve.sh"):
        assert (folder / name).is_file(), name
    assert (folder / "instruction.md").read_text() == intent.text + "\n"
    config = tomllib.loads((folder / "task.toml").read_text())
    assert config["task"]["name"] == "ise-trace/task-0001"
    meta = config["metadata"]
    assert (meta["complexity"], meta["domains"], meta["task_origin"]) == ("simple", ["File-IO"], "hand")
    assert meta["persona"]["name"] == intent.persona.name
    assert meta["provenance"]["intent_id"] == "task-0001" and meta["provenance"]["source"] == "handmade"
    assert config["verifier"]["timeout_sec"] > 0 and config["agent"]["timeout_sec"] > 0
    assert config["environment"]["allow_internet"] is False
    # The checks live only in tests/: never in the image's build context.
    assert "python3 - <<'PY'" not in (folder / "environment" / "Dockerfile").read_text()
    assert not list((folder / "environment").rglob("checks"))
    assert "ARG BASE=debian:bookworm-slim" in (folder / "environment" / "Dockerfile").read_text()


def test_odd_intent_ids_become_distinct_safe_folder_names():
    assert task_folder_name("task-0001") == "task-0001"
    a, b = task_folder_name("a/b c"), task_folder_name("a b/c")
    assert a != b and "/" not in a and " " not in a


def test_cli_exports_tasks_and_counts_intents_without_one(tmp_path, capsys):
    source = _write_jsonl(tmp_path / "intents.jsonl", [task_intent("t-1"), make_intent("no-task"), task_intent("t-2")])
    out = tmp_path / "harbor"
    assert main(["export", "harbor", str(out), "--intents", str(source)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["t-1", "t-2"]
    err = capsys.readouterr().err
    assert "exported 2 Harbor task folder(s)" in err and "1 intent(s) without a task skipped" in err
    # A rerun replaces its folders in place.
    assert main(["export", "harbor", str(out), "--intents", str(source), "--base", "ise-trace-sandbox:x"]) == 0
    assert "ARG BASE=ise-trace-sandbox:x" in (out / "t-1" / "environment" / "Dockerfile").read_text()


def test_cli_reads_a_built_dataset_folder_by_split(tmp_path, capsys):
    from ise_trace.dataset.features import intent_features, intent_row
    from ise_trace.dataset.shards import ShardedWriter

    folder = tmp_path / "dataset"
    writer = ShardedWriter(folder / "data" / "intents", intent_features(), 1 << 20)
    writer.add("test", intent_row(task_intent("held-out")))
    writer.add("test", intent_row(make_intent("unverified")))
    writer.add("train", intent_row(task_intent("seen")))
    writer.close()
    out = tmp_path / "harbor"
    assert main(["export", "harbor", str(out), "--intents", str(folder), "--split", "test"]) == 0
    assert [p.name for p in out.iterdir()] == ["held-out"]
    exported = tomllib.loads((out / "held-out" / "task.toml").read_text())
    assert exported["metadata"]["checks"] == [c.name for c in task_intent().checks]
    assert (out / "held-out" / "environment" / "workspace" / "sales.csv").read_text() == task_intent().workspace.files[0].content


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such intents file or dataset folder"),
    ("bad_json", "intents.jsonl:2"),
    ("not_a_dataset", "not a built dataset folder"),
    ("split_on_file", "carries no splits"),
    ("out_is_file", "exists and is not a folder"),
])
def test_bad_inputs_are_one_line_and_exit_2(tmp_path, capsys, case, expected):
    good = _write_jsonl(tmp_path / "good.jsonl", [task_intent()])
    intents, out, extra = str(good), str(tmp_path / "out"), []
    if case == "missing":
        intents = str(tmp_path / "nope.jsonl")
    elif case == "bad_json":
        bad = tmp_path / "intents.jsonl"
        bad.write_text(good.read_text() + "{not json\n")
        intents = str(bad)
    elif case == "not_a_dataset":
        (tmp_path / "empty").mkdir()
        intents = str(tmp_path / "empty")
    elif case == "split_on_file":
        extra = ["--split", "test"]
    elif case == "out_is_file":
        (tmp_path / "out").write_text("x")
    assert main(["export", "harbor", out, "--intents", intents, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err


# ----------------------------------------------------------------------------- real Docker


def _docker(*args, check=True, timeout=600):
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:2])} exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


@pytest.mark.docker
@pytest.mark.slow
def test_exported_folder_builds_on_the_sandbox_image_and_its_verifier_rewards_the_reference(tmp_path, sandbox_image):
    folder = write_task(task_intent(), tmp_path, ExportSettings())
    tag = f"ise-trace-export-test:{uuid.uuid4().hex[:8]}"
    name = f"ise-trace-export-test-{uuid.uuid4().hex[:8]}"
    try:
        _docker("build", "-q", "--label", "ise_trace.test=export", "--build-arg", f"BASE={sandbox_image}",
                "-t", tag, str(folder / "environment"))
        # Harbor starts the environment, then uploads tests/ (and, for the oracle, solution/).
        _docker("run", "-d", "--name", name, "--label", "ise_trace.test=export", "--network", "none", tag)
        # The image is the seeded, set-up workspace, owned by the agent: files, modes, setup output.
        state = _docker("exec", name, "bash", "-c",
                        "id -un; stat -c '%U %a' /workspace/sales.csv /workspace/bin/hello.sh /workspace/archive/.git; "
                        "test ! -e /opt/ise-task && echo setup-removed").stdout.split("\n")
        assert state[:5] == ["agent", "agent 644", "agent 755", "agent 755", "setup-removed"], state
        _docker("cp", str(folder / "tests"), f"{name}:/tests")
        before = _docker("exec", "-u", "root", name, "bash", "/tests/test.sh", check=False)
        assert before.returncode != 0, before.stdout
        assert "FAIL: totals.csv parses with the right totals" in before.stdout
        assert "PASS: sales.csv untouched" in before.stdout
        assert _docker("exec", name, "cat", "/logs/verifier/reward.txt").stdout.strip() == "0"

        _docker("cp", str(folder / "solution"), f"{name}:/solution")
        solved = _docker("exec", "-u", "root", name, "bash", "/solution/solve.sh", check=False)
        assert solved.returncode == 0, solved.stdout + solved.stderr
        # solve.sh dropped to the agent, as Harbor's agent user: the agent owns what it wrote.
        assert _docker("exec", name, "stat", "-c", "%U", "/workspace/totals.csv").stdout.strip() == "agent"
        after = _docker("exec", "-u", "root", name, "bash", "/tests/test.sh", check=False)
        assert after.returncode == 0, after.stdout + after.stderr
        assert "2/2 checks passed" in after.stdout
        assert _docker("exec", name, "cat", "/logs/verifier/reward.txt").stdout.strip() == "1"
    finally:
        _docker("rm", "-f", name, check=False)
        _docker("rmi", "-f", tag, check=False)


def _generated_intent():
    """One intent whose task composes a part of every seeded generator kind (git, sqlite, ...)."""
    import random

    from faker import Faker

    from ise_trace.schemas import TaskSpec, WorkspaceSpec
    from ise_trace.tasks.kinds import KINDS, Context

    rng, fake, taken, parts = random.Random(7), Faker("en_US"), set(), []
    fake.seed_instance(7)
    base = make_intent("every-kind")
    for name, make in sorted(KINDS.items()):
        parts.append(make(Context(rng, fake, TaskSpec(name=name, description=name), "File-IO", base.persona, taken)))
    return base.model_copy(update={
        "workspace": WorkspaceSpec(files=[f for p in parts for f in p.files], setup=[c for p in parts for c in p.setup]),
        "checks": [c for p in parts for c in p.checks],
        "reference": "set -e\n" + "\n".join(f"(\n{p.reference}\n)" for p in parts if p.reference) + "\n",
        "task_origin": "generator",
    }), len(parts)


@pytest.mark.docker
@pytest.mark.slow
def test_exported_generator_tasks_of_every_kind_fail_before_and_pass_after_the_reference(tmp_path, sandbox_image):
    intent, kinds = _generated_intent()
    assert kinds >= 10 and intent.workspace.setup  # git and sqlite kinds set their workspace up
    folder = write_task(intent, tmp_path, ExportSettings())
    tag = f"ise-trace-export-test:{uuid.uuid4().hex[:8]}"
    name = f"ise-trace-export-test-{uuid.uuid4().hex[:8]}"
    try:
        _docker("build", "-q", "--build-arg", f"BASE={sandbox_image}", "-t", tag, str(folder / "environment"))
        _docker("run", "-d", "--name", name, "--label", "ise_trace.test=export", "--network", "none", tag)
        _docker("cp", str(folder / "tests"), f"{name}:/tests")
        _docker("cp", str(folder / "solution"), f"{name}:/solution")
        before = _docker("exec", "-u", "root", name, "bash", "/tests/test.sh", check=False)
        assert before.returncode != 0 and "FAIL:" in before.stdout, before.stdout
        solved = _docker("exec", "-u", "root", name, "bash", "/solution/solve.sh", check=False)
        assert solved.returncode == 0, solved.stdout + solved.stderr
        after = _docker("exec", "-u", "root", name, "bash", "/tests/test.sh", check=False)
        total = len(intent.checks)
        assert after.returncode == 0 and f"{total}/{total} checks passed" in after.stdout, after.stdout + after.stderr
        assert _docker("exec", name, "cat", "/logs/verifier/reward.txt").stdout.strip() == "1"
    finally:
        _docker("rm", "-f", name, check=False)
        _docker("rmi", "-f", tag, check=False)


@pytest.mark.docker
def test_validate_flag_skips_tasks_that_fail_in_a_sandbox(tmp_path, capsys, sandbox_image):
    unsolved = task_intent("t-unsolved", reference="printf 'region,total\\nnorth,1\\n' > totals.csv")
    source = _write_jsonl(tmp_path / "intents.jsonl", [task_intent("t-good"), unsolved])
    out = tmp_path / "harbor"
    assert main(["export", "harbor", str(out), "--intents", str(source), "--validate"]) == 0
    assert [p.name for p in out.iterdir()] == ["t-good"]
    err = capsys.readouterr().err
    assert "skip  t-unsolved: unsolved" in err and "1 task(s) failed validation" in err
