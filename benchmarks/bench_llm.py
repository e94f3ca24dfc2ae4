"""Throughput of the embedded model through the local server, and our client's overhead.

    python benchmarks/bench_llm.py                      # about 1-2 minutes on an idle 2-core machine
    python benchmarks/bench_llm.py --requests 48 --max-tokens 64 --threads 2

1. Starts the llama-cpp-python server with the embedded SmolLM2-135M-Instruct (as `ise-trace
   serve` does) and sends the same requests at concurrency 1, 4 and 16, through our `openai`
   backend and through a bare `openai.AsyncOpenAI` call, side by side: requests/s, completion
   tokens/s, mean latency.
2. Client overhead alone: the same two clients against an instant loopback server that returns a
   fixed reply, so model time does not hide the milliseconds our layer adds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ise_trace.config import LLMConfig  # noqa: E402
from ise_trace.llm import SamplingParams, make_chat_model  # noqa: E402
from ise_trace.llm.server import ModelServer, free_port  # noqa: E402

FIXED_REPLY = json.dumps(
    {
        "id": "bench",
        "object": "chat.completion",
        "created": 0,
        "model": "instant",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


def prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Write one sentence about task number {i} in a shell session."}] for i in range(n)]


async def run_ours(model, conversations, sampling, concurrency):
    gate = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with gate:
            started = time.monotonic()
            reply = await model.chat(messages, sampling=sampling)
            return time.monotonic() - started, reply.usage.completion_tokens

    return await asyncio.gather(*(one(m) for m in conversations))


async def run_bare(sdk, model_name, conversations, sampling, concurrency):
    gate = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with gate:
            started = time.monotonic()
            response = await sdk.chat.completions.create(
                model=model_name,
                messages=messages,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
            )
            return time.monotonic() - started, response.usage.completion_tokens

    return await asyncio.gather(*(one(m) for m in conversations))


async def measure(run, *args):
    started = time.monotonic()
    results = await run(*args)
    wall = time.monotonic() - started
    latencies = [r[0] for r in results]
    tokens = sum(r[1] for r in results)
    return {"req_s": len(results) / wall, "tok_s": tokens / wall, "latency_s": statistics.mean(latencies)}


def serve_instant(port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server
        disable_nagle_algorithm = True  # else headers and body in two writes stall ~40 ms on delayed ACKs

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(FIXED_REPLY)))
            self.end_headers()
            self.wfile.write(FIXED_REPLY)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


async def overhead(base_url: str, n: int) -> tuple[float, float]:
    from openai import AsyncOpenAI

    sampling = SamplingParams(max_tokens=4)
    conversations = prompts(n)
    ours = make_chat_model("openai", "instant", base_url)
    bare = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    await run_ours(ours, conversations[:20], sampling, 1)  # warm both connection pools
    await run_bare(bare, "instant", conversations[:20], sampling, 1)
    ours_ms, bare_ms = [], []
    for _ in range(3):  # interleaved rounds, so drift in machine load hits both alike
        bare_ms.append(1000 / (await measure(run_bare, bare, "instant", conversations, sampling, 1))["req_s"])
        ours_ms.append(1000 / (await measure(run_ours, ours, conversations, sampling, 1))["req_s"])
    await bare.close()
    return statistics.median(bare_ms), statistics.median(ours_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=16, help="requests per row")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--threads", type=int, default=LLMConfig().n_threads)
    parser.add_argument("--overhead-requests", type=int, default=300)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    sampling = SamplingParams(temperature=0.7, max_tokens=args.max_tokens, seed=None)

    from openai import AsyncOpenAI

    config = LLMConfig(n_ctx=4096, n_threads=args.threads)
    rows = []
    with ModelServer("llama-cpp", host="127.0.0.1", config=config) as server:
        ours = make_chat_model("openai", server.model, server.base_url)

        async def throughput():
            bare = AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
            await run_ours(ours, prompts(2), sampling, 1)  # warm-up: first prompt eval, connections
            for level in levels:
                conversations = prompts(args.requests)
                rows.append((level, "ise-trace", await measure(run_ours, ours, conversations, sampling, level)))
                rows.append((level, "bare openai SDK", await measure(run_bare, bare, server.model, conversations, sampling, level)))
            await bare.close()

        asyncio.run(throughput())

    port = free_port()
    instant = multiprocessing.Process(target=serve_instant, args=(port,), daemon=True)
    instant.start()
    time.sleep(0.5)
    try:
        bare_ms, ours_ms = asyncio.run(overhead(f"http://127.0.0.1:{port}/v1", args.overhead_requests))
    finally:
        instant.terminate()

    print(f"\nEmbedded {server.model} via llama-cpp-python server ({args.threads} threads), "
          f"{args.requests} requests per row, max_tokens={args.max_tokens}")
    print(f"{'concurrency':>11}  {'client':<16} {'req/s':>7} {'tok/s':>7} {'mean latency s':>15}")
    for level, client, m in rows:
        print(f"{level:>11}  {client:<16} {m['req_s']:>7.2f} {m['tok_s']:>7.1f} {m['latency_s']:>15.2f}")
    print(f"\nClient overhead, instant loopback server, {args.overhead_requests} sequential requests (median of 3 rounds):")
    print(f"  bare openai SDK   {bare_ms:6.2f} ms/request")
    print(f"  ise-trace client  {ours_ms:6.2f} ms/request   (+{ours_ms - bare_ms:.2f} ms)")


if __name__ == "__main__":
    main()
