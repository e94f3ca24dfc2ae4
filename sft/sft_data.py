"""ise-trace trajectories -> token ids and labels for TRL's `SFTTrainer`.

`sft/train.py` keeps to the TRL script shape and imports this module from beside itself
(`import sft_data`; the scripts' folder is on sys.path); everything between the dataset and the
trainer lives here so it can be tested on a CPU: loading a built folder or a Hub revision with clear
errors, keeping successful trajectories, the paper's first-N-user-turns ablation, rendering
`messages` + `tools` through the chat template with the assistant mask, and the max-length
policy with a report of what it cut or dropped.

We tokenize here rather than inside `SFTTrainer` so the report counts exactly what training
sees; the trainer receives `input_ids` + `labels` and only packs, pads and trains.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ise_trace.errors import UserError

IGNORE_INDEX = -100  # label of a token that carries no loss (PyTorch's cross-entropy default)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class SFTDataError(UserError):
    """A dataset, split, revision or chat template the SFT script cannot use."""


@dataclass
class SFTScriptArguments:
    """Which ise-trace data to train on and how to cut it; parsed next to SFTConfig and ModelConfig."""

    dataset_name: str = field(
        default="ise-trace",
        metadata={"help": "A folder written by `ise-trace build`, or a Hub dataset id such as org/ise-trace."},
    )
    dataset_config: str = field(default="trajectories", metadata={"help": "Dataset config to train on."})
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Hub tag, branch or commit of the dataset, e.g. v1.0.0 (Hub ids only)."}
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str | None = field(
        default=None, metadata={"help": "Split to evaluate on when eval_strategy is not 'no', e.g. validation."}
    )
    outcomes: str = field(
        default="success",
        metadata={
            "help": "Keep trajectories whose checks passed on the final workspace (verified), whose simulated user "
            "said success (success), or all of them.",
            "choices": ["verified", "success", "all"],
        },
    )
    max_user_turns: int | None = field(
        default=None,
        metadata={"help": "Cut each trajectory after the agent's answer to its first N user turns (paper's ablation: 1)."},
    )
    overlong: str = field(
        default="truncate",
        metadata={"help": "Examples longer than max_length: truncate them or drop them.", "choices": ["truncate", "drop"]},
    )
    merge_adapter: bool = field(
        default=False, metadata={"help": "Merge the LoRA adapter into the base weights and save the full model."}
    )


# --------------------------------------------------------------------------- loading


def load_split(args: SFTScriptArguments, split: str):
    """Load one split of the dataset, turning every way it can be missing into one clear message."""
    import datasets

    folder = Path(args.dataset_name).expanduser()
    if folder.is_dir():
        if args.dataset_revision:
            raise SFTDataError(
                f"--dataset_revision {args.dataset_revision}: {folder} is a local folder, which has no revisions; "
                "drop the flag, or give the Hub id of the dataset"
            )
        source, where_ = str(folder), str(folder)
    elif HUB_ID.match(args.dataset_name):
        check_hub_revision(args.dataset_name, args.dataset_revision)
        source, where_ = args.dataset_name, f"{args.dataset_name}@{args.dataset_revision or 'main'}"
    else:
        raise SFTDataError(
            f"--dataset_name {args.dataset_name}: no such folder (build one with `ise-trace build`), "
            "and not a Hub id of the form org/name"
        )
    # The builder's layout is read file by file: `datasets` caches a folder's named configs under the
    # folder's base name and a hash of its card's YAML, so a folder whose `configs:` globs carry no
    # content fingerprint (older builds, hand-written cards) would load stale rows once rebuilt.
    shards = sorted((folder / "data" / args.dataset_config).glob(f"{split}-*.parquet")) if folder.is_dir() else []
    try:
        if shards:
            ds = datasets.load_dataset("parquet", data_files={split: [str(p.resolve()) for p in shards]}, split=split)
        else:
            ds = datasets.load_dataset(source, name=args.dataset_config, revision=args.dataset_revision, split=split)
    except (ValueError, FileNotFoundError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as e:
        raise SFTDataError(f"{where_}: cannot load config '{args.dataset_config}', split '{split}': {e}") from None
    if "messages" not in ds.column_names:
        raise SFTDataError(
            f"{where_} (config '{args.dataset_config}', split '{split}'): no 'messages' column "
            f"(columns: {', '.join(ds.column_names)}); SFT needs the trajectories config written by `ise-trace build`"
        )
    if args.outcomes == "success" and "outcome" not in ds.column_names:
        raise SFTDataError(f"{where_}: no 'outcome' column to keep successes by; pass --outcomes all")
    if args.outcomes == "verified" and "verification" not in ds.column_names:
        raise SFTDataError(
            f"{where_}: no 'verification' column (a dataset built before executable tasks); pass --outcomes success or all"
        )
    return ds


def check_hub_revision(repo_id: str, revision: str | None) -> None:
    """Fail early, naming the tags that do exist, when a Hub dataset or its revision is missing.

    Offline the Hub cannot be asked; `load_dataset` then reports what its cache lacks.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if constants.HF_HUB_OFFLINE:
        return
    api = HfApi()
    try:
        api.dataset_info(repo_id, revision=revision)
    except RevisionNotFoundError:
        raise SFTDataError(f"--dataset_revision {revision}: {repo_id} has no such revision ({_refs(api, repo_id)})") from None
    except RepositoryNotFoundError:
        raise SFTDataError(
            f"--dataset_name {repo_id}: no such dataset on the Hub (if it is private, log in with `hf auth login`)"
        ) from None
    except (HfHubHTTPError, OSError) as e:
        raise SFTDataError(f"--dataset_name {repo_id}: cannot reach the Hub to check it ({e})") from None


