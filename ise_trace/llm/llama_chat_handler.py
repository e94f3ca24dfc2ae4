"""A llama-cpp-python chat handler: ChatML prompts, Hermes-style tool calls, JSON-schema grammars.

llama-cpp-python's own `chatml-function-calling` handler ignores max_tokens on its tool paths
and cannot ask for a JSON schema through `json_schema` response formats, so the embedded model
gets this handler instead, in process (`LlamaCppChatModel`) and in the server
(`python -m ise_trace.llm.embedded_server`). Tools are described Hermes-style in the system
prompt, and a grammar makes the model either write plain text or emit well-formed
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks that match the tools' own
parameter schemas; those come back as structured `tool_calls`.
"""

from __future__ import annotations

import contextvars
import json
import re
import threading
import time
import uuid
from typing import Any, Iterator

from .structured import budget_schema, close_json
from .tool_markup import ToolMarkupError, parse_tool_markup

HANDLER_NAME = "ise-trace-hermes"
# Set by the embedded server for each request: the event fires when its client disconnects,
# and generation stops at the next token instead of writing a reply nobody reads.
CLIENT_GONE: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("client_gone", default=None)
END_OF_TURN = "<|im_end|>"
MAX_CALLS_PER_TURN = 3

_ROOT_RULE = re.compile(r"^root ::= ", re.MULTILINE)
# Any first character but '<' (that would start a tool call), then anything.
_TEXT_RULES = r'ise-text ::= [^<\x00] [^\x00]*'
# llama-cpp-python's JSON string character admits raw control characters (a raw newline),
# which strict JSON parsers (pydantic, json.loads) reject: the model wrote them in about one
# long reply in three. Ours admits them only escaped, as JSON requires.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x00-\\x1F\\x7F] |'


