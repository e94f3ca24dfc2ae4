"""llama-cpp-python's OpenAI-compatible server, with our tool-calling chat handler.

Run by `ModelServer` (and so by `ise-trace serve`) as
`python -m ise_trace.llm.embedded_server --model FILE.gguf --port P`. It is the stock
`llama_cpp.server` app with two additions: the `ise-trace-hermes` chat format, registered before
the model loads, so tool calls come back as structured `tool_calls`; and OpenAI's
`response_format: {"type": "json_schema"}`, which the stock request model rejects, accepted by
rewriting it to llama-cpp-python's equivalent `{"type": "json_object", "schema": ...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any, Awaitable, Callable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ise_trace.llm.embedded_server")
    parser.add_argument("--model", required=True, help="GGUF file to serve.")
    parser.add_argument("--model-alias", required=True, help="Model name clients ask for.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=4096)
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
    uvicorn.run(AcceptJsonSchemaFormat(app), host=args.host, port=args.port, log_level="info" if args.verbose else "warning")


class AcceptJsonSchemaFormat:
    """ASGI wrapper: rewrites OpenAI json_schema response formats in chat requests."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = rewrite_response_format(body)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()  # later reads wait for the client to disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app(dict(scope, headers=headers), replay, send)


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
