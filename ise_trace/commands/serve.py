"""`ise-trace serve`: a local OpenAI-compatible model server until Ctrl-C.

    ise-trace serve                           # vLLM where installed with a GPU, else the embedded model
    ise-trace serve --backend llama-cpp --port 8001
    ise-trace serve --backend vllm --model Qwen/Qwen3-8B
"""

from __future__ import annotations

import argparse
import signal
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..config import LLMConfig

    defaults = LLMConfig()
    parser = subparsers.add_parser(
        "serve",
        help="start a local OpenAI-compatible model server",
        description="Start a local OpenAI-compatible model server: vLLM (with tool-call parsing) where vllm "
        "and a GPU are present, else llama-cpp-python with the embedded SmolLM2-135M-Instruct.",
    )
    parser.add_argument("--backend", choices=["auto", "vllm", "llama-cpp"], default="auto")
    parser.add_argument(
        "--model",
        default=None,
        help=f"vLLM: a model name or folder (default {defaults.vllm_model}); llama-cpp: a .gguf file "
        "(default: the embedded model)",
    )
    parser.add_argument("--host", default=defaults.serve_host)
    parser.add_argument("--port", type=int, default=defaults.serve_port)
    parser.add_argument("--n-ctx", type=int, default=defaults.n_ctx,
                        help=f"context length (llama-cpp; default {defaults.n_ctx}, what SmolLM2 supports)")
    parser.add_argument("--default-max-tokens", type=int, default=defaults.default_max_tokens,
                        help=f"token cap of a reply whose request sets none (llama-cpp; default {defaults.default_max_tokens})")
    parser.add_argument("--threads", type=int, default=defaults.n_threads, help="CPU threads (llama-cpp)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import LLMConfig
    from ..llm.server import ModelServer

    from ..config import build_section

    config = build_section(LLMConfig, {"n_ctx": args.n_ctx, "n_threads": args.threads,
                                       "default_max_tokens": args.default_max_tokens}, "serve options")
    server = ModelServer(args.backend, args.model, args.host, args.port, config=config, quiet=False)

    def stop_on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starting us in the background (CI, nohup, `&`) may hand us SIGINT ignored,
    # and Python then never turns Ctrl-C into KeyboardInterrupt.
    previous = {sig: signal.signal(sig, stop_on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"starting the {server.backend} server for {server.model} on {server.host}:{server.port} ...", file=sys.stderr)
    try:
        server.start()
        server.wait_healthy()
        print(f"serving {server.model} at {server.base_url}  (Ctrl-C stops it)", flush=True)
        code = server.process.wait()
        print(f"ise-trace serve: error: the server exited on its own with code {code}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the server ...", file=sys.stderr)
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
