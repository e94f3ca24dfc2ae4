"""`ise-trace simulate`: Stages S+E over an intents file, into a resumable run folder.

    ise-trace simulate --intents intents.jsonl --out runs/r1
    ise-trace simulate --intents intents.jsonl --out runs/r1 --concurrency 16 \\
        --agent-backend openai --agent-base-url http://gpu1:8000/v1,http://gpu2:8000/v1 \\
        --user-backend openai --user-base-url http://gpu3:8000/v1 --user-model Qwen/Qwen3-8B

Rerunning the same command resumes: finished intents are skipped, nothing is written twice.
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
    p.set_defaults(func=run)


def _help(field: str) -> str:
    from ..config import SimulateConfig

    info = SimulateConfig.model_fields[field]
    return f"{(info.description or field).rstrip('.')} (default {info.default})"


def load_config(args: argparse.Namespace):
    # Either the simulate settings themselves, or a recipe whose `simulate:` key holds them
    # (its other top-level keys belong to other stages).
    from ..config import SimulateConfig, section_from_recipe

    overrides = {field: getattr(args, field) for field in _OVERRIDES}
    return section_from_recipe(SimulateConfig, args.config, "simulate", overrides)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ..simulate.intents_file import load_intents

    config = load_config(args)
    intents = load_intents(args.intents)
    check_out_folder(args.out, "--out")  # before any model loads or server is asked
    summary = asyncio.run(_simulate(args, config, intents))
    return 0 if summary["missing"] == 0 else 1


def check_out_folder(path: str, flag: str) -> None:
    """Fail now, with one line, if `path` cannot be (or be used as) a folder; create nothing.

    The stages create their folders late, after models load and servers answer: a bad path
    found only then costs minutes and ends in an OSError traceback.
    """
    import os
    from pathlib import Path

    from ..errors import UserError

    target = Path(path).expanduser()
    if target.exists():
        if not target.is_dir():
            raise UserError(f"{flag} {path}: exists and is not a folder; pass a folder path")
        return
    parent = target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: cannot create it, {parent} is not a folder; pass another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot create it, {parent} is not writable; pass another path")


def _model_spec(args: argparse.Namespace, role: str):
    from ..simulate.models import ModelSpec

    backend = getattr(args, f"{role}_backend")
    model = getattr(args, f"{role}_model")
    urls = getattr(args, f"{role}_base_url")
    if role == "user":
        backend = backend or args.agent_backend
        model = model or args.agent_model
        urls = urls or args.agent_base_url
    parsed = tuple(u.strip() for u in urls.split(",") if u.strip()) if urls else (None,)
    return ModelSpec(backend or "llama-cpp", model, parsed or (None,))


async def _simulate(args: argparse.Namespace, config, intents) -> dict:
    from ..execute import TOOL_SCHEMAS, WorkspacePool, run_tool
    from ..simulate.episode import EpisodeSetup
    from ..simulate.models import open_models
    from ..simulate.runner import open_run, run_simulation

    async with open_models(_model_spec(args, "agent"), _model_spec(args, "user")) as (agent_models, user_models):
        run_dir, run_key = open_run(args.out, config, agent_models, user_models, intents_source=str(args.intents))
        try:
            # No more workspaces than episodes left to run: each costs a container start.
            left = len({i.id for i in intents} - run_dir.trajectories.finished_intents())
            size = max(1, min(config.concurrency, left))
            async with WorkspacePool(size=size, run_id=_pool_id(args.out)) as pool:
                setup = EpisodeSetup(
                    agent_model=agent_models[0],
                    user_model=user_models[0],
                    config=config,
                    tools=TOOL_SCHEMAS,
                    run_tool=run_tool,
                    sandbox_image=pool.image,
                    workdir=pool.config.workdir,
                )
                return await run_simulation(intents, run_dir, run_key, agent_models, user_models, pool, setup)
        finally:
            run_dir.close()


def _pool_id(out: str) -> str:
    """Container names per run folder: a rerun after a kill replaces its own leftovers, nobody else's."""
    import hashlib
    import os

    return "sim-" + hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:8]
