"""The stages as Python functions: the one path `demo`, `build`, the stage commands and the
`datasets` builder all take.

    stats = run_intents(intent_config, llm_config, "work/intents.jsonl")          # Stage I
    summary = run_simulate(simulate_settings, "work/intents.jsonl", "work/run")   # Stage S+E
    result = build_dataset(build_config, "ise-trace")                             # stages as needed + folder

Each stage resumes on its own (rendered ids, recorded trajectories are skipped), so calling the
same function again after an interrupt picks up where it stopped. Bad input raises `UserError`
(the CLI turns it into one line and an exit code); nothing here prints except Stage I's summary
line when a build runs it, as `ise-trace intents` does.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BuildConfig, IntentConfig, LLMConfig, SimulateConfig, build_section, load_yaml
from .errors import ConfigError, UserError

log = logging.getLogger(__name__)

# The recipe sections that configure models: `llm:` for every role (and Stage I's renderer),
# `agent_llm:` / `user_llm:` on top of it for one role of Stage S.
LLM_SECTIONS = ("llm", "agent_llm", "user_llm")

VALIDATION_WORKSPACES = 4  # Stage I validation is short sandbox work; more workspaces than this only queue


# --------------------------------------------------------------------------- Stage I


def run_intents(
    config: IntentConfig,
    llm_config: LLMConfig,
    out: str | Path,
    *,
    backend: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Stage I into `out` (intents.jsonl, with stats, duplicates and rejects beside it); returns the stats.

    `backend`/`model`/`base_url` override `llm_config`; a base_url alone means an OpenAI-compatible server.
    """
    import asyncio

    from .intents.pipeline import IntentPipeline
    from .intents.taxonomy import Taxonomy
    from .llm import make_chat_model

    taxonomy = Taxonomy.load(config.taxonomy_dir)  # a bad taxonomy is reported before a model loads
    backend = backend or ("openai" if base_url else llm_config.backend)
    log.info("stage I: %d intents (seed %d) -> %s, %s model", config.n, config.seed, out, backend)

    async def main() -> dict:
        chat = make_chat_model(backend, model or llm_config.model, base_url, config=llm_config)
        pool = None
        try:
            if config.task.validate_in_sandbox:
                from .execute.pool import WorkspacePool

                pool = await WorkspacePool(size=min(config.concurrency, VALIDATION_WORKSPACES)).start()
            return await IntentPipeline(config, chat, str(out), taxonomy=taxonomy, pool=pool).run()
        finally:
            if pool is not None:
                await pool.close()
            close = getattr(chat, "aclose", None)
            if close is not None:
                await close()

    return asyncio.run(main())


def intents_summary(stats: dict[str, Any]) -> str:
    """The one JSON line `ise-trace intents` prints on stdout."""
    summary = {k: stats[k] for k in ("sampled", "rendered", "failed_validation", "duplicates_removed", "unique")}
    summary["vendi"] = stats["diversity"]["vendi"]["score"]
    return json.dumps(summary)


def intent_settings(recipe: str | Path | None, **fields: Any) -> tuple[IntentConfig, LLMConfig]:
    """(IntentConfig, LLMConfig) from a recipe's `intents:` and `llm:` sections, `fields` on top of `intents:`."""
    data = load_yaml(recipe) if recipe else {}
    sections = {name: _section(data, name, recipe) for name in ("intents", "llm")}
    sections["intents"].update({k: v for k, v in fields.items() if v is not None})
    where = f"{recipe}: section" if recipe else "command line:"
    return (
        build_section(IntentConfig, sections["intents"], f"{where} 'intents'"),
        build_section(LLMConfig, sections["llm"], f"{where} 'llm'"),
    )


# --------------------------------------------------------------------------- Stage S+E


@dataclass(frozen=True)
class ModelChoice:
    """Which model one role talks to: backend, model name, servers (several spread the load) and client options."""

    backend: str = "llama-cpp"
    model: str | None = None
    base_urls: tuple[str | None, ...] = (None,)  # None: the backend's default (embedded: in process)
    options: LLMConfig = field(default_factory=LLMConfig)

    def spec(self):
        from .simulate.models import ModelSpec

        return ModelSpec(self.backend, self.model, self.base_urls, self.options)


@dataclass(frozen=True)
class SimulateSettings:
    """Everything one `simulate` run needs: the Stage S settings and each role's model."""

    config: SimulateConfig = field(default_factory=SimulateConfig)
    agent: ModelChoice = field(default_factory=ModelChoice)
    user: ModelChoice = field(default_factory=ModelChoice)


