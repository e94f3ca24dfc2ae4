"""The shipped recipes parse with this TRL and transformers, and say what the issue asks of them."""

from __future__ import annotations

import pytest

from .launch import ROOT


@pytest.mark.parametrize("recipe", ["qwen3-8b-lora.yaml", "qwen3-8b-full-fsdp.yaml", "tiny-cpu.yaml"])
def test_recipe_parses_with_flags_overriding_it(train_script, recipe):
    # bf16 off so the GPU recipes also parse on this CPU; everything else comes from the file
    script, training, model = train_script.parse(
        ["--config", str(ROOT / "sft" / "recipes" / recipe), "--bf16", "false", "--learning_rate", "3e-4"]
    )
    assert training.learning_rate == 3e-4 and training.bf16 is False
    assert training.assistant_only_loss is True and script.outcomes == "success"
    assert model.use_peft is (recipe != "qwen3-8b-full-fsdp.yaml")
    if recipe.startswith("qwen3-8b"):
        assert model.model_name_or_path == "Qwen/Qwen3-8B" and model.dtype == "bfloat16"
        assert training.packing and training.max_length == 16384


def test_gpu_recipe_on_a_machine_without_bf16_is_one_clear_error(train_script, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so bf16 is available")
    recipe = ROOT / "sft" / "recipes" / "qwen3-8b-lora.yaml"
    assert train_script.cli(["--config", str(recipe)]) == 2
    assert f"error: {recipe}: Your setup doesn't support bf16" in capsys.readouterr().err
