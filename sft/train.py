"""Supervised fine-tuning on ise-trace trajectories with TRL: LoRA (PEFT) or full, under `accelerate launch`.

From the repository root:

    # Qwen3-8B + LoRA on one GPU, then on every GPU of the machine (DDP)
    accelerate launch --config_file sft/accelerate/single_gpu.yaml sft/train.py --config sft/recipes/qwen3-8b-lora.yaml
    accelerate launch --config_file sft/accelerate/multi_gpu_ddp.yaml sft/train.py --config sft/recipes/qwen3-8b-lora.yaml

    # Qwen3-8B full fine-tune, sharded with FSDP
    accelerate launch --config_file sft/accelerate/fsdp.yaml sft/train.py --config sft/recipes/qwen3-8b-full-fsdp.yaml

    # the paper's ablation (first user turn only) on a Hub revision of the corpus
    accelerate launch sft/train.py --config sft/recipes/qwen3-8b-lora.yaml --max_user_turns 1 \
        --dataset_name org/ise-trace --dataset_revision v1.0.0 --output_dir out/qwen3-8b-lora-1turn

    # CPU smoke run on a tiny random Qwen3 (what the tests run)
    python sft/tiny.py out/tiny
    accelerate launch --num_processes 1 --cpu sft/train.py --config sft/recipes/tiny-cpu.yaml

Every recipe key can be overridden by a flag (--learning_rate 1e-4); an unknown key is an error.
`--resume_from_checkpoint PATH` (or `latest`) continues a run from its checkpoint.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

# sft_data.py (the data preparation) lives beside this script: importable however the script is
# started (python/accelerate put this folder first on sys.path; tests and benchmarks load it by path).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def make_parser():
    from trl import ModelConfig, SFTConfig, TrlParser

    from sft_data import SFTScriptArguments

    return TrlParser((SFTScriptArguments, SFTConfig, ModelConfig))


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from a recipe and flags; unknown recipe keys are errors."""
    from ise_trace.errors import ConfigError

    parser = make_parser()
    recipe = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None
    if recipe:
        check_recipe(recipe, {a.dest for a in parser._actions} | {"env"})
    try:
        return parser.parse_args_and_config(argv, fail_with_unknown_args=True)
    except ValueError as e:  # settings that contradict each other or the machine (bf16 without a GPU...)
        raise ConfigError(f"{recipe or 'flags'}: {e}") from None


def check_recipe(path: str, known: set[str]) -> None:
    """Name the file, line and key of the first unknown or malformed setting of a recipe."""
    import yaml

    from ise_trace.errors import ConfigError

    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"--config {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: a recipe is a mapping of settings (key: value)")
    for key, _ in root.value:
        if key.value not in known:
            near = difflib.get_close_matches(key.value, known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else "; see `python sft/train.py --help`"
            raise ConfigError(f"{path}:{key.start_mark.line + 1}: unknown key '{key.value}'{hint}")


def check_model(model_args, trust_remote_code: bool) -> None:
    """A model that cannot be found fails here, before the dataset is read or a GPU is touched."""
    from transformers import AutoConfig

    from ise_trace.errors import ConfigError
    from sft_data import HUB_ID

    name = model_args.model_name_or_path
    if not name:
        raise ConfigError("model_name_or_path is not set (in the recipe or as --model_name_or_path)")
    if not Path(name).expanduser().exists() and not HUB_ID.match(name):
        raise ConfigError(f"--model_name_or_path {name}: no such folder, and not a Hub id of the form org/name")
    try:
        AutoConfig.from_pretrained(name, revision=model_args.model_revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ConfigError(f"--model_name_or_path {name}: cannot load its config ({str(e).splitlines()[0]})") from None


def main(script_args, training_args, model_args) -> None:
    trainer = build_trainer(script_args, training_args, model_args)
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume in ("latest", "true") else resume)
    save(trainer, script_args, training_args)


def build_trainer(script_args, training_args, model_args, model=None):
    """Check the inputs, prepare the data on the CPU, then build the trainer; `model` skips loading one."""
    from accelerate import PartialState
    from transformers import AutoTokenizer
    from trl import SFTTrainer, get_peft_config

    import sft_data
    from ise_trace.errors import ConfigError

    state = PartialState()
    name = model_args.model_name_or_path
    check_model(model_args, training_args.trust_remote_code)
    if script_args.merge_adapter and (not model_args.use_peft or training_args.fsdp):
        raise ConfigError("--merge_adapter needs --use_peft and no FSDP (merge a sharded run's adapter afterwards)")
    tokenizer = AutoTokenizer.from_pretrained(
        name, revision=model_args.model_revision, trust_remote_code=training_args.trust_remote_code
    )
    if training_args.chat_template_path:  # a .jinja file replaces the template for training and inference
        if not Path(training_args.chat_template_path).is_file():
            raise ConfigError(f"--chat_template_path {training_args.chat_template_path}: no such .jinja file")
        tokenizer.chat_template = Path(training_args.chat_template_path).read_text(encoding="utf-8")
        training_args.chat_template_path = None
    template = sft_data.training_chat_template(tokenizer, name, training_args.assistant_only_loss)

    # Packing strategies other than bfd split overlong examples themselves: leave those whole.
    truncate_here = not (training_args.packing and training_args.packing_strategy != "bfd")
    splits = [script_args.dataset_train_split]
    if training_args.eval_strategy != "no" and script_args.dataset_test_split:
        splits.append(script_args.dataset_test_split)
    prepared = {}
    with state.main_process_first():  # rank 0 tokenizes; the others read its datasets cache
        for split in splits:
            prepared[split], report = sft_data.prepare_split(
                sft_data.load_split(script_args, split), tokenizer, script_args, split=split,
                max_length=training_args.max_length, assistant_only_loss=training_args.assistant_only_loss,
                chat_template=template, truncate_here=truncate_here, num_proc=training_args.dataset_num_proc,
            )
            for line in report.lines():
                state.print(line)

    # The labels already carry the assistant mask; TRL's own masking expects raw conversations.
    training_args.assistant_only_loss = False
    if training_args.padding_free and not training_args.packing:
        training_args.max_length = None  # enforced above; TRL refuses padding-free with a length left to enforce
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }
    return SFTTrainer(
        model=model if model is not None else name,
        args=training_args,
        train_dataset=prepared[script_args.dataset_train_split],
        eval_dataset=prepared.get(script_args.dataset_test_split),
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )


def save(trainer, script_args, training_args) -> None:
    """Adapter or model, tokenizer and chat template into output_dir; merged weights into output_dir/merged."""
    state, out = trainer.accelerator, Path(training_args.output_dir)
    trainer.save_model(str(out))
    state.print(f"saved the {'adapter' if hasattr(trainer.model, 'peft_config') else 'model'} to {out}")
    if script_args.merge_adapter:
        state.wait_for_everyone()
        if state.is_main_process:
            merged = trainer.model.merge_and_unload()
            merged.config.use_cache = True
            merged.save_pretrained(out / "merged")
            trainer.processing_class.save_pretrained(out / "merged")
            print(f"saved the merged model to {out / 'merged'}")
    if training_args.push_to_hub and not script_args.merge_adapter:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)
    elif training_args.push_to_hub and state.is_main_process:
        from huggingface_hub import HfApi

        repo = HfApi().create_repo(training_args.hub_model_id or out.name, exist_ok=True).repo_id
        HfApi().upload_folder(repo_id=repo, folder_path=out / "merged", commit_message="ise-trace SFT, merged")


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
