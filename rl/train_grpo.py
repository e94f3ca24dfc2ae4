"""GRPO on ise-trace's executable tasks with TRL: tool calls run in Docker workspaces, rewards come from the checks.

From the repository root:

    # CPU smoke run on a tiny random Qwen3 and four generated tasks (what the tests run)
    python rl/tiny.py out/tiny-rl
    accelerate launch --num_processes 1 --cpu rl/train_grpo.py --config rl/recipes/tiny-cpu.yaml

    # Qwen3-8B (or an SFT checkpoint) + LoRA on one GPU, generation in vLLM (colocated)
    accelerate launch --config_file sft/accelerate/single_gpu.yaml rl/train_grpo.py \
        --config rl/recipes/qwen3-8b-lora-vllm.yaml --dataset_name out/intents.jsonl

Each row of the intents (an `intents.jsonl`, a folder from `ise-trace build`, or a Hub id) is a task;
`ise_trace.rl.TaskEnvironment` seeds a workspace with it, exposes the seven tools, and scores the
rollout by running the task's checks. Workspace and sandbox settings come from $ISE_TRACE_RL_CONFIG
(a JSON object or a YAML file; a recipe can set it under `env:`), the reward settings below override it.
Every recipe key can be overridden by a flag (--learning_rate 1e-6); an unknown key is an error.
`--resume_from_checkpoint PATH` (or `latest`) continues a run from its checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class GRPOScriptArguments:
    """Which tasks to train on and how rollouts are scored; parsed next to GRPOConfig and ModelConfig."""

    dataset_name: str = field(
        default="intents.jsonl",
        metadata={"help": "intents.jsonl, a folder written by `ise-trace build`, or a Hub dataset id (org/ise-trace)."},
    )
    dataset_config: str = field(default="intents", metadata={"help": "Dataset config holding the intents."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub tag, branch or commit (Hub ids only)."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    max_tasks: int | None = field(default=None, metadata={"help": "Use only the first N tasks."})
    system_prompt: bool = field(
        default=True, metadata={"help": "Open each rollout with the agent system prompt the SFT data was made with."}
    )
    partial_credit: bool = field(
        default=False, metadata={"help": "Reward = fraction of checks passed (off: 1.0 when all pass, else 0.0)."}
    )
    tool_output_chars: int = field(
        default=8000, metadata={"help": "Tool results shown to the model are cut to this many characters."}
    )
    log_rewards: bool = field(
        default=True, metadata={"help": "Write each rollout's reward and check results to output_dir/rewards.jsonl."}
    )


def _sibling(path: str):
    """A script beside this one (sft/train.py, rl/tiny.py), imported by path."""
    spec = importlib.util.spec_from_file_location(Path(path).stem + "_script", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_parser():
    from trl import GRPOConfig, ModelConfig, TrlParser

    return TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig))


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from a recipe and flags; unknown recipe keys are errors."""
    from ise_trace.errors import ConfigError

    parser = make_parser()
    recipe = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None
    if recipe:
        _sibling("sft/train.py").check_recipe(recipe, {a.dest for a in parser._actions} | {"env"})
    try:
        return parser.parse_args_and_config(argv, fail_with_unknown_args=True)
    except ValueError as e:  # settings that contradict each other or the machine
        raise ConfigError(f"{recipe or 'flags'}: {e}") from None


def main(script_args, training_args, model_args) -> None:
    from ise_trace.rl import TaskEnvironment

    try:
        trainer = build_trainer(script_args, training_args, model_args)
        resume = training_args.resume_from_checkpoint
        trainer.train(resume_from_checkpoint=True if resume in ("latest", "true") else resume)
        trainer.save_model(training_args.output_dir)
        if trainer.accelerator.is_main_process:  # the logged rewards, also when save_strategy is "no"
            trainer.state.save_to_json(str(Path(training_args.output_dir) / "trainer_state.json"))
        trainer.accelerator.print(f"saved the {'adapter' if model_args.use_peft else 'model'} to {training_args.output_dir}")
    finally:
        TaskEnvironment.shutdown()


def build_trainer(script_args, training_args, model_args):
    """Check the inputs, read the tasks, start the workspaces, then build the trainer."""
    from accelerate import PartialState
    from transformers import AutoTokenizer
    from trl import GRPOTrainer, get_peft_config

    from ise_trace.rl import TaskEnvironment
    from ise_trace.rl.data import read_tasks, to_dataset

    state = PartialState()
    _sibling("sft/train.py").check_model(model_args, training_args.trust_remote_code)
    tasks = read_tasks(script_args.dataset_name, script_args.dataset_config, script_args.dataset_train_split,
                       script_args.dataset_revision, script_args.max_tasks)
    state.print(tasks.line())
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    TaskEnvironment.configure(
        partial_credit=script_args.partial_credit,
        tool_output_chars=script_args.tool_output_chars,
        # One environment per rollout of a generation batch on this process, all holding a workspace at once.
        pool_size=training_args.per_device_train_batch_size * training_args.steps_per_generation,
        reward_log=str(out / "rewards.jsonl") if script_args.log_rewards else None,
    )
    TaskEnvironment.warm()  # no engine or image: one clear error before the model loads
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, trust_remote_code=training_args.trust_remote_code
    )
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental in TRL 1.x
    return GRPOTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=to_dataset(tasks, system_prompt=script_args.system_prompt),
        processing_class=tokenizer,
        environment_factory=TaskEnvironment,
        peft_config=get_peft_config(model_args),
    )


def cli(argv: list[str]) -> int:
    """Run the script; a bad input prints one line and returns its exit code (2)."""
    from ise_trace.errors import UserError

    try:
        main(*parse(argv))
    except UserError as e:
        if os.environ.get("RANK", "0") == "0":  # every rank meets the same bad input: say it once
            print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
