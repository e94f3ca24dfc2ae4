"""`accelerate launch sft/train.py --config sft/recipes/tiny-cpu.yaml` end to end on the CPU:
training, checkpoints, resuming, merging, and using what was saved."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from .launch import accelerate_launch, tiny_args

pytestmark = pytest.mark.slow


def _losses(output_dir) -> dict[int, float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory) -> SimpleNamespace:
    """A 6-step run saving checkpoints at 3 and 6, then a run resumed from checkpoint-3 that merges its adapter."""
    root = tmp_path_factory.mktemp("runs")
    first = accelerate_launch(*tiny_args(tiny, root / "first", "--max_steps", "6", "--save_steps", "3"))
    assert first.returncode == 0, first.stderr[-4000:]
    resumed = accelerate_launch(*tiny_args(
        tiny, root / "resumed", "--max_steps", "6", "--save_steps", "3", "--merge_adapter",
        "--resume_from_checkpoint", str(root / "first" / "checkpoint-3"),
    ))
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    return SimpleNamespace(root=root, first=first, resumed=resumed)


def test_data_report_is_printed_before_training(runs):
    out = runs.first.stdout
    assert "[train] 8 trajectories; 6 kept by outcome (success)" in out
    assert "max_length 512:" in out and "were longer and truncated" in out


def test_loss_is_finite_and_falls_on_the_repeated_batch(runs):
    # the recipe's batch (8) holds the whole 6-example set, so every step sees the same batch
    losses = _losses(runs.root / "first" / "checkpoint-6")
    assert sorted(losses) == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(v) for v in losses.values())
    assert losses[6] < losses[1] - 0.05
    assert all(losses[s + 1] < losses[s] for s in range(1, 6))


def test_resumed_run_continues_from_the_checkpoint_and_matches_the_uninterrupted_one(runs):
    first = _losses(runs.root / "first" / "checkpoint-6")
    resumed = _losses(runs.root / "resumed" / "checkpoint-6")
    assert min(resumed) == 1 and max(resumed) == 6  # log history comes along with the checkpoint
    for step in (4, 5, 6):
        assert resumed[step] == pytest.approx(first[step], rel=1e-3)


def test_adapter_tokenizer_and_inference_chat_template_are_saved(runs):
    from trl.chat_template_utils import qwen3_chat_template

    out = runs.root / "first"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (out / name).is_file(), name
    # the template users generate with is the model's own, not the training variant with markers
    assert (out / "chat_template.jinja").read_text() == qwen3_chat_template


def _generate(model, tokenizer) -> str:
    messages = [{"role": "user", "content": "Turn 1: please summarise data.csv."}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ids = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert ids.shape[1] > prompt["input_ids"].shape[1]
    return tokenizer.decode(ids[0, prompt["input_ids"].shape[1]:])


def test_saved_adapter_reloads_and_generates(runs):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    out = runs.root / "first"
    assert isinstance(_generate(AutoPeftModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)), str)


def test_merged_model_reloads_and_generates(runs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = runs.root / "resumed" / "merged"
    assert not (merged / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert isinstance(_generate(model, AutoTokenizer.from_pretrained(merged)), str)