def _refs(api, repo_id: str) -> str:
    try:
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except Exception:  # the listing only decorates the message; the missing revision is the error
        return "could not list its tags"
    tags = ", ".join(t.name for t in refs.tags) or "none"
    branches = ", ".join(b.name for b in refs.branches) or "none"
    return f"tags: {tags}; branches: {branches}"


# --------------------------------------------------------------------------- one trajectory


def normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: no null keys, tool-call arguments as objects.

    Parquet rows carry every key of every role (nulls where absent), and a dataset written
    without `Json()` features holds arguments as JSON strings, which templates would quote twice.
    """
    out = []
    for m in messages:
        m = {k: v for k, v in m.items() if v is not None}
        if m.get("tool_calls"):
            m["tool_calls"] = [_normalise_call(tc) for tc in m["tool_calls"]]
        else:
            m.pop("tool_calls", None)
        out.append(m)
    return out


def _normalise_call(call: dict[str, Any]) -> dict[str, Any]:
    call = {k: v for k, v in call.items() if v is not None}
    fn = dict(call.get("function") or {})
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            pass  # a model's malformed arguments are kept verbatim: that is what it emitted
    fn["arguments"] = {} if args is None else args
    call["function"] = fn
    return call


def normalise_tools(tools: list[Any] | str | None) -> list[dict[str, Any]] | None:
    """Tool schemas as a list of objects, or None when the agent had none."""
    if isinstance(tools, str):
        tools = json.loads(tools)
    if not tools:
        return None
    return [json.loads(t) if isinstance(t, str) else t for t in tools]


def first_user_turns(messages: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Keep the conversation up to the agent's last reply before user turn n+1.

    A cut that would end on a tool result or user turn is moved back to the last assistant
    message, so every kept example ends with something the agent said.
    """
    seen = 0
    end = len(messages)
    for i, m in enumerate(messages):
        if m["role"] == "user":
            seen += 1
            if seen > n:
                end = i
                break
    kept = messages[:end]
    while kept and kept[-1]["role"] != "assistant":
        kept.pop()
    return kept


# --------------------------------------------------------------------------- the whole split


@dataclass
class PreparationReport:
    """What preparation did to one split, printed before training starts."""

    split: str
    loaded: int
    outcomes: str
    kept_by_outcome: int
    max_user_turns: int | None
    no_assistant_turn: int  # dropped: nothing the agent said survived the turn cut
    max_length: int | None
    overlong_policy: str
    overlong: int  # longer than max_length before the policy applied
    emptied: int  # dropped: truncation left no trained token
    examples: int
    tokens: int
    trained_tokens: int

    def lines(self) -> list[str]:
        turns = f", cut to the first {self.max_user_turns} user turn(s)" if self.max_user_turns else ""
        out = [
            f"[{self.split}] {self.loaded} trajectories; {self.kept_by_outcome} kept by outcome ({self.outcomes}){turns}",
        ]
        if self.no_assistant_turn:
            out.append(f"[{self.split}] dropped {self.no_assistant_turn} with no assistant turn left")
        if self.max_length is not None:
            share = 100.0 * self.overlong / max(self.kept_by_outcome, 1)
            verb = "truncated" if self.overlong_policy == "truncate" else "dropped"
            out.append(
                f"[{self.split}] max_length {self.max_length}: {self.overlong} examples ({share:.1f}%) were longer "
                f"and {verb}; {self.emptied} dropped with no trained token left"
            )
        out.append(
            f"[{self.split}] {self.examples} examples, {self.tokens} tokens, "
            f"{self.trained_tokens} with loss ({100.0 * self.trained_tokens / max(self.tokens, 1):.1f}%)"
        )
        return out


