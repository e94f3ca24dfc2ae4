"""Bad inputs to `simulate` get one clear message naming the file, line and field."""

from __future__ import annotations

import json

import pytest

from ise_trace.config import SimulateConfig
from ise_trace.errors import UserError
from ise_trace.simulate.intents_file import load_intents
from ise_trace.simulate.run_dir import RunDirectory, run_settings

from .scripted import make_intent


def _write(tmp_path, lines):
    path = tmp_path / "intents.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_intents_file_loads(tmp_path):
    a, b = make_intent("a"), make_intent("b")
    path = _write(tmp_path, [a.model_dump_json(), "", b.model_dump_json()])
    assert [i.id for i in load_intents(path)] == ["a", "b"]


def test_missing_field_names_line_and_field(tmp_path):
    bad = json.loads(make_intent("b").model_dump_json())
    del bad["persona"]["name"]
    path = _write(tmp_path, [make_intent("a").model_dump_json(), json.dumps(bad)])
    with pytest.raises(UserError, match=r"intents.jsonl:2: field 'persona.name': Field required"):
        load_intents(path)


def test_wrong_complexity_names_the_field(tmp_path):
    bad = json.loads(make_intent("a").model_dump_json())
    bad["complexity"] = "huge"
    with pytest.raises(UserError, match=r"intents.jsonl:1: field 'complexity'"):
        load_intents(_write(tmp_path, [json.dumps(bad)]))


def test_broken_json_names_the_line(tmp_path):
    with pytest.raises(UserError, match=r"intents.jsonl:2: not valid JSON"):
        load_intents(_write(tmp_path, [make_intent("a").model_dump_json(), '{"id": "b",']))


def test_duplicate_ids_are_refused(tmp_path):
    line = make_intent("a").model_dump_json()
    with pytest.raises(UserError, match=r"intents.jsonl:2: field 'id': intent 'a' already appears on line 1"):
        load_intents(_write(tmp_path, [line, line]))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError, match="no such intents file"):
        load_intents(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UserError, match="holds no intents"):
        load_intents(tmp_path / "empty.jsonl")


def test_resume_with_other_settings_is_refused_and_names_them(tmp_path):
    first = run_settings(SimulateConfig(), ["agent-m"], ["user-m"])
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.record_settings(first, "intents.jsonl")
    # Same settings: resumes; concurrency is operational and may change.
    assert run_dir.record_settings(run_settings(SimulateConfig(concurrency=9), ["agent-m"], ["user-m"]), "x")
    changed = run_settings(SimulateConfig(max_user_turns=5), ["agent-m"], ["other-user-m"])
    with pytest.raises(UserError) as e:
        run_dir.record_settings(changed, "intents.jsonl")
    message = str(e.value)
    assert "run.json" in message and "simulate.max_user_turns: 20 -> 5" in message
    assert "user_model" in message and "new --out" in message
    run_dir.close()


def test_resume_with_other_generation_options_is_refused_and_same_ones_resume(tmp_path):
    from ise_trace.orchestrate import simulate_settings
    from ise_trace.simulate.runner import open_run

    from .scripted import ScriptedChatModel

    models = [ScriptedChatModel("Qwen/Qwen3-8B")]
    thinking_off = {"chat_template_kwargs": {"enable_thinking": False}}

    def attempt(llm=None, agent_llm=None, **agent):
        settings = simulate_settings(None, llm=llm, agent_llm=agent_llm,
                                     agent={"backend": "openai", "base_url": "http://a:8000/v1", **agent})
        run_dir, key = open_run(tmp_path / "run", settings.config, models, models, "intents.jsonl",
                                agent=settings.agent, user=settings.user)
        run_dir.close()
        return key

    first = attempt(llm={"extra_body": {**thinking_off, "api_key": "sk-secret"}})
    record = (tmp_path / "run" / "run.json").read_text()
    assert "enable_thinking" in record and "sk-secret" not in record and "http://a" not in record
    # Same generation options: resumes, whatever the timeouts, retries, log, key source or server.
    assert attempt(llm={"extra_body": thinking_off, "timeout_s": 5, "max_retries": 0, "log_path": "x.jsonl",
                        "api_key_env": ["MY_KEY"], "n_threads": 4},
                   base_url="http://b:8000/v1,http://c:8000/v1") == first
    with pytest.raises(UserError) as e:  # thinking on for the agent only
        attempt(llm={"extra_body": thinking_off}, agent_llm={"extra_body": {}})
    message = str(e.value)
    assert "agent_llm.extra_body.chat_template_kwargs.enable_thinking: False -> None" in message
    assert "user_llm" not in message and "new --out" in message
    with pytest.raises(UserError, match="agent_llm.backend: 'openai' -> 'vllm'"):
        attempt(llm={"extra_body": thinking_off}, backend="vllm")


def test_second_writer_on_the_same_folder_is_refused(tmp_path):
    first = RunDirectory(tmp_path / "run")
    try:
        with pytest.raises(UserError, match="another `ise-trace simulate` is writing"):
            RunDirectory(tmp_path / "run")
    finally:
        first.close()
    RunDirectory(tmp_path / "run").close()  # free again once the first one closed


def test_unknown_config_keys_are_errors():
    from ise_trace.config import build_section

    with pytest.raises(UserError, match="max_user_turn"):
        build_section(SimulateConfig, {"max_user_turn": 3}, "recipe.yaml")


def _cli_args(argv):
    from ise_trace.cli import make_parser

    return make_parser().parse_args(["simulate", "--intents", "i.jsonl", "--out", "o", *argv])


def test_yaml_recipe_and_flags_make_the_config(tmp_path):
    from ise_trace.commands.simulate import load_config

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("simulate:\n  max_user_turns: 7\n  seed: 3\nllm:\n  backend: openai\n")
    config = load_config(_cli_args(["--config", str(recipe), "--seed", "11"]))
    assert (config.max_user_turns, config.seed, config.concurrency) == (7, 11, 4)


def test_unknown_yaml_key_names_file_and_field(tmp_path):
    from ise_trace.commands.simulate import load_config

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("max_user_turns: 7\nmax_turns: 3\n")
    with pytest.raises(UserError, match=r"recipe.yaml: field 'max_turns': Extra inputs are not permitted"):
        load_config(_cli_args(["--config", str(recipe)]))
