"""`ise-trace intents`: Stage I, sample -> render -> author the task -> validate it in a sandbox
-> dedup -> intents.jsonl + stats.

    ise-trace intents --n 100 --seed 0 --out intents.jsonl
    ise-trace intents --n 50000 --backend openai --base-url http://127.0.0.1:8000/v1 --concurrency 32
    ise-trace intents check my_tasks.jsonl --out valid.jsonl    # validate hand-written tasks

Rerunning the same command resumes: rendered ids are skipped and nothing written is lost.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--task-author", choices=["llm", "generator"],
                   help="who writes each task: the LLM (generator as fallback, default) or the seeded generator")
    p.add_argument("--keep-unverified", action="store_true", default=None,
                   help="keep intents whose task did not validate, without a task (marked unverified)")
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="intents_command", metavar="{check}")
    c = sub.add_parser("check", help="validate the tasks of an intents file in a sandbox; one verdict per intent")
    c.add_argument("file", help="intents JSONL whose records carry workspace, checks and (optionally) reference")
    c.add_argument("--out", help="write the intents whose task is valid here (JSONL)")
    c.add_argument("--config", dest="check_config", help="YAML recipe: its `intents: task:` section sets the bounds")
    c.add_argument("--concurrency", dest="check_concurrency", type=int, default=2, help="tasks validated at once")
    c.set_defaults(func=run_check)


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
    task = sections["intents"].setdefault("task", {})
    if isinstance(task, dict):
        if args.task_author:
            task["author"] = args.task_author
        if args.keep_unverified:
            task["keep_unverified"] = True
    where = f"{args.config}: section" if args.config else "command line:"
    return (
        build_section(IntentConfig, sections["intents"], f"{where} 'intents'"),
        build_section(LLMConfig, sections["llm"], f"{where} 'llm'"),
    )


def run(args: argparse.Namespace) -> int:
    from ..orchestrate import intents_summary, run_intents

    config, llm_config = load_config(args)
    # A --base-url means a server to talk to; otherwise the recipe's backend (embedded by default).
    stats = run_intents(config, llm_config, args.out, backend=args.backend, model=args.model, base_url=args.base_url)
    print(intents_summary(stats), file=sys.stdout)
    return 0


def run_check(args: argparse.Namespace) -> int:
    """`ise-trace intents check FILE`: exit 0 when every task is valid, 1 when any is rejected."""
    import asyncio

    from ..config import IntentConfig, build_section, load_yaml
    from ..tasks.check_file import check_intents_file

    section = {}
    if args.check_config:
        section = (load_yaml(args.check_config).get("intents") or {}).get("task") or {}
    config = build_section(IntentConfig, {"task": section}, f"{args.check_config or 'defaults'}: section 'intents.task'")
    rejected = asyncio.run(check_intents_file(args.file, args.out, config.task, args.check_concurrency))
    return 1 if rejected else 0
