"""Stage S+E on Ray beside the plain asyncio runner, in one run, with an instant stand-in model.

    python benchmarks/bench_ray.py                       # about 4 min on 2 cores
    python benchmarks/bench_ray.py --episodes 60 --concurrency 4
    python benchmarks/bench_ray.py --tokens-only         # just the tokens per paper-shaped trajectory

The model is the instant scripted server of bench_simulate.py (loopback, its own process), so
what is measured is our loop, the sandbox and Ray, not a model. A real local Ray cluster is
started for the run (tests/ray/cluster.py: `ray start --head` plus a second node process, one CPU
each). Rows, on the same intents and the same workspaces per episode slot:
- plain asyncio runner at --concurrency (the baseline) and at twice it (what 2 actors hold);
- 1 Ray actor and 2 Ray actors (one per node), each with --concurrency workspaces;
trajectories per hour from each run's summary (the episodes alone, after start-up; start-up
listed apart), and Ray's dispatch overhead per episode: the round trip of one actor call that
carries an intent in and a trajectory of this run's mean size back (what the driver pays per
attempt), beside the mean episode time.

Then the tokens of paper-shaped episodes (8 user turns, 4 calls per turn, a tool output of about
1.6 kB): every request the LLM layer sent is logged (LLMConfig.log_path), and its messages and
tools are counted with the embedded model's tokenizer (SmolLM2, GGUF vocab only). The stand-in's
replies are scripted and short, so the prompt side is measured and the completion side is not.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_simulate  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from bench_simulate import AGENT, USER, bench_intents, free_port  # noqa: E402

TOOL_OUTPUT_COMMAND = "ls -la /usr/bin | head -n 30"  # ~1.6 kB in the sandbox: a listing, as agents read them


class Handler(bench_simulate.InstantHandler):
    """bench_simulate's instant server, with user turns worded as a user words them (the drift check
    reads "step 2: ..." as the assistant explaining the task) and the exec command a setting."""

    exec_command = "true"  # not `command`: BaseHTTPRequestHandler keeps the HTTP method there

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
                "query": "Thanks, that is all." if done else "Good. Could you run one more check on the files for me?",
            })
        else:
            since_user = 0
            for m in reversed(messages):
                if m["role"] == "user":
                    break
                since_user += m["role"] == "tool"
            if request.get("tools") and since_user < self.calls_per_turn:
                message["tool_calls"] = [{"id": f"call_{len(messages)}", "type": "function",
                                          "function": {"name": "exec", "arguments": json.dumps({"command": self.exec_command})}}]
                finish = "tool_calls"
            else:
                message["content"] = "Done: the checks ran."
        self._send({"id": "cmpl-bench", "object": "chat.completion", "created": int(time.time()), "model": request["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def serve(port: int, user_turns: int, calls: int, command: str) -> None:
    from http.server import ThreadingHTTPServer

    Handler.user_turns, Handler.calls_per_turn, Handler.exec_command = user_turns, calls, command
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def start_server(user_turns: int, calls: int, command: str = "true") -> tuple[multiprocessing.Process, str]:
    port = free_port()
    proc = multiprocessing.Process(target=serve, args=(port, user_turns, calls, command), daemon=True)
    proc.start()
    time.sleep(0.5)
    return proc, f"http://127.0.0.1:{port}/v1"


def write_intents(folder: Path, n: int, tag: str) -> Path:
    path = folder / f"{tag}.jsonl"
    path.write_text("".join(i.model_dump_json() + "\n" for i in bench_intents(n, tag)))
    return path


def settings_for(url: str, overrides: dict, llm: dict | None = None):
    from ise_trace.orchestrate import simulate_settings

    return simulate_settings(None, overrides, llm=llm or {},
                             agent={"backend": "openai", "model": AGENT, "base_url": url},
                             user={"backend": "openai", "model": USER, "base_url": url})


def one_run(label: str, settings, intents: Path, out: Path, episodes: int, expected_calls: int) -> dict:
    import io

    from ise_trace.orchestrate import run_simulate
    from ise_trace.simulate.ray_runner import run_ray_simulate

    started = time.perf_counter()
    if settings.config.ray_address:
        summary = run_ray_simulate(settings, intents, out, stream=io.StringIO())
    else:
        stderr, sys.stderr = sys.stderr, io.StringIO()  # the plain runner's progress line
        try:
            summary = run_simulate(settings, intents, out)
        finally:
            sys.stderr = stderr
    wall = time.perf_counter() - started
    # success or failure is the completion guard's verdict on scripted replies; an error would be a broken run
    if summary["recorded"] != episodes or "error" in summary["status"] or summary["tool_calls"]["mean"] != expected_calls:
        raise SystemExit(f"{label}: episodes did not run as scripted: {summary['status']} {summary['tool_calls']}")
    s = summary["session"]
    sizes = [len(line) for line in (out / "trajectories.jsonl").read_bytes().splitlines()]
    return {"label": label, "per_hour": s["trajectories_per_hour"], "elapsed": s["elapsed_s"], "startup": wall - s["elapsed_s"],
            "slots": s["concurrency"], "episode_s": s["elapsed_s"] * s["concurrency"] / episodes,
            "bytes": statistics.fmean(sizes)}


def dispatch_overhead(address: str, intent_json: str, trajectory_bytes: int, n: int = 300) -> tuple[float, float]:
    """(mean, p50) ms of one async-actor call: an intent in, a trajectory-sized JSON string back."""
    import ray

    ray.init(address=address, logging_level="WARNING", configure_logging=False)
    try:
        @ray.remote(num_cpus=0)
        class Echo:
            def __init__(self, size: int):
                self.reply = {"status": "success", "reason": "", "termination": "user_completed", "drift_turns": 0,
                              "trajectory": "x" * size}

            async def run(self, intent: str, attempt: int, key: str) -> dict:
                return self.reply

        actor = Echo.remote(trajectory_bytes)
        ray.get(actor.run.remote(intent_json, 1, "k"))
        times = []
        for _ in range(n):
            t = time.perf_counter()
            ray.get(actor.run.remote(intent_json, 1, "k"))
            times.append(1000 * (time.perf_counter() - t))
        ray.kill(actor)
        return statistics.fmean(times), statistics.median(times)
    finally:
        ray.shutdown()


def tokens_per_trajectory(folder: Path, episodes: int = 4) -> dict:
    """Prompt tokens (and requests) per paper-shaped stand-in trajectory, from the LLM request log."""
    from llama_cpp import Llama

    from ise_trace.llm.embedded import embedded_model_path

    user_turns, calls = 8, 4
    server, url = start_server(user_turns, calls, TOOL_OUTPUT_COMMAND)
    log_path = folder / "requests.jsonl"
    try:
        # One episode at a time: the log then reads episode by episode (for the prefix-cache figure).
        settings = settings_for(url, {"concurrency": 1, "max_user_turns": user_turns + 1, "max_tool_calls": 200},
                                llm={"log_path": str(log_path)})
        one_run("tokens", settings, write_intents(folder, episodes, "tok"), folder / "tok-run", episodes, user_turns * calls)
    finally:
        server.terminate()
        server.join(5)
    vocab = Llama(str(embedded_model_path()), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False))

    prompt = completion = requests = 0
    tools_tokens: dict[str, int] = {}
    # With a prefix cache (vLLM --enable-prefix-caching) each request of a conversation reuses the one
    # before it, so what is computed anew per episode is about the last prompt of each role.
    longest: list[dict[str, int]] = []
    for line in log_path.read_text().splitlines():
        entry = json.loads(line)
        request = entry["request"]
        if "Reply with OK." in json.dumps(request["messages"]):
            continue  # the start-up check of each server, not part of an episode
        requests += 1
        role = "agent" if request.get("tools") else "user"
        if role == "agent" and len(request["messages"]) == 2 and (not longest or longest[-1].get("agent")):
            longest.append({})  # the agent's first request (system + first user turn): a new episode
        # Content and tool calls of every message, plus the tool schemas: what a chat template renders,
        # less its few role markers per message.
        tokens = 0
        for m in request["messages"]:
            tokens += count(m.get("content") or "") + 4
            for call in m.get("tool_calls") or []:
                tokens += count(json.dumps(call["function"]))
        if request.get("tools"):
            key = json.dumps(request["tools"], sort_keys=True)
            tools_tokens.setdefault(key, count(key))
            tokens += tools_tokens[key]
        prompt += tokens
        if longest:
            longest[-1][role] = max(longest[-1].get(role, 0), tokens)
        reply = entry.get("reply") or {}
        completion += count(reply.get("content") or "") + sum(count(json.dumps(c)) for c in reply.get("tool_calls") or [])
    cached = statistics.fmean(sum(e.values()) for e in longest) if longest else float("nan")
    return {"episodes": episodes, "user_turns": user_turns, "tool_calls": user_turns * calls,
            "requests": requests / episodes, "prompt_tokens": prompt / episodes, "completion_tokens": completion / episodes,
            "prefill_with_prefix_cache": cached, "episodes_seen": len(longest)}


def main(args: argparse.Namespace) -> None:
    from ise_trace.simulate import drift_classifier
    from tests.ray.cluster import LocalRayCluster

    drift_classifier.default()  # loaded before any timing here; each Ray actor loads it in its start-up
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.tokens_only:
            c, n = args.concurrency, args.episodes
            user_turns, calls = 3, 3
            server, url = start_server(user_turns, calls)
            rows = []
            try:
                with LocalRayCluster() as cluster:
                    print(f"episodes: {n} per row, {user_turns} user turns x {calls} exec calls ('true'), instant stand-in "
                          f"model; Ray: local cluster of 2 node processes (head + node2, 1 CPU each) on this machine")
                    runs = [
                        ("plain asyncio runner", {"concurrency": c}),
                        ("plain asyncio runner", {"concurrency": 2 * c}),
                        ("Ray, 1 actor", {"concurrency": c, "ray_address": cluster.address, "ray_actors": 1}),
                        ("Ray, 2 actors (1 per node)", {"concurrency": c, "ray_address": cluster.address, "ray_actors_per_node": 1}),
                    ]
                    for k, (label, overrides) in enumerate(runs):
                        settings = settings_for(url, {**overrides, "max_user_turns": user_turns + 1})
                        rows.append(one_run(label, settings, write_intents(tmp, n, f"r{k}"), tmp / f"run{k}", n, user_turns * calls))
                    mean_bytes = int(statistics.fmean(r["bytes"] for r in rows))
                    intent_json = bench_intents(1, "d")[0].model_dump_json()
                    mean_ms, p50_ms = dispatch_overhead(cluster.address, intent_json, mean_bytes)
            finally:
                server.terminate()
                server.join(5)
            base = rows[0]["per_hour"]
            print(f"{'runner':<28} {'slots':>5} | {'traj/h':>8} {'vs plain':>8} | {'episode s':>9} | {'start-up s':>10}")
            for r in rows:
                print(f"{r['label']:<28} {r['slots']:>5} | {r['per_hour']:>8.0f} {r['per_hour'] / base:>7.2f}x | "
                      f"{r['episode_s']:>9.2f} | {r['startup']:>10.1f}")
            ray_episode = rows[2]["episode_s"]
            print(f"Ray dispatch per episode: {mean_ms:.2f} ms mean, {p50_ms:.2f} ms p50 per actor call (intent in, "
                  f"{mean_bytes / 1000:.0f} kB trajectory out), {100 * mean_ms / 1000 / ray_episode:.2f}% of a "
                  f"{ray_episode:.2f} s episode here; a paper-sized episode (minutes of model time) makes it negligible.")
            print("traj/h: the summary's trajectories_per_hour (episodes after start-up); episode s: elapsed x slots / "
                  "episodes (time one slot holds an episode); start-up: models checked, workspaces (and actors) started.")
        tokens = tokens_per_trajectory(tmp)
        print(f"tokens per paper-shaped stand-in trajectory ({tokens['user_turns']} user turns, {tokens['tool_calls']} tool "
              f"calls, ~1.6 kB per tool output, {tokens['episodes']} episodes, SmolLM2 tokenizer): "
              f"{tokens['requests']:.0f} model requests, {tokens['prompt_tokens']:,.0f} prompt tokens "
              f"({tokens['prefill_with_prefix_cache']:,.0f} to compute with a prefix cache: the last prompt of each role); "
              f"completion {tokens['completion_tokens']:,.0f} (scripted replies: not a model's)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4, help="workspaces per actor, and of the plain baseline")
    parser.add_argument("--tokens-only", action="store_true")
    main(parser.parse_args())
