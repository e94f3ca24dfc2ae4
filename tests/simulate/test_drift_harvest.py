"""drift_harvest: raw turns of the real embedded simulator model, kept before any drift check."""

from __future__ import annotations

import asyncio
import json

import pytest

from ise_trace.config import LLMConfig, SimulateConfig
from ise_trace.simulate.drift_harvest import harvest


@pytest.mark.slow
def test_harvest_writes_openings_and_replies_and_a_rerun_adds_only_what_is_missing(tmp_path):
    out = tmp_path / "turns.jsonl"
    config = SimulateConfig(user_max_tokens=48)
    asyncio.run(harvest(2, out, seed=3, config=config, llm=LLMConfig()))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows, "the embedded model wrote no turn"
    assert all(r["text"].strip() and r["intent_id"] and r["persona"] for r in rows)
    assert {r["digest"] for r in rows} <= {None, "ok", "failed", "recovered", "nothing"}
    assert rows[0]["index"] == 0 and rows[0]["digest"] is None  # an even index is an opening message
    before = out.read_text(encoding="utf-8")
    asyncio.run(harvest(2, out, seed=3, config=config, llm=LLMConfig()))
    after = out.read_text(encoding="utf-8")
    assert after.startswith(before)
    indices = [json.loads(line)["index"] for line in after.splitlines()]
    assert len(indices) == len(set(indices))  # nothing written twice
