"""`ise-trace simulate`: Stages S+E over an intents file, into a resumable run folder.

    ise-trace simulate --intents intents.jsonl --out runs/r1
    ise-trace simulate --intents intents.jsonl --out runs/r1 --concurrency 16 \\
        --agent-backend openai --agent-base-url http://gpu1:8000/v1,http://gpu2:8000/v1 \\
        --user-backend openai --user-base-url http://gpu3:8000/v1 --user-model Qwen/Qwen3-8B
    # Qwen3 without thinking, longer timeouts for the agent, nucleus sampling for the user
    ise-trace simulate --intents intents.jsonl --out runs/r2 --agent-backend openai \\
        --agent-base-url http://gpu1:8000/v1 --llm 'extra_body={chat_template_kwargs: {enable_thinking: false}}' \\
        --agent-llm timeout_s=300 --user-top-p 0.9
    # over a Ray cluster (pip install 'ise-trace[ray]'): actors on every node, workspaces on each node's engine
    ise-trace simulate --intents intents.jsonl --out runs/r3 --ray head:6379 --agent-backend openai \\
        --agent-base-url http://gpu1:8000/v1,http://gpu2:8000/v1

A recipe (--config) holds SimulateConfig fields under `simulate:` and model client options
(LLMConfig fields: timeouts, retries, extra_body, n_ctx, ...) under `llm:` (both roles),
`agent_llm:` and `user_llm:` (one role, over `llm:`); flags override the recipe. Unknown keys
are errors. Rerunning the same command resumes: finished intents are skipped, nothing is written twice.
"""

from __future__ import annotations

import argparse

# CLI flag -> SimulateConfig field; a flag left out keeps the value from --config or the default.
_OVERRIDES = {
    "concurrency": int,
    "max_user_turns": int,
    "max_tool_calls": int,
    "max_agent_steps": int,
    "time_budget_s": float,
    "max_attempts": int,
    "seed": int,
    "agent_max_tokens": int,
    "user_max_tokens": int,
    "agent_temperature": float,
    "user_temperature": float,
    "agent_top_p": float,
    "user_top_p": float,
    "agent_context_tokens": int,
    "user_context_tokens": int,
    "ray_actors_per_node": int,
    "ray_actors": int,
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="run simulated users and agents over intents in live sandboxes")
    p.add_argument("--intents", required=True, help="intents.jsonl (one intent per line), from `ise-trace intents`")
    p.add_argument("--out", required=True, help="run folder; rerun with the same folder to resume")
    p.add_argument("--config", default=None,
                   help="YAML with SimulateConfig fields, at the top level or under 'simulate:' (flags override it)")
    for role in ("agent", "user"):
        same = " (default: as the agent)" if role == "user" else ""
        p.add_argument(f"--{role}-backend", default=None, help=f"openai | llama-cpp | vllm{same or ' (default: llama-cpp)'}")
        p.add_argument(f"--{role}-model", default=None, help=f"model name{same}")
        p.add_argument(
            f"--{role}-base-url", default=None,
            help=f"OpenAI-compatible endpoint; several, comma-separated, spread the load{same}",
        )
    for field, kind in _OVERRIDES.items():
        p.add_argument(f"--{field.replace('_', '-')}", type=kind, default=None, help=_help(field))
    for flag, whom in (("llm", "both roles"), ("agent-llm", "the agent"), ("user-llm", "the simulated user")):
        p.add_argument(
            f"--{flag}", action="append", default=[], metavar="KEY=VALUE",
            help=f"LLM client option of {whom} (an LLMConfig field, VALUE read as YAML), e.g. timeout_s=300 or "
            "'extra_body={chat_template_kwargs: {enable_thinking: false}}'; repeatable, over the recipe's "
            f"'{flag.replace('-', '_')}:' section",
        )
    p.add_argument(
        "--ray", dest="ray_address", nargs="?", const="auto", default=None, metavar="ADDRESS",
        help="spread episodes over a Ray cluster (the 'ray' extra): ADDRESS is host:port, ray://host:port or 'local'; "
        "alone, 'auto' (the cluster `ray start` made on this machine, or $RAY_ADDRESS). Each node runs "
        "--ray-actors-per-node actors, each with --concurrency workspaces on that node's Docker engine",
    )
    p.set_defaults(func=run)


def _help(field: str) -> str:
    from ..config import SimulateConfig

    info = SimulateConfig.model_fields[field]
    return f"{(info.description or field).rstrip('.')} (default {info.default})"


def load_config(args: argparse.Namespace):
    """The SimulateConfig of these args (recipe, flags on top)."""
    return load_settings(args).config


def load_settings(args: argparse.Namespace):
    """SimulateSettings: the recipe's `simulate:` and LLM sections, the flags on top."""
    from ..orchestrate import simulate_settings

    overrides = {field: getattr(args, field) for field in (*_OVERRIDES, "ray_address")}
    roles = {role: {"backend": getattr(args, f"{role}_backend"), "model": getattr(args, f"{role}_model"),
                    "base_url": getattr(args, f"{role}_base_url")} for role in ("agent", "user")}
    return simulate_settings(
        args.config, overrides,
        llm=parse_options(args.llm, "--llm"),
        agent_llm=parse_options(args.agent_llm, "--agent-llm"),
        user_llm=parse_options(args.user_llm, "--user-llm"),
        **roles,
    )


def parse_options(pairs: list[str], flag: str) -> dict:
    """KEY=VALUE flags -> a mapping; VALUE is YAML (numbers, booleans, {mappings})."""
    import yaml

    from ..errors import ConfigError

    options = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {pair}: expected KEY=VALUE, e.g. {flag} timeout_s=300")
        try:
            options[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"{flag} {pair}: the value is not valid YAML ({getattr(e, 'problem', e)})") from None
    return options


def run(args: argparse.Namespace) -> int:
    from ..orchestrate import run_simulate

    settings = load_settings(args)
    if settings.config.ray_address:  # Ray is imported only on this path
        from ..simulate.ray_runner import run_ray_simulate

        run_simulate = run_ray_simulate
    summary = run_simulate(settings, args.intents, args.out)
    return 0 if summary["missing"] == 0 else 1


def check_out_folder(path: str, flag: str) -> None:
    """Fail now, with one line, if `path` cannot be (or be used as) a folder (see orchestrate)."""
    from ..orchestrate import check_out_folder as check

    check(path, flag)