def simulate_settings(
    recipe: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    llm: dict[str, Any] | None = None,
    agent_llm: dict[str, Any] | None = None,
    user_llm: dict[str, Any] | None = None,
    agent: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
) -> SimulateSettings:
    """Settings of a simulate run from a recipe, flags on top.

    The recipe holds SimulateConfig fields under `simulate:` (or at its top level), and LLMConfig
    fields under `llm:` (both roles), `agent_llm:` and `user_llm:` (one role, over `llm:`).
    `overrides` are SimulateConfig fields; `llm`/`agent_llm`/`user_llm` LLMConfig fields (flags,
    over the recipe's sections of the same name); `agent`/`user` hold the role's `backend`,
    `model` and `base_url` (comma-separated for several servers) from flags, over everything.
    The user takes the agent's backend, model and servers unless told otherwise.
    """
    data = load_yaml(recipe) if recipe else {}
    llm_sections = {name: _section(data, name, recipe) for name in LLM_SECTIONS}
    if "simulate" in data:
        values = _section(data, "simulate", recipe)
    else:  # the simulate settings themselves, beside any llm sections
        values = {k: v for k, v in data.items() if k not in LLM_SECTIONS}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    source = str(recipe) if recipe else "simulate options"
    config = build_section(SimulateConfig, values, source)

    given = {"llm": llm or {}, "agent_llm": agent_llm or {}, "user_llm": user_llm or {}}
    # Each part alone first, so an error names the section or flag it came from.
    for name in LLM_SECTIONS:
        build_section(LLMConfig, llm_sections[name], f"{recipe}: section '{name}'")
        build_section(LLMConfig, given[name], f"--{name.replace('_', '-')}")
    options = {}
    for role in ("agent", "user"):
        merged = {**llm_sections["llm"], **llm_sections[f"{role}_llm"], **given["llm"], **given[f"{role}_llm"]}
        options[role] = build_section(LLMConfig, merged, f"{role} LLM options")
    agent_choice = _choice(options["agent"], agent or {}, None)
    user_choice = _choice(options["user"], user or {}, agent_choice)
    return SimulateSettings(config=config, agent=agent_choice, user=user_choice)


def _choice(options: LLMConfig, flags: dict[str, Any], fallback: ModelChoice | None) -> ModelChoice:
    """One role's model: flags, else what its LLM sections set, else the agent's (user), else the default."""
    explicit = options.model_fields_set
    backend = flags.get("backend") or (options.backend if "backend" in explicit else None)
    model = flags.get("model") or options.model
    urls = flags.get("base_url") or (options.base_url if "base_url" in explicit else None)
    if fallback is not None:
        backend = backend or fallback.backend
        model = model or fallback.model
        urls = urls if urls is not None else (",".join(u for u in fallback.base_urls if u) or None)
    parsed = tuple(u.strip() for u in urls.split(",") if u.strip()) if urls else ()
    return ModelChoice(backend or "llama-cpp", model, parsed or (None,), options)


def _check_context(settings: SimulateSettings) -> None:
    for role in ("agent", "user"):
        choice = getattr(settings, role)
        tokens = getattr(settings.config, f"{role}_context_tokens")
        if choice.backend == "llama-cpp" and tokens > choice.options.n_ctx:
            log.info(
                "%s_context_tokens %d is more than the embedded model's context (n_ctx %d): long episodes will "
                "overflow it; set simulate: %s_context_tokens or %s_llm: n_ctx",
                role, tokens, choice.options.n_ctx, role, role,
            )


def run_simulate(settings: SimulateSettings, intents_file: str | Path, out: str | Path) -> dict[str, Any]:
    """Stage S+E of every intent of `intents_file` not yet recorded in the run folder `out`.

    Returns the run summary; `summary["missing"]` counts intents that ended without a trajectory
    (listed in failures.jsonl). Rerunning with the same settings resumes.
    """
    import asyncio

    from .simulate.intents_file import load_intents

    intents = load_intents(intents_file)
    check_out_folder(str(out), "--out")  # before any model loads or server is asked
    _check_context(settings)
    log.info("stage S+E: %d intents from %s -> %s; agent %s, user %s", len(intents), intents_file, out,
             settings.agent.backend, settings.user.backend)
    log.debug("agent options: %s", settings.agent.options.model_dump(exclude_defaults=True))
    log.debug("user options: %s", settings.user.options.model_dump(exclude_defaults=True))
    return asyncio.run(_simulate(settings, intents, str(intents_file), str(out)))


