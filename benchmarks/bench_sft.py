"""Training throughput of our SFT recipe next to TRL's defaults, measured in the same run.

    python benchmarks/bench_sft.py                   # CPU: the tiny recipe on a tiny random Qwen3 (1 thread)
    python benchmarks/bench_sft.py --gpu --size 4b   # GPU: a LoRA step on a random Qwen3-4B, + peak memory

Both sides train the same successful trajectories from the same dataset folder with LoRA.
"ours" is `sft/train.py`'s trainer built from a recipe (tiny-cpu.yaml, or qwen3-8b-lora.yaml on
a GPU: bf16 weights, assistant-only loss, bfd packing at 16k, LoRA r64 on all projections).
"TRL defaults" is `SFTTrainer` on the raw conversations with `SFTConfig()` and
`ModelConfig(use_peft=True)` defaults (float32 weights with bf16 autocast, batch 8, max_length
1024, LoRA r16 on q/v), bf16 switched off on a CPU. Tokens/s counts non-padding input tokens
over the timed steps (the first steps are warm-up); the GPU run builds random weights on the
device, so nothing is downloaded. `--prepare DIR` writes the GPU run's tokenizer, model config and
data on a machine with the full environment, for a GPU machine that lacks some of it.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sft"))  # sft/sft_data.py, beside train.py

# Qwen3 sizes from the published configs (hidden, intermediate, layers, heads, kv heads)
SIZES = {"0.6b": (1024, 3072, 28, 16, 8), "1.7b": (2048, 6144, 28, 16, 8), "4b": (2560, 9728, 36, 32, 8), "8b": (4096, 12288, 36, 32, 8)}


def _load(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"sft_{name}", ROOT / "sft" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_gpu_data(root: Path, size: str, n: int = 96) -> Path:
    """Tokenizer + config.json of a Qwen3 size class (no weights) and n long trajectories."""
    from transformers import Qwen3Config

    tiny = _load("tiny")
    trajectories = tiny.tiny_trajectories(n, max_turns=8, output_lines=150)
    tokenizer = tiny.build_tokenizer(tiny.corpus_of(trajectories))
    hidden, inter, layers, heads, kv = SIZES[size]
    config = Qwen3Config(
        vocab_size=151936, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, head_dim=128, max_position_embeddings=40960,
        rope_theta=1_000_000, tie_word_embeddings=size in ("0.6b", "1.7b", "4b"),
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    config.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    tiny.write_dataset(root / "dataset", trajectories)
    return root


class StepTimer:
    """Times each optimizer step (synchronising the GPU) and reads the tokens seen so far."""

    def __init__(self, warmup: int, cuda: bool):
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timer._sync()
                timer.t0, timer.tokens0 = time.perf_counter(), state.num_input_tokens_seen

            def on_step_end(self, args, state, control, **kw):
                timer._sync()
                if state.global_step > warmup:
                    timer.seconds += time.perf_counter() - timer.t0
                    timer.tokens += state.num_input_tokens_seen - timer.tokens0

        self.callback, self.cuda, self.seconds, self.tokens = _Callback(), cuda, 0.0, 0

    def _sync(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()


def measure(label: str, trainer, warmup: int) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    timer = StepTimer(warmup, cuda)
    trainer.add_callback(timer.callback)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        result = trainer.train()
    except torch.OutOfMemoryError:
        return {"label": label, "oom": True}
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    row = {
        "label": label,
        "tokens_per_s": timer.tokens / timer.seconds,
        "s_per_step": timer.seconds / (trainer.state.global_step - warmup),
        "tokens_per_step": timer.tokens / (trainer.state.global_step - warmup),
        "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "loss_finite": all(math.isfinite(v) for v in losses),
        "train_runtime_s": result.metrics["train_runtime"],
    }
    if cuda:
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def ours(recipe: str, model_dir: Path, dataset: Path, out: Path, steps: int, model=None, extra=()):
    train = _load("train")
    argv = [
        "--config", str(ROOT / "sft" / "recipes" / recipe), "--model_name_or_path", str(model_dir),
        "--dataset_name", str(dataset), "--output_dir", str(out), "--max_steps", str(steps), "--logging_steps", "1",
        "--save_strategy", "no", "--report_to", "none", *extra,
    ]
    script_args, training_args, model_args = train.parse(argv)
    training_args.include_num_input_tokens_seen = "non_padding"  # the flag parses as a bool only
    return train.build_trainer(script_args, training_args, model_args, model=model)


def trl_defaults(model, model_dir: Path, dataset: Path, out: Path, steps: int, cpu: bool):
    from transformers import AutoTokenizer
    from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config

    from sft_data import SFTScriptArguments, load_split

    raw = load_split(SFTScriptArguments(dataset_name=str(dataset)), "train")
    raw = raw.filter(lambda o: o["status"] == "success", input_columns=["outcome"]).select_columns(["messages", "tools"])
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, logging_steps=1, save_strategy="no", report_to="none",
        include_num_input_tokens_seen="non_padding", **({"bf16": False, "use_cpu": True} if cpu else {}),
    )
    return SFTTrainer(
        model=model, args=args, train_dataset=raw, processing_class=AutoTokenizer.from_pretrained(model_dir),
        peft_config=get_peft_config(ModelConfig(use_peft=True)),
    )


def cpu_bench(steps: int, warmup: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir, dataset = _load("tiny").make_tiny(tmp / "tiny", n=32)
        rows = [measure("ours (tiny-cpu.yaml)", ours("tiny-cpu.yaml", model_dir, dataset, tmp / "a", steps), warmup)]
        rows.append(measure("TRL defaults", trl_defaults(str(model_dir), model_dir, dataset, tmp / "b", steps, cpu=True), warmup))
    return rows


def gpu_bench(size: str, steps: int, warmup: int, data: Path | None, attns: list[str]) -> list[dict]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = data if data is not None else prepare_gpu_data(tmp / "data", size)
        config = AutoConfig.from_pretrained(root / "model")

        def random_model(dtype, attn="sdpa"):
            torch.manual_seed(0)
            with torch.device("cuda"):
                return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)

        # one packed row per optimizer step, so a step is one forward and backward on each side
        sides = [
            (f"ours ({attn})", lambda attn=attn: ours(
                "qwen3-8b-lora.yaml", root / "model", root / "dataset", tmp / "a", steps,
                model=random_model(torch.bfloat16, attn),
                extra=("--dataset_num_proc", "4", "--gradient_accumulation_steps", "1", "--attn_implementation", attn)))
            for attn in attns
        ]
        sides.append(("TRL defaults", lambda: trl_defaults(
            random_model(torch.float32), root / "model", root / "dataset", tmp / "b", steps, cpu=False)))
        rows = []
        for label, build in sides:
            try:
                trainer = build()
                rows.append(measure(label, trainer, warmup))
                del trainer
            except Exception as e:  # one side failing must not hide the other's figures
                traceback.print_exc()
                rows.append({"label": label, "error": f"{type(e).__name__}: {e}"})
            gc.collect()
            torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="benchmark a LoRA step on a random model on the GPU")
    parser.add_argument("--size", choices=sorted(SIZES), default="4b", help="Qwen3 size class of the random model")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per side (default 12 CPU, 8 GPU)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    parser.add_argument("--attn", default="sdpa", help="comma-separated attention implementations for our side (GPU)")
    parser.add_argument("--data", type=Path, help="folder written by --prepare (GPU run)")
    parser.add_argument("--prepare", type=Path, help="write the GPU run's data into this folder and exit")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default 1 on the CPU run: steady figures on a shared machine)"
    )
    a = parser.parse_args()
    if a.prepare:
        print(f"prepared {prepare_gpu_data(a.prepare, a.size)}")
        return
    import torch

    if a.threads or not a.gpu:
        torch.set_num_threads(a.threads or 1)
    if a.gpu and not torch.cuda.is_available():
        sys.exit("--gpu: no CUDA device here")
    steps = a.steps or (8 if a.gpu else 12)
    rows = gpu_bench(a.size, steps, a.warmup, a.data, a.attn.split(",")) if a.gpu else cpu_bench(steps, a.warmup)
    where = (
        f"{torch.cuda.get_device_name()} (random Qwen3-{a.size})" if a.gpu
        else f"CPU (tiny random Qwen3, {torch.get_num_threads()} threads)"
    )
    print(f"\nSFT throughput on {where}, {steps} steps, first {a.warmup} not timed")
    print(f"{'':28} {'tokens/s':>10} {'s/step':>8} {'tokens/step':>12} {'peak GiB':>9} {'trainable':>11}")
    for r in rows:
        if r.get("oom") or r.get("error"):
            print(f"{r['label']:28} {'out of memory' if r.get('oom') else r['error']}")
            continue
        peak = f"{r['peak_mem_gib']:.1f}" if "peak_mem_gib" in r else "-"
        print(f"{r['label']:28} {r['tokens_per_s']:10.0f} {r['s_per_step']:8.2f} {r['tokens_per_step']:12.0f} "
              f"{peak:>9} {r['trainable_params']:11,d}")
    if a.json:
        a.json.write_text(json.dumps({"where": where, "steps": steps, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
