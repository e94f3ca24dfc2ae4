"""`accelerate launch rl/train_grpo.py --config rl/recipes/tiny-cpu.yaml` end to end on the CPU: REAL TRL
GRPOTrainer, REAL Docker workspaces, rewards from the tasks' checks; and its one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
RECIPE = ROOT / "rl" / "recipes" / "tiny-cpu.yaml"


def run_script(*args: str, launch: bool = True, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """rl/train_grpo.py as a user runs it: under `accelerate launch` on one CPU process (one thread:
    the machine is shared), or with plain python for the input errors."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
                "--cpu", "--mixed_precision", "no", "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1"]
    cmd = [*(launcher if launch else [sys.executable]), str(ROOT / "rl" / "train_grpo.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, **OFFLINE, **env}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def tiny_rl(tmp_path_factory) -> SimpleNamespace:
    spec = importlib.util.spec_from_file_location("rl_tiny", ROOT / "rl" / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, tasks = module.make_tiny(tmp_path_factory.mktemp("tiny-rl"))
    return SimpleNamespace(model=model, tasks=tasks)


@pytest.mark.docker
@pytest.mark.slow
def test_tiny_grpo_run_trains_two_steps_with_rewards_from_the_checks(tiny_rl, tmp_path, sandbox_image):
    out = tmp_path / "grpo"
    r = run_script("--config", str(RECIPE), "--model_name_or_path", str(tiny_rl.model),
                   "--dataset_name", str(tiny_rl.tasks), "--output_dir", str(out),
                   ISE_TRACE_RL_CONFIG=json.dumps({"image": sandbox_image}))
    assert r.returncode == 0, r.stderr[-4000:]
    assert f"{tiny_rl.tasks}: 4 tasks" in r.stdout

    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    steps = [e for e in history if "rewards/TaskEnvironment/mean" in e]
    assert [e["step"] for e in steps] == [1, 2]  # 2 optimizer steps, the environment's reward logged at each

    # One line per rollout (2 steps x 2 tasks x 2 generations), written by get_reward from the checks it ran.
    tasks = {t["id"]: t for t in map(json.loads, tiny_rl.tasks.read_text().splitlines())}
    rollouts = [json.loads(x) for x in (out / "rewards.jsonl").read_text().splitlines()]
    assert len(rollouts) == 8
    for x in rollouts:
        task = tasks[x["intent_id"]]
        assert [c["name"] for c in x["results"]] == [c["name"] for c in task["checks"]]
        assert all(isinstance(c["exit_code"], int) and c["passed"] == (c["exit_code"] == 0) for c in x["results"])
        assert x["reward"] == x["passed"] / x["checks"]  # the recipe's partial credit
    # The trainer's logged mean is the mean of the checks' rewards of that step's rollouts.
    for e, batch in zip(steps, (rollouts[:4], rollouts[4:])):
        assert e["rewards/TaskEnvironment/mean"] == pytest.approx(sum(x["reward"] for x in batch) / 4)

    # The warm-started model calls exec: TRL parsed the calls, the workspace ran them, and a rollout of the
    # done.txt task earned 1.0 only where its call really wrote the file (the checks saw it).
    assert any(e["tools/call_frequency"] > 0 for e in steps)
    done = [x for x in rollouts if x["intent_id"] == "tiny-done-ok"]
    assert any(x["reward"] == 1.0 for x in done), done
    assert all(x["tool_calls"] >= 1 for x in done if x["reward"] == 1.0)
    assert (out / "model.safetensors").is_file()

    # The run's workspaces went with it (RL workspaces are named ise-trace-rl-...; this session's own stay).
    listed = subprocess.run(["docker", "ps", "-a", "--filter", "label=ise_trace.run", "--format",
                             '{{.Label "ise_trace.owner_pid"}} {{.Names}}'], capture_output=True, text=True).stdout
    assert [x for x in listed.splitlines() if "-rl-" in x and x.split()[0] != str(os.getpid())] == []


def test_unknown_recipe_key_is_one_line_naming_file_and_line(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(RECIPE.read_text() + "partial_credits: true\n")
    r = run_script("--config", str(recipe), launch=False, timeout=120)
    assert r.returncode == 2
    line = len(RECIPE.read_text().splitlines()) + 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: {recipe}:{line}: unknown key 'partial_credits'; did you mean 'partial_credit'?")


@pytest.mark.slow
def test_intents_without_tasks_are_one_clear_error(tiny_rl, tmp_path):
    untasked = tmp_path / "intents.jsonl"
    rows = [json.loads(x) for x in tiny_rl.tasks.read_text().splitlines()]
    untasked.write_text("".join(json.dumps({**r, "workspace": None, "checks": None, "reference": None}) + "\n"
                                for r in rows))
    r = run_script("--config", str(RECIPE), "--model_name_or_path", str(tiny_rl.model),
                   "--dataset_name", str(untasked), "--output_dir", str(tmp_path / "out"), launch=False, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith(
        f"error: {untasked}: none of its 4 intents has an executable task")


def load_train_script():
    spec = importlib.util.spec_from_file_location("rl_train_grpo", ROOT / "rl" / "train_grpo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through its module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("recipe", ["tiny-cpu.yaml", "qwen3-8b-lora-vllm.yaml"])
def test_recipes_parse_with_flags_overriding_them(recipe):
    # bf16 and vLLM off so the GPU recipe also parses on a CPU machine; the rest comes from the file
    script, training, model = load_train_script().parse([
        "--config", str(ROOT / "rl" / "recipes" / recipe), "--bf16", "false", "--use_vllm", "false",
        "--learning_rate", "3e-4",
    ])
    assert training.learning_rate == 3e-4 and training.bf16 is False
    assert training.generation_batch_size % training.num_generations == 0
    if recipe == "tiny-cpu.yaml":
        assert script.partial_credit and training.max_steps == 2 and not model.use_peft
    else:
        assert model.model_name_or_path == "Qwen/Qwen3-8B" and model.use_peft and not script.partial_credit
        assert training.vllm_mode == "colocate" and training.max_tool_calling_iterations == 30
