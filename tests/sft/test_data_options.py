"""The data options users of the corpus need: outcome filter, the first-N-user-turns ablation,
the max-length policy and its report, and rows stored with JSON strings instead of objects."""

from __future__ import annotations

import json

import pytest

from sft_data import (
    IGNORE_INDEX,
    SFTScriptArguments,
    first_user_turns,
    load_split,
    normalise_messages,
    normalise_tools,
    prepare_split,
)

CONVERSATION = [
    {"role": "system", "content": "s"},
    {"role": "user", "content": "u1"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "exec", "arguments": {"command": "ls"}}}]},
    {"role": "tool", "tool_call_id": "c1", "name": "exec", "content": "a.txt"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "u2"},
    {"role": "assistant", "content": "a2"},
    {"role": "user", "content": "u3"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c2", "type": "function", "function": {"name": "exec", "arguments": {"command": "pwd"}}}]},
    {"role": "tool", "tool_call_id": "c2", "name": "exec", "content": "/w"},
]


@pytest.mark.parametrize(
    ("n", "last"),
    [(1, "a1"), (2, "a2"), (3, None), (9, None)],
)
def test_first_user_turns_keeps_n_user_turns_and_ends_on_the_agent(n, last):
    kept = first_user_turns(CONVERSATION, n)
    assert sum(m["role"] == "user" for m in kept) == min(n, 3)
    assert kept[-1]["role"] == "assistant"
    assert kept == CONVERSATION[: len(kept)]
    if last is not None:
        assert kept[-1]["content"] == last
    else:  # the unanswered tool result at the very end is cut back to the call that caused it
        assert kept[-1]["tool_calls"][0]["id"] == "c2"


def test_rows_with_nulls_and_json_string_arguments_become_template_ready_messages():
    row = [
        {"role": "user", "content": "hi", "tool_calls": None, "tool_call_id": None, "reasoning_content": None},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "read", "arguments": '{"path": "a b.txt"}'}},
        ]},
    ]
    assert normalise_messages(row) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "read", "arguments": {"path": "a b.txt"}}}]},
    ]
    schema = {"type": "function", "function": {"name": "read"}}
    assert normalise_tools([json.dumps(schema)]) == [schema] == normalise_tools(json.dumps([schema]))
    assert normalise_tools([]) is None


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny.model)


def _prepare(tiny, tokenizer, max_length=None, **options):
    from trl.chat_template_utils import qwen3_training_chat_template

    args = SFTScriptArguments(dataset_name=str(tiny.dataset), **options)
    return prepare_split(
        load_split(args, "train"), tokenizer, args, split="train", max_length=max_length,
        assistant_only_loss=True, chat_template=qwen3_training_chat_template,
    )


def test_outcome_filter_keeps_successes_or_everything(tiny, tokenizer):
    _, success = _prepare(tiny, tokenizer)
    _, every = _prepare(tiny, tokenizer, outcomes="all")
    assert (success.loaded, success.kept_by_outcome, success.examples) == (8, 6, 6)
    assert (every.kept_by_outcome, every.examples) == (8, 8)


def test_truncation_ablation_yields_the_first_user_turns(tiny, tokenizer):
    """The tiny set holds trajectories of 1, 2 and 3 user turns (trajectory i has 1 + i % 3)."""
    full, _ = _prepare(tiny, tokenizer, outcomes="all")
    one, report = _prepare(tiny, tokenizer, outcomes="all", max_user_turns=1)
    two, _ = _prepare(tiny, tokenizer, outcomes="all", max_user_turns=2)
    assert report.max_user_turns == 1 and "cut to the first 1 user turn(s)" in report.lines()[0]
    for i in range(8):
        turns = {k: tokenizer.decode(ds[i]["input_ids"]).count("<|im_start|>user\nTurn ") for k, ds in
                 (("full", full), ("one", one), ("two", two))}
        assert turns == {"full": 1 + i % 3, "one": 1, "two": min(2, 1 + i % 3)}
        text = tokenizer.decode(one[i]["input_ids"])
        assert text.endswith("was read.<|im_end|>\n") or text.endswith("was missing.<|im_end|>\n")
        assert "Turn 2" not in text


