"""llama-cpp-python's OpenAI-compatible server, with our tool-calling chat handler.

Run by `ModelServer` (and so by `ise-trace serve`) as
`python -m ise_trace.llm.embedded_server --model FILE.gguf --port P`. It is the stock
`llama_cpp.server` app; the only addition is the `ise-trace-hermes` chat format registered
before the model loads, so tool calls come back as structured `tool_calls`.
"""

from __future__ import annotations

import argparse
import os
import threading
import time


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
                verbose=args.verbose,
            )
        ],
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")


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
