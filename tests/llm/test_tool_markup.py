"""Tool calls returned as text: recorded replies in the Hermes and Qwen3-Coder XML markups."""

from __future__ import annotations

import pytest

from ise_trace.llm.tool_markup import ToolMarkupError, parse_arguments, parse_tool_markup, split_reasoning

EXEC_TOOL = {
    "type": "function",
    "function": {
        "name": "exec",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout_s": {"type": "integer"}},
            "required": ["command"],
        },
    },
}
WRITE_TOOL = {
    "type": "function",
    "function": {
        "name": "write",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}, "append": {"type": "boolean"}},
        },
    },
}

# Qwen2.5-7B-Instruct served by vLLM without --enable-auto-tool-choice.
HERMES_QWEN25 = (
    "I'll list the files first.\n"
    '<tool_call>\n{"name": "exec", "arguments": {"command": "ls -la /workspace", "timeout_s": 10}}\n</tool_call>'
)
# Hermes-3 with two calls in one turn.
HERMES_TWO_CALLS = (
    '<tool_call>\n{"name": "exec", "arguments": {"command": "mkdir -p out"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "write", "arguments": {"path": "out/a.txt", "content": "hi\\n"}}\n</tool_call>'
)
# Some servers JSON-encode the arguments object a second time.
HERMES_STRING_ARGS = '<tool_call>\n{"name": "exec", "arguments": "{\\"command\\": \\"pwd\\"}"}\n</tool_call>'
# Qwen3-Coder-30B-A3B-Instruct raw output.
QWEN3_CODER = """<tool_call>
<function=write>
<parameter=path>
report.md
</parameter>
<parameter=content>
# Report
line two
</parameter>
<parameter=append>
false
</parameter>
</function>
</tool_call>"""
QWEN3_CODER_TWO = """Running both.
<tool_call>
<function=exec>
<parameter=command>
grep -rn "TODO" src | head -n 5
</parameter>
<parameter=timeout_s>
30
</parameter>
</function>
</tool_call>
<tool_call>
<function=exec>
<parameter=command>
wc -l src/*.py
</parameter>
</function>
</tool_call>"""


def test_hermes_call_with_prose_keeps_the_prose_as_content():
    content, calls = parse_tool_markup(HERMES_QWEN25, [EXEC_TOOL])
    assert content == "I'll list the files first."
    assert len(calls) == 1
    assert calls[0].function.name == "exec"
    assert calls[0].function.arguments == {"command": "ls -la /workspace", "timeout_s": 10}
    assert calls[0].id.startswith("call_")


def test_hermes_two_calls_in_one_turn_get_distinct_ids():
    content, calls = parse_tool_markup(HERMES_TWO_CALLS)
    assert content is None
    assert [c.function.name for c in calls] == ["exec", "write"]
    assert calls[1].function.arguments == {"path": "out/a.txt", "content": "hi\n"}
    assert calls[0].id != calls[1].id


def test_hermes_doubly_encoded_arguments_become_an_object():
    _, calls = parse_tool_markup(HERMES_STRING_ARGS)
    assert calls[0].function.arguments == {"command": "pwd"}


def test_qwen3_coder_xml_values_take_the_declared_types():
    content, calls = parse_tool_markup(QWEN3_CODER, [WRITE_TOOL])
    assert content is None
    args = calls[0].function.arguments
    assert args == {"path": "report.md", "content": "# Report\nline two", "append": False}


def test_qwen3_coder_xml_two_calls_after_prose():
    content, calls = parse_tool_markup(QWEN3_CODER_TWO, [EXEC_TOOL])
    assert content == "Running both."
    assert calls[0].function.arguments == {"command": 'grep -rn "TODO" src | head -n 5', "timeout_s": 30}
    assert calls[1].function.arguments == {"command": "wc -l src/*.py"}


def test_qwen3_coder_xml_without_schemas_keeps_strings():
    _, calls = parse_tool_markup(QWEN3_CODER_TWO)
    assert calls[0].function.arguments["timeout_s"] == "30"


def test_unterminated_final_block_is_still_read():
    _, calls = parse_tool_markup('<tool_call>\n{"name": "exec", "arguments": {"command": "ls"}}\n')
    assert calls[0].function.arguments == {"command": "ls"}


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "exec", "arguments": {"command": "ls"</tool_call>',
        '<tool_call>\n{"arguments": {}}\n</tool_call>',
        "<tool_call>\n</tool_call>",
        '<tool_call>\n{"name": "exec", "arguments": [1, 2]}\n</tool_call>',
    ],
)
def test_broken_blocks_raise_tool_markup_error(text):
    with pytest.raises(ToolMarkupError):
        parse_tool_markup(text)


def test_parse_arguments_accepts_objects_strings_and_empty():
    assert parse_arguments({"a": 1}) == {"a": 1}
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("") == {}
    with pytest.raises(ToolMarkupError):
        parse_arguments("[1]")


def test_think_block_is_split_off_as_reasoning():
    reasoning, content = split_reasoning("<think>\nCheck the disk first.\n</think>\n\nRun df -h.")
    assert reasoning == "Check the disk first."
    assert content == "Run df -h."
    assert split_reasoning("plain answer") == (None, "plain answer")


def test_embedded_reply_cut_inside_a_block_whose_text_holds_a_closing_tag_keeps_the_whole_blocks():
    """Seen from SmolLM2 in the demo: max_tokens cut a write whose content held "</tool_call>"; the
    last closing tag then sat inside the cut block, and the handler raised instead of answering."""
    from ise_trace.llm.llama_chat_handler import _chat_completion

    whole = '<tool_call>\n{"name": "exec", "arguments": {"command": "ls"}}\n</tool_call>\n'
    cut = '<tool_call>\n{"name": "write", "arguments": {"path": "a.md", "content": "x </tool_call> y'
    completion = {"choices": [{"text": whole + cut, "finish_reason": "length"}], "usage": {}}
    message = _chat_completion(completion, [EXEC_TOOL, WRITE_TOOL], "m")["choices"][0]["message"]
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["exec"]
    nothing_whole = {"choices": [{"text": cut, "finish_reason": "length"}], "usage": {}}
    raw = _chat_completion(nothing_whole, [EXEC_TOOL, WRITE_TOOL], "m")["choices"][0]
    assert raw["message"] == {"role": "assistant", "content": cut} and raw["finish_reason"] == "length"
