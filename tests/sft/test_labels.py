"""The trainer's labels carry loss on the agent's turns only, checked token by token against the
conversation as the chat template renders it, tool calls included."""

from __future__ import annotations

import re

import pytest

from sft_data import IGNORE_INDEX, SFTScriptArguments, load_split, normalise_messages, normalise_tools

from .launch import tiny_args

# an assistant turn as Qwen3's templates render it: the header, then the body up to and including
# its end-of-turn token and newline; the body is what the model must learn to produce
ASSISTANT_TURN = re.compile(r"<\|im_start\|>assistant\n(.*?<\|im_end\|>\n)", re.S)


@pytest.fixture(scope="module")
def trainer(tiny, train_script, tmp_path_factory):
    # max_length large enough that nothing is truncated: every turn is checked
    argv = tiny_args(tiny, tmp_path_factory.mktemp("labels"), "--max_length", "4096")
    return train_script.build_trainer(*train_script.parse(argv))


def _expected_labels(tokenizer, text: str) -> tuple[list[int], list[int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans = [m.span(1) for m in ASSISTANT_TURN.finditer(text)]
    labels = [
        tok if any(a <= start and end <= b for a, b in spans) else IGNORE_INDEX
        for tok, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
    return enc["input_ids"], labels


def test_labels_match_the_assistant_spans_of_the_rendered_conversation(trainer, tiny):
    from trl.chat_template_utils import qwen3_training_chat_template

    tokenizer = trainer.processing_class
    rows = load_split(SFTScriptArguments(dataset_name=str(tiny.dataset)), "train")
    rows = rows.filter(lambda o: o["status"] == "success", input_columns=["outcome"])
    assert len(trainer.train_dataset) == len(rows) == 6
    for row, example in zip(rows, trainer.train_dataset, strict=True):
        text = tokenizer.apply_chat_template(
            normalise_messages(row["messages"]), tools=normalise_tools(row["tools"]),
            chat_template=qwen3_training_chat_template, tokenize=False,
        )
        ids, labels = _expected_labels(tokenizer, text)
        assert example["input_ids"] == ids
        assert example["labels"] == labels
        trained = tokenizer.decode([t for t in example["labels"] if t != IGNORE_INDEX])
        masked = tokenizer.decode([t for t, l in zip(ids, example["labels"]) if l == IGNORE_INDEX])
        # the agent's tool calls, with their arguments as JSON objects, carry loss ...
        call = row["messages"][2]["tool_calls"][0]["function"]
        assert f'<tool_call>\n{{"name": "{call["name"]}", "arguments": ' in trained
        assert next(iter(call["arguments"].values())) in trained
        # ... while the system prompt, tool schemas, user turns and tool results do not
        assert "<tool_response>" in masked and "<tool_response>" not in trained
        assert "# Tools" in masked and row["messages"][1]["content"] in masked
        assert trained.count("<|im_end|>") == sum(m["role"] == "assistant" for m in row["messages"])


def test_collated_batch_pads_labels_with_the_ignore_index(trainer):
    rows = [trainer.train_dataset[i] for i in range(3)]
    batch = trainer.data_collator(rows)
    width = batch["labels"].shape[1]
    for i, row in enumerate(rows):
        n = len(row["labels"])
        assert batch["labels"][i, :n].tolist() == row["labels"]
        assert batch["labels"][i, n:].tolist() == [IGNORE_INDEX] * (width - n)
        assert batch["attention_mask"][i].sum().item() == n
