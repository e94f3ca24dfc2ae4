"""Stage S overhead: what our episode loop adds per tool call, beyond the sandbox command itself.

    python benchmarks/bench_simulate.py                      # concurrency 1, 4, 16 (~1-2 min)
    python benchmarks/bench_simulate.py --concurrency 1 4 --episodes 12

The agent and user models are served by a tiny OpenAI-compatible HTTP server on loopback (in its
own process) that answers instantly with scripted replies, so model time does not hide our
overhead. Each episode: U user turns, K `exec` tool calls per agent turn. The baseline, measured
in the same run on the same pool, is the bare sandbox: acquire a workspace and run the same U*K
commands with `Workspace.exec`, nothing else. Target: under 10 ms per tool call beyond it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import socket
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMAND = "true"
AGENT, USER = "bench-agent", "bench-user"


# --------------------------------------------------------------------------- instant model server


class InstantHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    user_turns = 3
    calls_per_turn = 3

    def log_message(self, *args) -> None:
        pass

    def _send(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": AGENT, "object": "model"}, {"id": USER, "object": "model"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        messages = request["messages"]
        message: dict = {"role": "assistant", "content": None}
        finish = "stop"
        if request["model"] == USER:
            earlier = sum(m["role"] == "assistant" for m in messages)
            done = earlier >= self.user_turns
            message["content"] = json.dumps({
                "completed": done, "is_success": done, "reason": "scripted",
                "query": "thanks, that is all" if done else f"step {earlier + 1}: run the next check",
            })
        else:
            since_user = 0
            for m in reversed(messages):
                if m["role"] == "user":
                    break
                since_user += m["role"] == "tool"
            if request.get("tools") and since_user < self.calls_per_turn:
                message["tool_calls"] = [{
                    "id": f"call_{len(messages)}", "type": "function",
                    "function": {"name": "exec", "arguments": json.dumps({"command": COMMAND})},
                }]
                finish = "tool_calls"
            else:
                message["content"] = "Done: the checks ran."
        self._send({
            "id": "cmpl-bench", "object": "chat.completion", "created": int(time.time()), "model": request["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })


def serve(port: int, user_turns: int, calls_per_turn: int) -> None:
    InstantHandler.user_turns = user_turns
    InstantHandler.calls_per_turn = calls_per_turn
    ThreadingHTTPServer(("127.0.0.1", port), InstantHandler).serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- measurements


class TimedModel:
    """Wraps a ChatModel and adds up the time spent waiting on the model server."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds = 0.0

    @property
    def model(self) -> str:
        return self.inner.model

    async def chat(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return await self.inner.chat(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t

    async def structured(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return await self.inner.structured(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t


def bench_intents(n: int, tag: str):
    from ise_trace.schemas import DomainSpec, Intent, Persona, RendererInfo, TaskSpec

    persona = Persona(id="p", name="Ada Bench", role="engineer", industry="software", experience_level="senior",
                      communication_style="terse", work_context="benchmarks", expertise=["shell"])
    return [
        Intent(id=f"{tag}-{i}", text="Run the checks.", persona=persona,
               domains=[DomainSpec(name="Code-Runtime", tasks=[TaskSpec(name="check", description="run checks")])],
               complexity="simple", seed=i, renderer=RendererInfo(model="bench", prompt_version="v"))
        for i in range(n)
    ]


async def bare_episodes(pool, episodes: int, concurrency: int, calls: int) -> tuple[float, float]:
    """(wall seconds, mean ms per exec) for acquire + `calls` bare execs per episode."""
    queue = list(range(episodes))
    exec_times: list[float] = []

    async def worker() -> None:
        while queue:
            queue.pop()
            async with pool.acquire(episode_id="bare") as ws:
                for _ in range(calls):
                    t = time.perf_counter()
                    await ws.exec(COMMAND)
                    exec_times.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, 1000 * sum(exec_times) / len(exec_times)


async def our_episodes(pool, base_url: str, episodes: int, concurrency: int, user_turns: int, calls_per_turn: int):
    from ise_trace.config import SimulateConfig
    from ise_trace.execute import TOOL_SCHEMAS, run_tool
    from ise_trace.llm import make_chat_model
    from ise_trace.simulate.episode import EpisodeSetup
    from ise_trace.simulate.runner import open_run, run_simulation

    agent = TimedModel(make_chat_model("openai", AGENT, base_url))
    user = TimedModel(make_chat_model("openai", USER, base_url))
    await agent.chat([{"role": "user", "content": "warm up"}])  # connection set up outside the timing
    await user.chat([{"role": "user", "content": "warm up"}])
    agent.seconds = user.seconds = 0.0
    config = SimulateConfig(concurrency=concurrency, max_user_turns=user_turns + 1)
    setup = EpisodeSetup(agent, user, config, TOOL_SCHEMAS, run_tool, pool.image or "bench", workdir=pool.config.workdir)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir, key = open_run(Path(tmp) / "run", config, [agent], [user])
        try:
            start = time.perf_counter()
            summary = await run_simulation(bench_intents(episodes, f"c{concurrency}"), run_dir, key, [agent], [user],
                                           pool, setup, stream=io.StringIO())
            wall = time.perf_counter() - start
        finally:
            run_dir.close()
    expected = user_turns * calls_per_turn
    if summary["status"] != {"success": episodes} or summary["tool_calls"]["mean"] != expected:
        raise SystemExit(f"benchmark episodes did not run as scripted: {summary['status']} {summary['tool_calls']}")
    return wall, agent.seconds + user.seconds


async def main(args: argparse.Namespace) -> None:
    from ise_trace.execute import WorkspacePool

    port = free_port()
    server = multiprocessing.Process(target=serve, args=(port, args.user_turns, args.calls), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{port}/v1"
    calls = args.user_turns * args.calls
    try:
        async with WorkspacePool(size=max(args.concurrency), run_id="bench-sim") as pool:
            print(f"episode: {args.user_turns} user turns x {args.calls} exec calls ('{COMMAND}'); "
                  f"instant scripted model server on loopback; pool of {pool.size}")
            print(f"{'conc':>4} {'episodes':>8} | {'bare exec':>9} {'ours/call':>9} {'overhead/call':>13} "
                  f"{'(model I/O, rest)':>18} | {'bare traj/h':>11} {'ours traj/h':>11}")
            for c in args.concurrency:
                n = args.episodes or max(8, 2 * c)
                await bare_episodes(pool, c, c, calls)  # warm every workspace
                bare_wall, exec_ms = await bare_episodes(pool, n, c, calls)
                ours_wall, model_s = await our_episodes(pool, base_url, n, c, args.user_turns, args.calls)
                # Per tool call, over the whole run: episodes run c at a time, so wall * c / (n * calls).
                bare_call = 1000 * bare_wall * c / (n * calls)
                ours_call = 1000 * ours_wall * c / (n * calls)
                model_call = 1000 * model_s / (n * calls)
                overhead = ours_call - bare_call
                print(f"{c:>4} {n:>8} | {exec_ms:>7.2f}ms {ours_call:>7.2f}ms {overhead:>11.2f}ms "
                      f"({model_call:>6.2f}ms, {overhead - model_call:>6.2f}ms) | "
                      f"{n / bare_wall * 3600:>11.0f} {n / ours_wall * 3600:>11.0f}")
            print("overhead/call = (our episode time - bare episode time) per tool call; model I/O is the time "
                  "waiting on the instant server (HTTP client + server), rest is the loop, digest, drift check, "
                  "records and ledger. Target: overhead under 10 ms per tool call.")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--episodes", type=int, default=None, help="episodes per level (default max(8, 2*c))")
    parser.add_argument("--user-turns", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3, help="exec calls per agent turn")
    asyncio.run(main(parser.parse_args()))
