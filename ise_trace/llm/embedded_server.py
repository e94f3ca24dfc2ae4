"""llama-cpp-python's OpenAI-compatible server, with our tool-calling chat handler.

Run by `ModelServer` (and so by `ise-trace serve`) as
`python -m ise_trace.llm.embedded_server --model FILE.gguf --port P`. It is the stock
`llama_cpp.server` app with these additions, made by an ASGI wrapper around it:
- the `ise-trace-hermes` chat format, registered before the model loads, so tool calls come
  back as structured `tool_calls`;
- OpenAI's `response_format: {"type": "json_schema"}`, which the stock request model rejects,
  accepted by rewriting it to llama-cpp-python's `{"type": "json_object", "schema": ...}`;
- a request without `max_tokens` gets `--default-max-tokens` (the stock server would write
  until the context is full: one such reply went 7,343 tokens);
- a request whose client went away stops generating at the next token (the stock server only
  checks before it starts, and one abandoned reply blocked every other request for minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from typing import Any, Awaitable, Callable

from ..config import LLMConfig

_COMPLETION_PATHS = ("/chat/completions", "/completions")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ise_trace.llm.embedded_server")
    parser.add_argument("--model", required=True, help="GGUF file to serve.")
    parser.add_argument("--model-alias", required=True, help="Model name clients ask for.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    defaults = LLMConfig()
    parser.add_argument("--n-ctx", type=int, default=defaults.n_ctx)
    parser.add_argument(
        "--default-max-tokens", type=int, default=defaults.default_max_tokens,
        help="Token cap of a reply whose request sets no max_tokens.",
    )
    parser.add_argument("--n-threads", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="llama.cpp load and timing logs.")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="Exit when the process that started this one dies."
    )
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        _exit_with_parent()

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from .llama_chat_handler import HANDLER_NAME, register

    register()
    app = create_app(
        server_settings=ServerSettings(host=args.host, port=args.port),
        model_settings=[
            ModelSettings(
                model=args.model,
                model_alias=args.model_alias,
                chat_format=HANDLER_NAME,
                n_ctx=args.n_ctx,
                n_threads=args.n_threads,
                n_threads_batch=args.n_threads,
                logits_all=False,  # only needed for prompt logprobs; costs time and memory
                verbose=args.verbose,
            )
        ],
    )
    uvicorn.run(ChatRequestAdapter(app, args.default_max_tokens), host=args.host, port=args.port, log_level="info" if args.verbose else "warning")


class ChatRequestAdapter:
    """ASGI wrapper for completion requests: rewrites the body (response format, default token
    cap) and flags the request's client as gone when it disconnects, for the chat handler."""

    def __init__(self, app: Callable[..., Awaitable[None]], default_max_tokens: int):
        self.app = app
        self.default_max_tokens = default_max_tokens

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(_COMPLETION_PATHS):
            await self.app(scope, receive, send)
            return
        from .llama_chat_handler import CLIENT_GONE

        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # gone before it finished sending the request
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = rewrite_request(body, self.default_max_tokens)
        gone = threading.Event()
        # The one reader of `receive` from now on: the app's own reads (its is_disconnected()
        # checks) are answered from here, so no message is taken from under the other reader.
        watcher = asyncio.ensure_future(_wait_for_disconnect(receive, gone))
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await asyncio.shield(watcher)
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        # The generation runs in a worker thread, which inherits this context: the chat handler
        # reads the flag there between tokens.
        token = CLIENT_GONE.set(gone)
        try:
            await self.app(dict(scope, headers=headers), replay, send)
        finally:
            CLIENT_GONE.reset(token)
            watcher.cancel()


async def _wait_for_disconnect(receive: Callable, gone: threading.Event) -> dict[str, Any]:
    """Read the connection until the client disconnects (or the reply is complete, which the
    server reports the same way: then generation is over and the flag changes nothing)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return message


def rewrite_request(body: bytes, default_max_tokens: int | None) -> bytes:
    """The request body with a json_schema format rewritten and a token cap where none is set."""
    body = rewrite_response_format(body)
    if not default_max_tokens:
        return body
    try:
        request = json.loads(body)
    except ValueError:
        return body
    if not isinstance(request, dict) or request.get("max_tokens") is not None:
        return body
    # OpenAI's newer name for the same cap; the stock request model only knows max_tokens.
    request["max_tokens"] = request.pop("max_completion_tokens", None) or default_max_tokens
    return json.dumps(request).encode()


def rewrite_response_format(body: bytes) -> bytes:
    try:
        request = json.loads(body)
    except ValueError:
        return body  # let the app report the bad JSON
    response_format = request.get("response_format") if isinstance(request, dict) else None
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return body
    schema = (response_format.get("json_schema") or {}).get("schema")
    request["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    return json.dumps(request).encode()


def _exit_with_parent() -> None:
    # The server runs in its own session (so Ctrl-C is forwarded, not broadcast); without this,
    # a parent killed with SIGKILL (a crashed test run) would leave it running forever.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    main()
