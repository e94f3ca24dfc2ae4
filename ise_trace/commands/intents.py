"""`ise-trace intents`: Stage I, sample -> render -> validate -> dedup -> intents.jsonl + stats.

    ise-trace intents --n 100 --seed 0 --out intents.jsonl
    ise-trace intents --n 50000 --backend openai --base-url http://127.0.0.1:8000/v1 --concurrency 32

Rerunning the same command resumes: rendered ids are skipped and nothing written is lost.
"""

from __future__ import annotations

import argparse
import json
import sys

# Flag -> IntentConfig field; a flag left out keeps the recipe's (or the default) value.
_OVERRIDES = {
    "n": "n",
    "seed": "seed",
    "concurrency": "concurrency",
    "taxonomy": "taxonomy_dir",
    "embedder": "embedder",
    "near_dup_threshold": "near_dup_threshold",
    "max_attempts": "max_render_attempts",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "intents",
        help="Stage I: sample, render, validate and deduplicate intents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, help="structured intents to sample (default 100)")
    p.add_argument("--seed", type=int, help="sampler seed (default 0)")
    p.add_argument("--out", default="intents.jsonl", help="output JSONL; stats, duplicates and rejects go beside it")
    p.add_argument("--config", help="YAML recipe: its `intents:` and `llm:` sections set IntentConfig and LLMConfig fields")
    p.add_argument("--backend", help="LLM backend: openai, llama-cpp (embedded, default) or vllm")
    p.add_argument("--model", help="model name (default: the server's first model, or the embedded one)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for the openai backend")
    p.add_argument("--concurrency", type=int, help="intents rendered at once (default 4)")
    p.add_argument("--taxonomy", help="folder with your own domains.yaml and personas.yaml")
    p.add_argument("--embedder", choices=["minilm", "mpnet"], help="embedder for dedup and Vendi (default minilm)")
    p.add_argument("--near-dup-threshold", type=float, help="cosine above which intents are near duplicates")
    p.add_argument("--max-attempts", type=int, help="renders of one tuple before it counts as failed (default 3)")
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace):
    """(IntentConfig, LLMConfig) from the recipe's `intents:` and `llm:` sections, flags on top."""
    from ..config import IntentConfig, LLMConfig, build_section, load_yaml
    from ..errors import ConfigError

    recipe = load_yaml(args.config) if args.config else {}
    sections = {}
    for name in ("intents", "llm"):
        section = recipe.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{args.config}: field '{name}': expected a mapping of settings")
        sections[name] = dict(section)
    for flag, field in _OVERRIDES.items():
        value = getattr(args, flag)
        if value is not None:
            sections["intents"][field] = value
    where = f"{args.config}: section" if args.config else "command line:"
    return (
        build_section(IntentConfig, sections["intents"], f"{where} 'intents'"),
        build_section(LLMConfig, sections["llm"], f"{where} 'llm'"),
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ..intents.pipeline import IntentPipeline
    from ..intents.taxonomy import Taxonomy
    from ..llm import make_chat_model

    config, llm_config = load_config(args)
    taxonomy = Taxonomy.load(config.taxonomy_dir)  # a bad taxonomy is reported before a model loads
    # A --base-url means a server to talk to; otherwise the recipe's backend (embedded by default).
    backend = args.backend or ("openai" if args.base_url else llm_config.backend)

    async def main() -> dict:
        model = make_chat_model(backend, args.model or llm_config.model, args.base_url, config=llm_config)
        try:
            return await IntentPipeline(config, model, args.out, taxonomy=taxonomy).run()
        finally:
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()

    stats = asyncio.run(main())
    summary = {k: stats[k] for k in ("sampled", "rendered", "failed_validation", "duplicates_removed", "unique")}
    summary["vendi"] = stats["diversity"]["vendi"]["score"]
    print(json.dumps(summary), file=sys.stdout)
    return 0
