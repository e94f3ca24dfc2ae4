"""What TRL's `environment_factory` reads off `TaskEnvironment`, checked without Docker: the tools it
exposes (public methods), their schemas against the SFT data's, and where the settings come from."""

from __future__ import annotations

import inspect
import json

import pytest

from ise_trace.errors import ConfigError
from ise_trace.execute import TOOL_SCHEMAS
from ise_trace.rl import CONFIG_ENV, TaskEnvironment
from ise_trace.rl.config import config_from_env


def exposed_tools() -> list[str]:
    """The methods GRPOTrainer turns into tools (its own rule: public functions on the class, bar two)."""
    return [n for n, _ in inspect.getmembers(TaskEnvironment, predicate=inspect.isfunction)
            if n not in ("reset", "get_reward") and not n.startswith("_")]


def test_trl_exposes_exactly_the_seven_tools():
    assert sorted(exposed_tools()) == sorted(t["function"]["name"] for t in TOOL_SCHEMAS)
    assert inspect.signature(TaskEnvironment).parameters == {}  # the factory is called with no arguments


@pytest.mark.parametrize("schema", TOOL_SCHEMAS, ids=lambda s: s["function"]["name"])
def test_tool_schemas_match_the_ones_the_sft_data_was_made_with(schema):
    from transformers.utils import get_json_schema

    want = schema["function"]
    got = get_json_schema(getattr(TaskEnvironment(), want["name"]))["function"]
    assert got["description"] == want["description"]
    assert got["parameters"].get("required", []) == want["parameters"]["required"]
    assert list(got["parameters"]["properties"]) == list(want["parameters"]["properties"])
    for name, prop in want["parameters"]["properties"].items():
        assert got["parameters"]["properties"][name]["type"] == prop["type"]
        assert got["parameters"]["properties"][name]["description"] == prop["description"]


def test_tools_and_reward_before_reset():
    env = TaskEnvironment()
    assert env.exec("ls").startswith("error: no workspace")
    with pytest.raises(RuntimeError, match="before reset"):
        env.get_reward()


def test_settings_from_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(CONFIG_ENV, json.dumps({"partial_credit": True, "sandbox": {"memory": "2g"}}))
    c = config_from_env()
    assert c.partial_credit and c.sandbox.memory == "2g"
    (tmp_path / "rl.yaml").write_text("tool_output_chars: 500\ntasks: {check_timeout_s: 5}\n")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "rl.yaml"))
    c = config_from_env()
    assert c.tool_output_chars == 500 and c.tasks.check_timeout_s == 5
    monkeypatch.setenv(CONFIG_ENV, json.dumps({"partial_credits": True}))
    with pytest.raises(ConfigError, match="field 'partial_credits': Extra inputs are not permitted"):
        config_from_env()
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="missing.yaml: No such file"):
        config_from_env()
