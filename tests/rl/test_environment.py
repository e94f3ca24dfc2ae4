"""`TaskEnvironment` as TRL drives it (reset, tool methods, get_reward), on the REAL sandbox: seeding,
tools in the live workspace, rewards from the task's checks, isolation between rollouts."""

from __future__ import annotations


import pytest

from tests.tasks.handmade import REFERENCE, task_intent

pytestmark = pytest.mark.docker


def row(intent=None, **extra):
    """An `intents` row as TRL passes it to reset(): the intent's fields plus the dataset's prompt."""
    return {**(intent or task_intent()).model_dump(mode="json"), "prompt": [{"role": "user", "content": ""}], **extra}


def test_reset_seeds_the_files_runs_the_setup_and_returns_the_intent_text(rl_env):
    with rl_env() as env:
        opening = env.reset(**row())
        assert opening == task_intent().text
        listing = env.list()
        assert "sales.csv  (48 bytes)" in listing and "archive/" in listing and "bin/" in listing
        assert env.read("sales.csv").startswith("region,amount\nnorth,10.50")
        out = env.exec("./bin/hello.sh && git -C archive rev-parse --is-inside-work-tree")  # mode 0755; setup's git init
        assert out == "hello\ntrue\n[exit code: 0]"


def test_exec_runs_in_the_workspace_as_the_agent_and_errors_come_back_as_text(rl_env):
    with rl_env() as env:
        env.reset(**row())
        assert env.exec("pwd; id -un") == "/workspace\nagent\n[exit code: 0]"
        assert env.exec("echo made > new.txt && cat new.txt", workdir="/workspace/archive") == "made\n[exit code: 0]"
        assert env.read("archive/new.txt").startswith("made")
        assert env.exec("ls missing.csv").endswith("[exit code: 2]")
        assert env.read("missing.csv").startswith("error: ")
        assert env.exec("true", timeout=-1).startswith("error: invalid arguments for exec")
        assert env.edit("sales.csv", old_text="north", new_text="N").startswith("error: ")  # not unique
        assert [c["is_error"] for c in env.tool_calls] == [False, False, False, True, True, True, True]


def test_reward_is_0_before_and_1_after_the_reference_runs_through_exec(rl_env):
    with rl_env() as env:
        env.reset(**row())
        assert env.get_reward() == 0.0
        assert [c.passed for c in env.last_checks] == [False, True]  # binary: one failing check is 0.0
        assert env.exec(REFERENCE) == "[exit code: 0]"
        assert env.get_reward() == 1.0
        assert all(c.passed for c in env.last_checks)


def test_partial_credit_is_the_fraction_of_checks_passed(rl_env, partial_credit):
    with rl_env() as env:
        env.reset(**row())
        assert env.get_reward() == 0.5  # totals.csv missing, sales.csv untouched
        env.exec(REFERENCE)
        assert env.get_reward() == 1.0
        env.exec("echo extra,1 >> sales.csv")
        assert env.get_reward() == 0.5  # totals right, input changed


def test_two_environments_at_once_do_not_see_each_others_files(rl_env):
    with rl_env() as a, rl_env() as b:
        a.reset(**row())
        b.reset(**row())
        assert a._lease.workspace is not b._lease.workspace
        a.write("only_in_a.txt", "secret")
        a.exec(REFERENCE)
        assert "only_in_a.txt" not in b.list() and "No such file" in b.exec("cat only_in_a.txt totals.csv")
        assert (a.get_reward(), b.get_reward()) == (1.0, 0.0)


def test_reset_clears_the_last_rollout_and_workspaces_go_back_to_the_pool(rl_env):
    from ise_trace.rl import runtime

    env = rl_env()
    env.reset(**row())
    env.exec(f"{REFERENCE}\nsleep 300 &\necho junk > /tmp/junk")
    assert env.get_reward() == 1.0
    env.reset(**row())  # the next rollout on the same instance, as TRL reuses them
    assert env.get_reward() == 0.0
    assert env.exec("ls totals.csv /tmp/junk; pgrep sleep").endswith("[exit code: 1]")
    assert runtime.current().held >= 1
    with env:
        pass  # leaving a `with` hands the workspace back
    assert runtime.current().held == 0 and env.exec("true").startswith("error: no workspace")


def test_reset_refuses_an_intent_without_checks(rl_env):
    with rl_env() as env, pytest.raises(ValueError, match="has no checks"):
        env.reset(**row(task_intent(checks=None)))


def test_reward_log_lines_carry_the_check_results(rl_env, tmp_path):
    before = rl_env.settings()
    rl_env.configure(reward_log=str(tmp_path / "rewards.jsonl"))
    try:
        with rl_env() as env:
            env.reset(**row())
            env.exec("ls")
            env.get_reward()
    finally:
        rl_env.configure(before)
    import json

    [line] = [json.loads(x) for x in (tmp_path / "rewards.jsonl").read_text().splitlines()]
    assert line["intent_id"] == "task-0001" and line["reward"] == 0.0 and line["tool_calls"] == 1
    assert [(r["name"], r["passed"], r["exit_code"]) for r in line["results"]] == [
        ("totals.csv parses with the right totals", False, 1), ("sales.csv untouched", True, 0)]
