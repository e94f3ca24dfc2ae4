"""The structured-reply budget (string and array bounds from max_tokens) and the repair of a
reply cut off by max_tokens: pure functions, checked on their own."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from ise_trace.llm.structured import budget_schema, close_json, reply_schema, validate


class Turn(BaseModel):
    completed: bool
    query: str
    reason: str = Field(max_length=20)
    tags: list[str] = []


@pytest.mark.parametrize("max_tokens", [24, 96, 384, 2000])
def test_budget_bounds_every_free_string_and_fits_max_tokens(max_tokens):
    schema = budget_schema(Turn.model_json_schema(), max_tokens)
    props = schema["properties"]
    assert props["reason"]["maxLength"] <= 20  # only ever lowered
    assert props["tags"]["maxItems"] == 5 and props["tags"]["items"]["maxLength"] == props["query"]["maxLength"]
    # At the assumed 2.5 characters per token, the strings take at most the budget's share.
    strings = props["query"]["maxLength"] + props["reason"]["maxLength"] + 5 * props["tags"]["items"]["maxLength"]
    assert strings / 2.5 <= 0.85 * max_tokens or props["query"]["maxLength"] == 1


def test_budget_keeps_min_lengths_constants_and_the_declared_schema():
    declared = {"type": "object", "properties": {"a": {"type": "string", "minLength": 50}, "b": {"const": "x"},
                                                 "c": {"type": "string", "enum": ["p", "q"]}}}
    schema = budget_schema(declared, 8)
    assert schema["properties"]["a"]["maxLength"] == 50
    assert schema["properties"]["b"] == {"const": "x"} and "maxLength" not in schema["properties"]["c"]
    assert "maxLength" not in declared["properties"]["a"]  # a copy was changed, not the caller's
    assert reply_schema(Turn, 100, after_cut_off=False) == Turn.model_json_schema()
    tight = reply_schema(Turn, 100, after_cut_off=True)["properties"]["query"]["maxLength"]
    assert tight < budget_schema(Turn.model_json_schema(), 100)["properties"]["query"]["maxLength"]


@pytest.mark.parametrize(
    ("cut", "closed"),
    [
        ('{"query": "list the fi', {"query": "list the fi"}),
        ('{"completed": false, "query": "x", "reason": tr', {"completed": False, "query": "x"}),
        ('{"completed": true, "tags": ["a", "b', {"completed": True, "tags": ["a", "b"]}),
        ('{"completed": true, "query"', {"completed": True}),
        ('{"completed": true, "n": 12', {"completed": True, "n": 12}),
        ('{"query": "tab\\', {"query": "tab"}),
        ('{"query": "\\u00', {"query": ""}),
        ('{"a": {"b": [1, {"c": "d', {"a": {"b": [1, {"c": "d"}]}}),
    ],
)
def test_cut_off_json_is_closed(cut, closed):
    assert json.loads(close_json(cut)) == closed


def test_text_that_is_not_cut_off_json_is_left_alone():
    for text in ('{"a": 1}', "plain words", '{"a": 1}}'):
        assert close_json(text) == text


def test_validate_accepts_a_cut_off_reply_that_closes_into_a_valid_one():
    turn, problem = validate('{"completed": true, "query": "check the log", "reason": "it fail', Turn)
    assert problem == "" and turn.reason == "it fail"
    turn, problem = validate('{"completed": true, "query": "check the lo', Turn)
    assert turn is None and "reason" in problem
