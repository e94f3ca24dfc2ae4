"""Raw user-simulator turns, before any drift check, for labelling: what a real model writes.

The labelled sets written by hand say what drift looks like to their authors; these turns say
what the simulator really produces. Each is generated exactly as `UserSimulator` asks for a turn
(its system prompt, the opening instruction or an agent turn with its digest, the reply schema)
but the gates are skipped, so drifting turns are kept. Intents come from the taxonomy sampler with
the seeded generator's brief as their text (it names real files), and each agent turn is one of
the labelled sets' five digests, so the harvested turns label into the same fields:

    python -m ise_trace.simulate.drift_harvest --n 200 --out turns.jsonl   # embedded model, ~4 s a turn

Each line: {"index", "text", "digest", "intent_id", "persona", "reason"}; a rerun appends the indices not yet there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path

from ..config import IntentConfig, LLMConfig, SimulateConfig
from ..llm.base import SamplingParams, StructuredOutputError
from ..schemas import Intent, RendererInfo
from . import prompts
from .digest import TurnDigest
from .drift_labelled import _digests
from .user_simulator import UserTurn

# What the agent said in the turn each digest records; the digest itself is what really ran.
AGENT_REPLIES = {
    "ok": "I wrote clean.py and ran it with python3; it finished without errors.",
    "failed": "I wrote clean.py, but running it failed with a NameError: df is not defined.",
    "recovered": "The first run failed with a NameError, so I fixed clean.py to load the data first; the rerun worked.",
    "nothing": "Sure, I can do that. Which file should I start with?",
}


def sample_intents(n: int, seed: int) -> list[Intent]:
    from ..intents.sampler import IntentSampler
    from ..intents.taxonomy import Taxonomy
    from ..tasks.generate import generate_task

    taxonomy = Taxonomy.load()
    intents = []
    for sampled in IntentSampler(taxonomy, IntentConfig(seed=seed)).sample(n):
        task = generate_task(sampled, taxonomy)
        if task is None:
            continue
        text = "I need help with my workspace:\n" + task.brief
        intents.append(
            Intent(
                id=sampled.id, text=text, persona=sampled.persona, domains=sampled.domains,
                complexity=sampled.complexity, seed=sampled.seed,
                renderer=RendererInfo(model="generator-brief", prompt_version="harvest"),
            )
        )
    return intents


async def _turn(model, messages, config: SimulateConfig, seed: int) -> UserTurn | None:
    sampling = SamplingParams(
        temperature=config.user_temperature, top_p=config.user_top_p, max_tokens=config.user_max_tokens, seed=seed
    )
    try:
        return await model.structured(messages, UserTurn, sampling=sampling)
    except StructuredOutputError:
        return None


async def harvest(n: int, out: Path, seed: int, config: SimulateConfig, llm: LLMConfig) -> None:
    from ..llm import make_chat_model

    done = {json.loads(line)["index"] for line in out.open(encoding="utf-8")} if out.exists() else set()
    rng = random.Random(seed)
    intents = sample_intents(max(n // 2, 8), seed)
    digests = _digests()
    model = make_chat_model(llm.backend, llm.model, config=llm)
    with out.open("a", encoding="utf-8") as f:
        for i in range(n):
            if i in done:
                continue
            intent = intents[i // 2 % len(intents)]
            history = [{"role": "system", "content": prompts.simulator_system_prompt(intent)},
                       {"role": "user", "content": prompts.OPENING_INSTRUCTION}]
            opening = await _turn(model, history, config, seed + 2 * (i // 2))
            if i % 2 == 0:
                name, turn = None, opening
            else:
                if opening is None:
                    continue
                name = rng.choice(sorted(AGENT_REPLIES))
                digest: TurnDigest = digests[name]
                history += [{"role": "assistant", "content": opening.model_dump_json()},
                            {"role": "user", "content": prompts.agent_turn_message(AGENT_REPLIES[name], digest.render(config.digest_max_chars))}]
                turn = await _turn(model, history, config, seed + 2 * i + 1)
            if turn is None or not turn.query.strip():
                continue
            row = {"index": i, "text": turn.query.strip(), "digest": name, "intent_id": intent.id,
                   "persona": intent.persona.name, "reason": turn.reason}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            print(f"{i + 1}/{n} [{name}] {row['text'][:100]!r}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="turns to generate (half openings, half replies)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user-max-tokens", type=int, default=160, help="the demo preset's cap")
    args = parser.parse_args()
    config = SimulateConfig(user_max_tokens=args.user_max_tokens)
    asyncio.run(harvest(args.n, args.out, args.seed, config, LLMConfig()))


if __name__ == "__main__":
    main()