async def _simulate(settings: SimulateSettings, intents, intents_source: str, out: str) -> dict:
    from .execute import TOOL_SCHEMAS, WorkspacePool, run_tool
    from .simulate.episode import EpisodeSetup
    from .simulate.models import open_models
    from .simulate.runner import open_run, run_simulation

    config = settings.config
    async with open_models(settings.agent.spec(), settings.user.spec()) as (agent_models, user_models):
        run_dir, run_key = open_run(out, config, agent_models, user_models, intents_source=intents_source,
                                    agent=settings.agent, user=settings.user)
        try:
            # No more workspaces than episodes left to run: each costs a container start.
            left = len({i.id for i in intents} - run_dir.trajectories.finished_intents())
            size = max(1, min(config.concurrency, left))
            async with WorkspacePool(size=size, run_id=pool_id(out)) as pool:
                setup = EpisodeSetup(
                    agent_model=agent_models[0],
                    user_model=user_models[0],
                    config=config,
                    tools=TOOL_SCHEMAS,
                    run_tool=run_tool,
                    sandbox_image=pool.image,
                    workdir=pool.config.workdir,
                )
                # The progress line goes to the stderr of now (not of import time: callers swap it).
                return await run_simulation(intents, run_dir, run_key, agent_models, user_models, pool, setup,
                                            stream=sys.stderr)
        finally:
            run_dir.close()


def pool_id(out: str) -> str:
    """Container names per run folder: a rerun after a kill replaces its own leftovers, nobody else's."""
    import hashlib
    import os

    return "sim-" + hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:8]


def check_out_folder(path: str, flag: str) -> None:
    """Fail now, with one line, if `path` cannot be (or be used as) a folder; create nothing.

    The stages create their folders late, after models load and servers answer: a bad path
    found only then costs minutes and ends in an OSError traceback.
    """
    import os

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


# --------------------------------------------------------------------------- build


@dataclass
class BuildInputs:
    run_dir: Path
    intents_file: Path | None


def work_dir_for(out: Path, build: BuildConfig) -> Path:
    """Where a build keeps the stage outputs it made (beside the dataset folder, reused on rerun)."""
    return Path(out).resolve().parent / "ise-trace-runs" / build.name


def build_simulate_settings(build: BuildConfig) -> SimulateSettings:
    """The simulate settings a build uses when it runs Stage S+E itself."""
    overrides = {"seed": build.seed, "max_user_turns": build.max_user_turns}
    # The simulator uses the agent's model unless told otherwise.
    return simulate_settings(None, overrides, agent={"backend": build.backend, "model": build.model, "base_url": build.base_url})


def _stage(name: str, call, *args, **kwargs):
    """Run one stage for a build; its bad input becomes the build's, with how to go on."""
    try:
        return call(*args, **kwargs)
    except UserError as e:
        error = UserError(f"stage `ise-trace {name}`: {e}; fix that, then rerun the same build: finished work is reused")
        error.exit_code = e.exit_code
        raise error from None


def prepare_inputs(
    build: BuildConfig,
    work: Path,
    *,
    intents_file: Path | None = None,
    run_dir: Path | None = None,
) -> BuildInputs:
    """The run directory and intents file of a build, running Stage I and Stage S+E where needed;
    `work` is where the stages write what they make."""
    if run_dir is not None:
        return BuildInputs(run_dir=Path(run_dir), intents_file=Path(intents_file) if intents_file else None)
    work = Path(work)
    if intents_file is None:
        intents_file = work / "intents.jsonl"
        config = IntentConfig(n=build.n_intents, seed=build.seed)
        stats = _stage("intents", run_intents, config, LLMConfig(), intents_file,
                       backend=build.backend, model=build.model, base_url=build.base_url)
        print(intents_summary(stats), flush=True)
    run_dir = work / "run"
    summary = _stage("simulate", run_simulate, build_simulate_settings(build), intents_file, run_dir)
    if summary.get("missing"):
        log.warning("%d intents ended without a trajectory (see %s); the build goes on with the rest",
                    summary["missing"], run_dir / "failures.jsonl")
    return BuildInputs(run_dir=run_dir, intents_file=Path(intents_file))


def build_dataset(
    build: BuildConfig,
    out: str | Path,
    *,
    intents_file: str | Path | None = None,
    run_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    template: Path | None = None,
    show_progress: bool = True,
):
    """The dataset folder `out` (parquet shards, card, plots): from `run_dir` when given, else
    running the stages still missing in `work_dir` (default: beside `out`). Returns the BuildResult."""
    from .dataset.card import DEFAULT_TEMPLATE, check_template
    from .dataset.folder import build_folder

    out = Path(out)
    template = Path(template) if template else DEFAULT_TEMPLATE
    check_template(template)  # before the stages run, not after hours of simulation
    inputs = prepare_inputs(
        build,
        Path(work_dir) if work_dir else work_dir_for(out, build),
        intents_file=Path(intents_file) if intents_file else None,
        run_dir=Path(run_dir) if run_dir else None,
    )
    return build_folder(build, out, run_dir=inputs.run_dir, intents_file=inputs.intents_file,
                        template=template, show_progress=show_progress)


def _section(data: dict[str, Any], name: str, recipe) -> dict[str, Any]:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{recipe}: field '{name}': expected a mapping of settings")
    return dict(section)