@pytest.mark.parametrize("policy", ["truncate", "drop"])
def test_max_length_policy_and_its_report(tiny, tokenizer, policy):
    whole, _ = _prepare(tiny, tokenizer, outcomes="all")
    lengths = [len(ids) for ids in whole["input_ids"]]
    limit = sorted(lengths)[len(lengths) // 2]  # about half the examples are longer
    longer = sum(n > limit for n in lengths)
    ds, report = _prepare(tiny, tokenizer, max_length=limit, outcomes="all", overlong=policy)
    assert report.overlong == longer > 0
    assert all(len(ids) <= limit for ids in ds["input_ids"])
    assert all(any(label != IGNORE_INDEX for label in labels) for labels in ds["labels"])
    verb = "truncated" if policy == "truncate" else "dropped"
    assert f"max_length {limit}: {longer} examples" in "\n".join(report.lines())
    assert f"were longer and {verb}" in "\n".join(report.lines())
    if policy == "drop":
        assert report.examples == 8 - longer
    else:
        assert report.examples + report.emptied == 8
    assert report.tokens == sum(len(ids) for ids in ds["input_ids"])


def test_folders_with_the_same_name_or_rebuilt_in_place_load_their_own_rows(tmp_path):
    """`datasets` caches a folder's named configs by the folder's base name; training must not see stale rows."""
    import os

    from .launch import load_script

    tiny = load_script("tiny")
    a, b = tmp_path / "a" / "ise-trace", tmp_path / "b" / "ise-trace"
    tiny.write_dataset(a, tiny.tiny_trajectories(5))
    tiny.write_dataset(b, tiny.tiny_trajectories(7))
    count = lambda folder: len(load_split(SFTScriptArguments(dataset_name=str(folder), outcomes="all"), "train"))  # noqa: E731
    assert (count(a), count(b)) == (5, 7)
    tiny.write_dataset(a, tiny.tiny_trajectories(3))
    shard = next((a / "data" / "trajectories").glob("*.parquet"))
    os.utime(shard, (shard.stat().st_atime, shard.stat().st_mtime + 5))  # a later build, even within the same second
    assert count(a) == 3


def test_verified_outcomes_keep_only_trajectories_whose_checks_passed(tmp_path, tokenizer, tiny):
    """A verified trajectory, a false success (simulator said success, checks failed) and an
    unverified one: --outcomes verified keeps only the first; an empty result is one clear error."""
    from trl.chat_template_utils import qwen3_training_chat_template

    from ise_trace.schemas import CheckResult, Verification
    from sft_data import SFTDataError
    from tests.sft.conftest import load_script

    tiny_mod = load_script("tiny")
    trajectories = tiny_mod.tiny_trajectories(n=3)
    for t in trajectories:
        t.outcome = t.outcome.model_copy(update={"status": "success"})
    trajectories[0].verification = Verification(passed=True, checks=[CheckResult(name="c", passed=True, exit_code=0)])
    trajectories[1].verification = Verification(passed=False, checks=[CheckResult(name="c", passed=False, exit_code=1)])
    folder = tiny_mod.write_dataset(tmp_path / "ds", trajectories)
    args = SFTScriptArguments(dataset_name=str(folder), outcomes="verified")
    ds, report = prepare_split(load_split(args, "train"), tokenizer, args, split="train", max_length=None,
                               assistant_only_loss=True, chat_template=qwen3_training_chat_template)
    assert (report.loaded, report.kept_by_outcome) == (3, 1)
    success = SFTScriptArguments(dataset_name=str(folder), outcomes="success")
    _, report = prepare_split(load_split(success, "train"), tokenizer, success, split="train", max_length=None,
                              assistant_only_loss=True, chat_template=qwen3_training_chat_template)
    assert report.kept_by_outcome == 3

    none_pass = tiny_mod.write_dataset(tmp_path / "none", trajectories[1:])
    args = SFTScriptArguments(dataset_name=str(none_pass), outcomes="verified")
    with pytest.raises(SFTDataError, match="none of the 2 trajectories is kept by --outcomes verified; pass --outcomes success"):
        prepare_split(load_split(args, "train"), tokenizer, args, split="train", max_length=None,
                      assistant_only_loss=True, chat_template=qwen3_training_chat_template)
