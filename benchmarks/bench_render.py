"""Rendering throughput with the embedded model (SmolLM2-135M-Instruct, llama-cpp, CPU).

    python benchmarks/bench_render.py                 # a few minutes on 2 shared CPU cores
    python benchmarks/bench_render.py --n 12 --max-attempts 3 --max-tokens 400

Renders --n sampled tuples through our renderer (structured output, validation, bounded
re-renders) and, side by side, the baseline: one plain unconstrained `chat` call per tuple with
the same prompt and token cap, nothing checked. Printed: accepted intents per minute, model
requests (a structured draft the model garbles is retried inside the LLM layer), completion
tokens per second, acceptance rate and rejection reasons. A 135M model writes weak text, so the
acceptance rate says more about the model than the pipeline; on a GPU server the same code runs
at the server's speed (`ise-trace intents --backend openai --base-url ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ise_trace.config import IntentConfig, LLMConfig  # noqa: E402
from ise_trace.intents.renderer import IntentRenderer, build_messages  # noqa: E402
from ise_trace.intents.sampler import IntentSampler  # noqa: E402
from ise_trace.intents.taxonomy import Taxonomy  # noqa: E402
from ise_trace.llm import SamplingParams, make_chat_model  # noqa: E402


def _usage(model) -> tuple[int, int]:
    return model.stats.requests, model.stats.completion_tokens


async def bench(n: int, max_attempts: int, max_tokens: int, seed: int) -> None:
    taxonomy = Taxonomy.load()
    config = IntentConfig(n=n, seed=seed, max_render_attempts=max_attempts, max_tokens=max_tokens)
    tuples = IntentSampler(taxonomy, config).sample(n)
    model = make_chat_model("llama-cpp", config=LLMConfig(n_threads=2))
    renderer = IntentRenderer(model, taxonomy, config)

    await model.chat([{"role": "user", "content": "hi"}], sampling=SamplingParams(max_tokens=4))  # load once

    requests0, tokens0 = _usage(model)
    started = time.perf_counter()
    results = [await renderer.render(t) for t in tuples]
    ours_s = time.perf_counter() - started
    requests1, tokens1 = _usage(model)
    accepted = sum(r.intent is not None for r in results)
    drafts = sum(len(r.failures) + (r.intent is not None) for r in results)
    reasons = Counter(reason for r in results for reason, _ in r.failures)

    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens)
    started = time.perf_counter()
    for t in tuples:
        await model.chat(build_messages(t, taxonomy), sampling=sampling)
    base_s = time.perf_counter() - started
    requests2, tokens2 = _usage(model)

    ours_tokens, base_tokens = tokens1 - tokens0, tokens2 - tokens1
    print(f"model: {model.model} (llama-cpp, CPU)  tuples: {n}  max attempts: {max_attempts}  max tokens: {max_tokens}")
    print(f"ours     : {ours_s:6.1f} s  accepted {accepted}/{n} = {accepted / ours_s * 60:5.2f} intents/min  "
          f"drafts {drafts}, model requests {requests1 - requests0}, {ours_tokens / ours_s:5.1f} completion tokens/s")
    print(f"baseline : {base_s:6.1f} s  {n} unchecked replies = {n / base_s * 60:5.2f}/min, "
          f"model requests {requests2 - requests1}, {base_tokens / base_s:5.1f} completion tokens/s")
    print(f"acceptance {accepted / n:.0%} ; rejected drafts by reason: {dict(reasons) or 'none'}")
    for r in results:
        if r.intent is not None:
            print(f"example  : {r.intent.text[:300]}")
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--max-attempts", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(bench(args.n, args.max_attempts, args.max_tokens, args.seed))


if __name__ == "__main__":
    main()