def render_prompt(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """ChatML text for the conversation, ending where the assistant's reply begins."""
    messages = list(messages)
    system = None
    if messages and messages[0].get("role") == "system":
        system = _text(messages.pop(0).get("content"))
    if tools:
        system = f"{system or ''}\n\n{tools_preamble(tools)}".strip()
    parts = []
    if system:
        parts.append(f"<|im_start|>system\n{system}{END_OF_TURN}\n")
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            body = _text(message.get("content"))
            for call in message.get("tool_calls") or []:
                fn = call["function"]
                args = fn.get("arguments") or {}
                if isinstance(args, str):
                    try:
                        args = json.loads(args)
                    except json.JSONDecodeError:
                        pass
                block = json.dumps({"name": fn["name"], "arguments": args}, ensure_ascii=False)
                body += ("\n" if body else "") + f"<tool_call>\n{block}\n</tool_call>"
            parts.append(f"<|im_start|>assistant\n{body}{END_OF_TURN}\n")
        elif role == "tool":
            parts.append(f"<|im_start|>tool\n<tool_response>\n{_text(message.get('content'))}\n</tool_response>{END_OF_TURN}\n")
        else:
            parts.append(f"<|im_start|>{role}\n{_text(message.get('content'))}{END_OF_TURN}\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def tools_preamble(tools: list[dict[str, Any]]) -> str:
    signatures = "\n".join(json.dumps(t.get("function", t), ensure_ascii=False) for t in tools)
    return (
        "You can use tools. Their signatures are listed between <tools> and </tools>, one JSON "
        f"object per line:\n<tools>\n{signatures}\n</tools>\n"
        "To use a tool, reply with only one or more blocks like this one, each naming a tool and "
        "giving its arguments as a JSON object:\n"
        '<tool_call>\n{"name": "tool_name", "arguments": {"argument": "value"}}\n</tool_call>\n'
        "When no tool is needed, reply to the user in plain text."
    )


def tool_call_grammar(tools: list[dict[str, Any]], allow_text: bool, max_calls: int = MAX_CALLS_PER_TURN) -> str:
    """GBNF for one to `max_calls` Hermes tool-call blocks (or plain text, if allowed)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    alternatives = []
    for tool in tools:
        fn = tool.get("function", tool)
        alternatives.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": _grammar_safe_parameters(fn)},
                "required": ["name", "arguments"],
            }
        )
    schema = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    call_rules = _ROOT_RULE.sub("ise-call-json ::= ", strict_json_gbnf(json_schema_to_gbnf(json.dumps(schema))))
    more_calls = ""
    for _ in range(max_calls - 1):
        more_calls = f'("\\n" ise-call {more_calls})?'
    rules = [
        "root ::= ise-calls" + (" | ise-text" if allow_text else ""),
        f"ise-calls ::= ise-call {more_calls}",
        'ise-call ::= "<tool_call>\\n" ise-call-json "\\n</tool_call>"',
        call_rules,
    ]
    if allow_text:
        rules.append(_TEXT_RULES)
    return "\n".join(rules)


def strict_json_gbnf(grammar: str) -> str:
    """The grammar with JSON strings that hold no raw control characters."""
    return grammar.replace(_LOOSE_CHAR, _STRICT_CHAR)


def _grammar_safe_parameters(fn: dict[str, Any]) -> dict[str, Any]:
    """The tool's parameter schema if the grammar converter takes it, else any JSON object."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    params = fn.get("parameters") or {"type": "object"}
    try:
        json_schema_to_gbnf(json.dumps(params))
        return params
    except Exception:  # noqa: BLE001 - an exotic schema only loses its constraint, not the call
        return {"type": "object"}


def response_format_grammar(response_format: dict[str, Any] | None, max_tokens: int | None = None) -> str | None:
    """GBNF for OpenAI `json_schema` and llama-cpp-python `json_object` (+ `schema`) formats.

    With `max_tokens`, the schema's strings and arrays are bounded to fit it (budget_schema),
    so the reply closes its JSON before the cap instead of being cut off inside a string.
    """
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
    elif kind == "json_object":
        schema = response_format.get("schema")
    else:
        return None
    if not schema:
        return JSON_GBNF
    return strict_json_gbnf(json_schema_to_gbnf(json.dumps(budget_schema(schema, max_tokens))))


class HermesToolsHandler:
    """Callable with llama-cpp-python's chat-handler signature (`Llama(chat_handler=...)`)."""

    def __call__(
        self,
        *,
        llama: Any,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        stream: bool = False,
        model: str | None = None,
        **_unused: Any,
    ) -> dict[str, Any] | Iterator[dict[str, Any]]:
        from llama_cpp.llama_grammar import LlamaGrammar

        offered = _offered_tools(tools, tool_choice)
        if offered:
            # A named tool choice means exactly one call of it, as in the OpenAI API.
            max_calls = 1 if isinstance(tool_choice, dict) else MAX_CALLS_PER_TURN
            grammar_text = tool_call_grammar(offered, allow_text=tool_choice in (None, "auto"), max_calls=max_calls)
        else:
            grammar_text = response_format_grammar(response_format, max_tokens)
        stops = [END_OF_TURN] + ([stop] if isinstance(stop, str) else list(stop or []))
        completion = llama.create_completion(
            prompt=render_prompt(messages, tools if offered else None),
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            min_p=min_p,
            repeat_penalty=repeat_penalty,
            seed=seed,
            stop=stops,
            grammar=LlamaGrammar.from_string(grammar_text, verbose=False) if grammar_text else None,
            stopping_criteria=_stop_when_client_gone(),
        )
        if not offered and grammar_text and completion["choices"][0].get("finish_reason") == "length":
            # A cut-off JSON reply (rare with the budget) is closed, so that it still parses.
            choice = completion["choices"][0]
            choice["text"] = close_json(choice["text"])
        result = _chat_completion(completion, offered, model or completion.get("model", ""))
        return _as_stream(result) if stream else result


def _stop_when_client_gone() -> Any:
    """A stopping criterion that ends generation once the request's client is gone (or None)."""
    gone = CLIENT_GONE.get()
    if gone is None:
        return None
    from llama_cpp import StoppingCriteriaList

    return StoppingCriteriaList([lambda input_ids, logits: gone.is_set()])


def _offered_tools(tools: list[dict[str, Any]] | None, tool_choice: Any) -> list[dict[str, Any]]:
    if not tools or tool_choice == "none":
        return []
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        chosen = [t for t in tools if t.get("function", t).get("name") == name]
        if not chosen:
            raise ValueError(f"tool_choice names '{name}', which is not among the tools offered")
        return chosen
    return tools


def _chat_completion(completion: dict[str, Any], tools: list[dict[str, Any]], model: str) -> dict[str, Any]:
    choice = completion["choices"][0]
    text = choice["text"]
    finish = choice.get("finish_reason")
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tools and text.lstrip().startswith("<tool_call>"):
        try:
            content, calls = parse_tool_markup(text, tools)
        except ToolMarkupError:
            # max_tokens cut the last block short: keep the complete blocks before it. With none
            # complete, the caller gets the raw text and finish_reason=length.
            content, calls = _complete_blocks(text, tools)
        if calls:
            message = {
                "role": "assistant",
                "content": content,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": json.dumps(call.function.arguments)},
                    }
                    for call in calls
                ],
            }
            finish = "tool_calls"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": completion.get("usage"),
    }


def _complete_blocks(text: str, tools: list[dict[str, Any]]) -> tuple[str | None, list[Any]]:
    """The calls of the longest prefix of `text` that ends a block and parses. A closing tag can
    sit inside a cut block's JSON string (a file's content that holds one), so the last tag is not
    always the end of a whole block: earlier ones are tried in turn."""
    end = len(text)
    while (i := text.rfind("</tool_call>", 0, end)) != -1:
        try:
            return parse_tool_markup(text[: i + len("</tool_call>")], tools)
        except ToolMarkupError:
            end = i
    return None, []


def _as_stream(result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The finished reply as a two-chunk stream, for clients that ask for stream=true."""
    message = result["choices"][0]["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
    base = {k: result[k] for k in ("id", "created", "model")}
    yield {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield {
        **base,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": result["choices"][0]["finish_reason"]}],
    }


def register() -> None:
    """Make HANDLER_NAME usable as a llama-cpp-python `chat_format` (used by the server)."""
    from llama_cpp.llama_chat_format import LlamaChatCompletionHandlerRegistry

    LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(
        HANDLER_NAME, HermesToolsHandler(), overwrite=True
    )


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)
