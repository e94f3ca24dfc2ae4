"""`ise-trace build` output: the folder layout, the card, and loading it the ways users do."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest
import yaml

from ise_trace.dataset.features import trajectory_features
from ise_trace.dataset.ledger import RunDir
from ise_trace.dataset.splits import split_of
from tests.dataset.conftest import N_INTENTS, N_TRAJECTORIES


def _front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme[4 : readme.index("\n---", 4)])


def test_folder_has_sharded_parquet_per_config_and_split(built):
    out = built.out
    shards = sorted(p.name for p in (out / "data" / "trajectories").iterdir())
    train = [s for s in shards if s.startswith("train-")]
    assert len(train) > 1, "the small shard bound should have split train into several shards"
    n = len(train)
    fingerprint = train[0].removesuffix(".parquet").rsplit("-", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{12}", fingerprint)
    assert train == [f"train-{i:05d}-of-{n:05d}-{fingerprint}.parquet" for i in range(n)]
    assert not [s for s in shards if "partial" in s or s.startswith(".")]
    rows = sum(pq.ParquetFile(out / "data" / "trajectories" / s).metadata.num_rows for s in shards)
    assert rows == N_TRAJECTORIES
    intent_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "data" / "intents").glob("*.parquet"))
    assert intent_rows == N_INTENTS


def test_shards_stay_near_the_size_bound(built, small_build):
    bound = small_build.max_shard_mb * 1024 * 1024
    for path in (built.out / "data" / "trajectories").glob("*.parquet"):
        arrow_bytes = pq.read_table(path).nbytes
        # a shard closes after the batch that passes the bound, so it exceeds it by less than a batch
        assert arrow_bytes < 2 * bound + 2 * 1024 * 1024, path.name


def test_splits_follow_the_stable_hash_of_the_intent_id(built, small_build):
    for path in (built.out / "data" / "trajectories").glob("*.parquet"):
        split = path.name.split("-")[0]
        for intent in pq.read_table(path, columns=["intent"]).column("intent").to_pylist():
            assert split_of(intent["id"], small_build.validation_fraction, small_build.test_fraction) == split
    # the split of an id depends on nothing else, so it is the same in any corpus
    assert split_of("abc", 0.05, 0.05) == split_of("abc", 0.05, 0.05)
    shares = [split_of(f"id-{i}", 0.1, 0.2) for i in range(4000)]
    assert abs(shares.count("test") / 4000 - 0.2) < 0.03
    assert abs(shares.count("validation") / 4000 - 0.1) < 0.03


def test_card_declares_configs_features_and_the_glance_table(built):
    readme = (built.out / "README.md").read_text()
    meta = _front_matter(readme)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert configs["trajectories"]["default"] is True
    for config in ("trajectories", "intents"):
        for entry in configs[config]["data_files"]:
            # each split's glob names exactly its own shards, fingerprint included
            matched = sorted(p.relative_to(built.out).as_posix() for p in built.out.glob(entry["path"]))
            assert matched == sorted(built.files[config][entry["split"]])
            assert re.fullmatch(rf"data/{config}/{entry['split']}-\*-[0-9a-f]{{12}}\.parquet", entry["path"])
    assert "intents" in configs
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert sum(s["num_examples"] for s in infos["trajectories"]["splits"]) == N_TRAJECTORIES
    assert meta["license"] == "apache-2.0"
    s = built.stats
    assert f"| User turns (mean / median / max) | {s.user_turns.mean:.2f} / {s.user_turns.median:g} / {s.user_turns.max} | 8.12 / 8 / 23 |" in readme
    assert f"| Trajectories | {N_TRAJECTORIES} | 23,132 |" in readme
    assert "| Vendi score (intents) | n/a | 61.57 |" in readme
    assert "`synthetic-agent` (60)" in readme  # provenance
    assert '"run_key": "synthetic"' in readme  # run.json
    for section in ("## How it was made", "## Licence", "## Limitations", "## Provenance"):
        assert section in readme


def test_plots_are_png_files_referenced_by_the_card(built):
    readme = (built.out / "README.md").read_text()
    pngs = sorted((built.out / "assets").glob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(assets/{png.name})" in readme


def test_load_dataset_from_the_parent_folder_by_name(built, tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.chdir(built.out.parent)
    ds = load_dataset("ise-trace", cache_dir=str(tmp_path / "cache"))
    assert set(ds) <= {"train", "validation", "test"}
    assert sum(len(d) for d in ds.values()) == N_TRAJECTORIES
    assert ds["train"].features == trajectory_features()
    intents = load_dataset("ise-trace", "intents", cache_dir=str(tmp_path / "cache"))
    assert sum(len(d) for d in intents.values()) == N_INTENTS


def test_rows_read_back_exactly_with_arguments_as_objects(built, run_dir, tmp_path):
    from datasets import concatenate_datasets, load_dataset

    ds = load_dataset(str(built.out), cache_dir=str(tmp_path / "cache"))
    rows = {r["id"]: r for r in concatenate_datasets(list(ds.values()))}
    for t in RunDir(run_dir).trajectories():
        row = rows[t.id]
        want = t.model_dump(mode="json")
        for got_m, want_m in zip(row["messages"], want["messages"], strict=True):
            # the Arrow struct pads each message with the other roles' keys as nulls
            assert {k: v for k, v in got_m.items() if k in want_m} == want_m
            for tc in got_m["tool_calls"] or ():
                assert isinstance(tc["function"]["arguments"], dict)
        assert row["tools"] == want["tools"] and isinstance(row["tools"][0], dict)
        assert row["provenance"]["seeds"] == want["provenance"]["seeds"]
        assert row["executions"] == want["executions"]
        assert row["stats"] == want["stats"]


def test_streaming_yields_the_same_rows(built, tmp_path):
    from datasets import load_dataset

    stream = load_dataset(str(built.out), split="train", streaming=True)
    first = next(iter(stream))
    table = load_dataset(str(built.out), split="train", cache_dir=str(tmp_path / "cache"))
    assert first["id"] == table[0]["id"]
    call = next(tc for m in first["messages"] for tc in (m["tool_calls"] or ()))
    assert isinstance(call["function"]["arguments"], dict)
    assert sum(1 for _ in stream) == len(table)


# A tool-aware chat template in the style of Qwen/Hermes templates (tools and arguments through
# `tojson`): the way chat templates consume `tools` and tool-call `arguments`.
TOOL_TEMPLATE = """{%- if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>
{% endif %}
{%- for m in messages %}<|{{ m.role }}|>{% if m.content %}{{ m.content }}{% endif %}
{%- if m.tool_calls %}{% for tc in m.tool_calls %}<tool_call>{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}</tool_call>{% endfor %}{% endif %}
{% endfor %}"""


def test_rows_render_through_a_tokenizer_chat_template_with_tools(built, tmp_path):
    """Rows go to `apply_chat_template(messages, tools=tools)` as they are, which is what TRL's
    SFTTrainer does with a conversational dataset that has a `tools` column."""
    from datasets import load_dataset
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    raw.pre_tokenizer = Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    tok.chat_template = TOOL_TEMPLATE

    row = load_dataset(str(built.out), split="train", cache_dir=str(tmp_path / "cache"))[0]
    text = tok.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
    call = next(tc for m in row["messages"] for tc in (m["tool_calls"] or ()))
    rendered_args = json.dumps(call["function"]["arguments"], ensure_ascii=False)
    assert f'"arguments": {rendered_args}' in text  # an object, encoded once
    assert '"arguments": "{' not in text  # never a JSON string encoded a second time
    assert '{"type": "function", "function": {"name": "exec"' in text
    assert text.count("<|user|>") == sum(m["role"] == "user" for m in row["messages"])


@pytest.mark.parametrize("column", ["messages", "tools"])
def test_parquet_schema_carries_the_json_extension_type(built, column):
    path = next((built.out / "data" / "trajectories").glob("train-*.parquet"))
    meta = json.loads(pq.read_schema(path).metadata[b"huggingface"])
    assert "Json" in json.dumps(meta["info"]["features"][column])