def _tokenize(example, tokenizer, chat_template, max_user_turns, assistant_only_loss):
    messages = normalise_messages(example["messages"])
    if max_user_turns:
        messages = first_user_turns(messages, max_user_turns)
    if not any(m["role"] == "assistant" for m in messages):
        return {"input_ids": [], "labels": [], "num_tokens": 0}
    out = tokenizer.apply_chat_template(
        messages,
        tools=normalise_tools(example.get("tools")),
        chat_template=chat_template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=assistant_only_loss,
    )
    ids = list(out["input_ids"])
    if assistant_only_loss:
        labels = [t if keep else IGNORE_INDEX for t, keep in zip(ids, out["assistant_masks"], strict=True)]
    else:
        labels = list(ids)
    return {"input_ids": ids, "labels": labels, "num_tokens": len(ids)}


def _cut(example, max_length):
    return {"input_ids": example["input_ids"][:max_length], "labels": example["labels"][:max_length]}


def _has_loss(labels) -> bool:
    return any(label != IGNORE_INDEX for label in labels)


def prepare_split(
    ds,
    tokenizer,
    args: SFTScriptArguments,
    *,
    split: str,
    max_length: int | None,
    assistant_only_loss: bool,
    chat_template: str | None,
    truncate_here: bool = True,
    num_proc: int | None = None,
):
    """Filter, cut and tokenize one split; returns (dataset of input_ids + labels, report).

    `truncate_here=False` leaves overlong examples whole for packing strategies that split them.
    """
    loaded = len(ds)
    if args.outcomes == "success":
        ds = ds.filter(lambda o: o is not None and o["status"] == "success", input_columns=["outcome"], num_proc=num_proc)
    elif args.outcomes == "verified":
        ds = ds.filter(lambda v: v is not None and v["passed"] is True, input_columns=["verification"], num_proc=num_proc)
    kept = len(ds)
    if kept == 0 and loaded:
        wider = {"verified": "--outcomes success or --outcomes all", "success": "--outcomes all"}.get(args.outcomes)
        raise SFTDataError(
            f"[{split}] none of the {loaded} trajectories is kept by --outcomes {args.outcomes}"
            + (f"; pass {wider}, or build a larger dataset" if wider else "")
        )
    ds = ds.map(
        _tokenize,
        fn_kwargs={
            "tokenizer": tokenizer,
            "chat_template": chat_template,
            "max_user_turns": args.max_user_turns,
            "assistant_only_loss": assistant_only_loss,
        },
        remove_columns=ds.column_names,
        num_proc=num_proc,
        desc=f"Rendering and tokenizing {split}",
    )
    ds = ds.filter(lambda n: n > 0, input_columns=["num_tokens"], num_proc=num_proc)
    no_assistant = kept - len(ds)
    overlong = 0
    if max_length is not None:
        overlong = sum(n > max_length for n in ds["num_tokens"])
        if args.overlong == "drop":
            ds = ds.filter(lambda n: n <= max_length, input_columns=["num_tokens"], num_proc=num_proc)
        elif overlong and truncate_here:
            ds = ds.map(_cut, fn_kwargs={"max_length": max_length}, num_proc=num_proc, desc=f"Truncating {split}")
    before = len(ds)
    ds = ds.filter(_has_loss, input_columns=["labels"], num_proc=num_proc)
    if before and not len(ds):
        raise SFTDataError(
            f"[{split}] no assistant token is left to train on after cutting at max_length {max_length}: the system "
            "prompt and tool schemas fill it; raise --max_length (the demo's trajectories need about 2048)"
        )
    ds = ds.select_columns(["input_ids", "labels"])
    tokens = trained = 0
    for labels in ds["labels"]:
        tokens += len(labels)
        trained += sum(label != IGNORE_INDEX for label in labels)
    report = PreparationReport(
        split=split,
        loaded=loaded,
        outcomes=args.outcomes,
        kept_by_outcome=kept,
        max_user_turns=args.max_user_turns,
        no_assistant_turn=no_assistant,
        max_length=max_length,
        overlong_policy=args.overlong,
        overlong=overlong,
        emptied=before - len(ds),
        examples=len(ds),
        tokens=tokens,
        trained_tokens=trained,
    )
    if not len(ds):
        raise SFTDataError(f"split '{split}': no example left to train on ({'; '.join(report.lines())})")
    return ds, report


def training_chat_template(tokenizer, model_name: str, assistant_only_loss: bool) -> str | None:
    """The template to render training examples with; None means the tokenizer's own.

    Loss on assistant turns needs `{% generation %}` markers; TRL ships marked, prefix-preserving
    variants of the templates of Qwen3 and other families, matched by the exact template text.
    """
    if not tokenizer.chat_template:
        raise SFTDataError(f"{model_name}: the tokenizer has no chat template; use a chat model or --chat_template_path")
    if not assistant_only_loss:
        return None
    from trl.chat_template_utils import get_training_chat_template

    try:
        return get_training_chat_template(tokenizer)
    except ValueError:
        raise SFTDataError(
            f"{model_name}: its chat template has no {{% generation %}} markers and TRL has no training variant "
            "of it; give --chat_template_path a .jinja file with markers, or set --assistant_only_loss false"
        ) from None
