"""A tiny random Qwen3 and a handful of ise-trace trajectories, built locally for CPU runs.

    python sft/tiny.py out/tiny      # writes out/tiny/model and out/tiny/dataset (what tiny-cpu.yaml reads)

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the trajectories' own text,
and its chat template is the Qwen3 one that TRL ships, so TRL swaps in its Qwen3 training
template exactly as it does for the real model. The dataset folder has the layout `ise-trace
build` writes (parquet shards under data/trajectories/, `configs:` in README.md).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MARKUP = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": desc,
            "parameters": {"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]},
        },
    }
    for name, desc, arg in [
        ("exec", "Run a shell command in the workspace.", "command"),
        ("read", "Read a file of the workspace.", "path"),
        ("write", "Write a file of the workspace.", "content"),
    ]
]
_FILES = ["data.csv", "report.md", "notes.txt", "main.py", "config.yaml"]
_ASKS = ["count the lines of", "show the head of", "summarise", "check the format of", "list the columns of"]


def tiny_trajectories(n: int = 8, seed: int = 0, max_turns: int = 3, output_lines: int = 1) -> list:
    """`n` schema-valid trajectories; trajectory i has 1 + i % max_turns user turns, each with a tool
    call and a result of `output_lines` lines; every 4th trajectory failed."""
    from ise_trace.schemas import (
        AssistantMessage, DomainSpec, ExecutionRecord, FunctionCall, Intent, Outcome, Persona, Provenance,
        RendererInfo, SystemMessage, TaskSpec, TerminationReason, ToolCall, ToolMessage, Trajectory, UserMessage,
        compute_stats,
    )

    rng = random.Random(seed)
    out = []
    for i in range(n):
        messages = [SystemMessage(content="You are an agent working in a Linux workspace.")]
        executions = []
        for turn in range(1 + i % max_turns):
            f = rng.choice(_FILES)
            messages.append(UserMessage(content=f"Turn {turn + 1}: please {rng.choice(_ASKS)} {f}."))
            call_id = f"call_{i}_{turn}"
            tool, args = (("exec", {"command": f"wc -l {f}"}) if rng.random() < 0.5 else ("read", {"path": f}))
            messages.append(AssistantMessage(
                content=f"Looking at {f}.", tool_calls=[ToolCall(id=call_id, function=FunctionCall(name=tool, arguments=args))]
            ))
            failed = rng.random() < 0.25
            lines = [f"{rng.randint(2, 99)} {f} {rng.choice(_ASKS)}" for _ in range(output_lines)]
            messages.append(ToolMessage(
                tool_call_id=call_id, name=tool, content=f"{f}: no such file" if failed else "\n".join(lines)
            ))
            executions.append(ExecutionRecord(tool_call_id=call_id, exit_code=int(failed), duration_ms=3.0, is_error=failed))
            messages.append(AssistantMessage(content=f"Done with turn {turn + 1}: {f} was {'missing' if failed else 'read'}."))
        status = "failure" if i % 4 == 3 else "success"
        intent = Intent(
            id=f"intent-{i}", text="Work through a few files.", complexity="simple", seed=i,
            persona=Persona(id="p0", name="Ada Test", role="analyst", industry="testing", experience_level="senior",
                            communication_style="terse", work_context="a laptop"),
            domains=[DomainSpec(name="File-IO", tasks=[TaskSpec(name="inspect", description="Inspect files.")])],
            renderer=RendererInfo(model="tiny", prompt_version="v0"),
        )
        out.append(Trajectory(
            id=f"traj-{i}", intent=intent, messages=messages, tools=TOOLS, executions=executions,
            outcome=Outcome(status=status, reason="scripted", termination=TerminationReason.user_completed),
            stats=compute_stats(messages, executions),
            provenance=Provenance(agent_model="tiny", user_model="tiny", sandbox_image="none",
                                  ise_trace_version="0", created_at="2026-01-01T00:00:00Z"),
        ))
    return out


_CARD = """---
configs:
- config_name: trajectories
  default: true
  data_files:
  - split: train
    path: data/trajectories/train-*.parquet
---
# tiny ise-trace
"""


def write_dataset(folder: Path, trajectories: list) -> Path:
    """Write trajectories with the builder's features, rows and shard writer; the configs go in README.md."""
    from ise_trace.dataset.features import trajectory_features, trajectory_row
    from ise_trace.dataset.shards import ShardedWriter

    writer = ShardedWriter(Path(folder) / "data" / "trajectories", trajectory_features(), max_shard_bytes=1 << 30)
    for t in trajectories:
        writer.add("train", trajectory_row(t))
    writer.close()
    (Path(folder) / "README.md").write_text(_CARD, encoding="utf-8")
    return Path(folder)


def build_tokenizer(corpus: list[str], vocab_size: int = 800):
    """Byte-level BPE over `corpus` with Qwen3's special tokens and TRL's copy of the Qwen3 template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from trl.chat_template_utils import qwen3_chat_template

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in MARKUP])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=qwen3_chat_template
    )


def corpus_of(trajectories: list) -> list[str]:
    texts = [json.dumps(TOOLS)]
    for t in trajectories:
        for m in t.messages:
            texts.append(m.content or "")
            texts += [json.dumps(c.function.arguments) for c in getattr(m, "tool_calls", [])]
    return texts


def build_model(tokenizer, seed: int = 0, **sizes):
    """A randomly initialised Qwen3ForCausalLM; the defaults make it about 0.1 M parameters."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    dims = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, max_position_embeddings=4096, tie_word_embeddings=True)
    config = Qwen3Config(
        vocab_size=len(tokenizer), **{**dims, **sizes},
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id], pad_token_id=tokenizer.pad_token_id
    )
    return model


def make_tiny(root: Path, n: int = 8) -> tuple[Path, Path]:
    """Write `root/model` (tokenizer included) and `root/dataset`; returns both paths."""
    root = Path(root)
    trajectories = tiny_trajectories(n)
    tokenizer = build_tokenizer(corpus_of(trajectories))
    model = build_model(tokenizer)
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    write_dataset(root / "dataset", trajectories)
    return root / "model", root / "dataset"


if __name__ == "__main__":
    model_dir, dataset_dir = make_tiny(Path(sys.argv[1] if len(sys.argv) > 1 else "out/tiny"))
    print(f"model: {model_dir}\ndataset: {dataset_dir}")
