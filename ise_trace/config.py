"""Every default of ise-trace, in one place.

Each stage has one pydantic model here; YAML recipes and CLI flags override the fields, and an
unknown key is an error (never silently ignored). Change a default here and nowhere else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- Stage E


class SandboxConfig(Section):
    image_repo: str = Field("ise-trace-sandbox", description="Repository part of the workspace image tag.")
    base_repo: str = Field("ise-trace-base", description="Repository of the debootstrap base image.")
    suite: str = Field("bookworm", description="Debian suite of the workspace userland.")
    user: str = Field("agent", description="Non-root user commands run as.")
    workdir: str = Field("/workspace", description="The agent's working directory.")
    memory: str = Field("1g", description="Memory limit per workspace (docker --memory).")
    cpus: float = Field(1.0, description="CPU limit per workspace (docker --cpus).")
    pids: int = Field(256, description="Process limit per workspace (docker --pids-limit).")
    workspace_size: str = Field("256m", description="Size of the writable /workspace tmpfs.")
    tmp_size: str = Field("64m", description="Size of the /tmp tmpfs.")
    home_size: str = Field("32m", description="Size of the home tmpfs.")
    command_timeout_s: float = Field(30.0, description="Default per-command timeout.")
    max_command_timeout_s: float = Field(600.0, description="Upper bound an agent may ask for.")
    output_limit_bytes: int = Field(64 * 1024, description="Output cap per command, with a visible marker.")
    start_timeout_s: float = Field(30.0, description="Time allowed for a workspace to answer after start.")
    label: str = Field("ise_trace", description="Label prefix on every container.")


# --------------------------------------------------------------------------- logging

# Level of ise-trace's diagnostics on stderr (progress lines and results are not log records):
# `ise-trace -v` is INFO, `-vv` DEBUG (other libraries' records too), `-q/--quiet` ERROR;
# ISE_TRACE_LOG_LEVEL (a level name) is used when no flag is given.
LOG_LEVEL = "WARNING"
LOG_LEVEL_ENV = "ISE_TRACE_LOG_LEVEL"


# --------------------------------------------------------------------------- LLM layer


class LLMConfig(Section):
    backend: Literal["openai", "llama-cpp", "vllm"] = Field(
        "llama-cpp", description="openai (any OpenAI-compatible server) | llama-cpp (embedded, CPU) | vllm (in process, GPU)."
    )
    model: str | None = Field(None, description="Model name; None: the server's first model or the embedded one.")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible endpoint (openai backend).")
    api_key_env: list[str] = Field(
        ["ISE_TRACE_API_KEY", "OPENAI_API_KEY"], description="Environment variables read for the API key, in order."
    )
    timeout_s: float = Field(120.0, description="Per-request read timeout.")
    connect_timeout_s: float = Field(3.0, description="Time allowed to open a connection.")
    max_retries: int = Field(4, description="Retries on 429, 5xx, timeouts, dropped connections and empty replies.")
    connect_retries: int = Field(2, description="Retries when nothing listens (refused): kept low to fail fast.")
    backoff_initial_s: float = Field(0.5, description="First retry delay; doubles each retry, with jitter.")
    backoff_max_s: float = Field(20.0, description="Longest delay between retries.")
    structured_max_attempts: int = Field(3, description="Attempts before a structured reply counts as failed.")
    log_path: str | None = Field(None, description="JSONL file receiving every request and reply.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Sent with every request, e.g. chat_template_kwargs for Qwen3."
    )
    n_ctx: int = Field(
        8192,
        ge=256,
        description="Context length of the embedded model (SmolLM2 supports 8,192; ClawEval's first prompts need over 5,000).",
    )
    default_max_tokens: int = Field(
        1024,
        ge=1,
        description="Token cap of a reply whose request sets none (embedded server): without one it writes until the context is full.",
    )
    n_threads: int = Field(
        1,
        description="CPU threads of the embedded model. More only help on an idle machine: llama.cpp threads "
        "spin at barriers, and with the cores shared (sandboxes, tests) 2 threads ran 10x slower than 1.",
    )
    serve_host: str = Field("127.0.0.1", description="Address `ise-trace serve` listens on.")
    serve_port: int = Field(8000, description="Port `ise-trace serve` listens on.")
    serve_start_timeout_s: float = Field(600.0, description="Time a starting server has to answer /v1/models.")
    vllm_model: str = Field("Qwen/Qwen3-8B", description="Model `serve` gives vLLM when none is named.")
    vllm_tool_call_parser: str = Field("hermes", description="vLLM --tool-call-parser for served models.")
    vllm_engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Passed to vllm.LLM, e.g. tensor_parallel_size, gpu_memory_utilization."
    )

    # The client options that change what a model generates, per backend: a simulate run records
    # them (run.json) and refuses to resume under other ones. The rest (timeouts, retries, the
    # request log, where the API key comes from, threads, `serve` options) change how a run goes,
    # not what it produces. The server address is not one either: the model name is recorded.
    GENERATIVE: ClassVar[dict[str, tuple[str, ...]]] = {
        "openai": ("extra_body",),
        "llama-cpp": ("n_ctx",),
        "vllm": ("extra_body", "vllm_engine_kwargs"),
    }
    # vllm.LLM arguments that only place or pace the engine (kept out of the run record).
    VLLM_OPERATIONAL: ClassVar[frozenset[str]] = frozenset({
        "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "gpu_memory_utilization",
        "swap_space", "cpu_offload_gb", "max_num_seqs", "max_num_batched_tokens", "enforce_eager",
        "disable_log_stats", "download_dir",
    })

    def generative(self, backend: str) -> dict[str, Any]:
        """The options of `backend` that decide what it generates (see GENERATIVE)."""
        values = {name: _without_secrets(getattr(self, name)) for name in self.GENERATIVE.get(backend, ())}
        if "vllm_engine_kwargs" in values:
            values["vllm_engine_kwargs"] = {k: v for k, v in values["vllm_engine_kwargs"].items()
                                            if k not in self.VLLM_OPERATIONAL}
        return {"backend": backend, **values}


# Keys of extra_body (and the like) that hold a credential, not a generation option.
_SECRET_KEY = re.compile(r"(^|[_-])(api[_-]?key|key|token|secret|password|authorization|auth)$", re.IGNORECASE)


def _without_secrets(value: Any) -> Any:
    """`value` with every mapping entry whose key names a credential left out (at any depth)."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


# Each further stage adds its own Section subclass below (intents, simulation, build).


# --------------------------------------------------------------------------- executable tasks


class TaskConfig(Section):
    author: Literal["llm", "generator"] = Field(
        "llm",
        description="llm: the renderer's model authors each task, and the seeded generator of the task hints is "
        "the fallback when its task fails validation; generator: the seeded generator only.",
    )
    fallback_to_generator: bool = Field(True, description="Use the generator's task when the LLM's is rejected.")
    brief_text_fallback: bool = Field(
        False,
        description="When no rendered text passes, use the generator's brief, worded as the persona's request "
        "(renderer 'brief-template'): for models too small to write one.",
    )
    validate_in_sandbox: bool = Field(True, description="Validate each task in a real sandbox (setup, not done, solvable).")
    keep_unverified: bool = Field(
        False, description="Keep intents whose task was rejected (or that have none), without a task: marked unverified."
    )
    setup_timeout_s: float = Field(120.0, gt=0, description="Time each setup command may take.")
    check_timeout_s: float = Field(60.0, gt=0, description="Time each check may take.")
    reference_timeout_s: float = Field(300.0, gt=0, description="Time the reference solution may take.")
    max_files: int = Field(200, ge=1, description="Files an intent's workspace may list.")
    max_file_bytes: int = Field(1 << 20, ge=1, description="Largest file an intent may carry inline.")
    max_workspace_bytes: int = Field(64 << 20, ge=1, description="Largest /workspace after setup.")
    max_checks: int = Field(12, ge=1, description="Checks one task may have.")
    check_output_chars: int = Field(600, ge=40, description="Characters of a check's output kept in the verification.")
    snapshot_max_files: int = Field(300, ge=0, description="Files listed in a trajectory's final snapshot.")
    author_max_tokens: int = Field(1500, ge=64, description="Token cap of the LLM's authored task.")
    author_temperature: float = Field(0.4, ge=0, description="Sampling temperature of task authoring.")


# --------------------------------------------------------------------------- Stage I


class ComplexityShape(Section):
    weight: float = Field(gt=0, description="Relative chance of this complexity being drawn.")
    domains: tuple[int, int] = Field(description="Inclusive range of domains one intent combines.")
    tasks: tuple[int, int] = Field(description="Inclusive range of tasks, summed over its domains.")


def _default_complexity() -> dict[str, ComplexityShape]:
    # The paper's mix complex/medium/simple = 50/40/10: simple is one task of one domain, medium a
    # short multi-step job, complex a cross-domain job of several steps.
    return {
        "simple": ComplexityShape(weight=10, domains=(1, 1), tasks=(1, 1)),
        "medium": ComplexityShape(weight=40, domains=(1, 2), tasks=(2, 3)),
        "complex": ComplexityShape(weight=50, domains=(2, 3), tasks=(4, 5)),
    }


class IntentConfig(Section):
    n: int = Field(100, ge=1, description="Structured intents to sample (before validation and dedup).")
    seed: int = Field(0, description="Seed of the sampler; same seed, same tuples.")
    taxonomy_dir: str | None = Field(None, description="Folder with domains.yaml and personas.yaml; None = packaged.")
    complexity: dict[str, ComplexityShape] = Field(default_factory=_default_complexity)
    max_sample_tries: int = Field(1000, ge=1, description="Redraws allowed to avoid a repeated tuple.")
    concurrency: int = Field(4, ge=1, description="Intents rendered at once.")
    max_render_attempts: int = Field(
        3, ge=1,
        description="Renders of one tuple's text before it counts as failed, per text: the plain one, and the one "
        "from the generator's brief when the task falls back to the generator (so at most twice this in all).",
    )
    temperature: float = Field(0.8, ge=0, description="Sampling temperature of the renderer.")
    max_tokens: int = Field(600, ge=16, description="Token cap of one rendered intent.")
    min_chars: int = Field(60, ge=1, description="Shortest acceptable intent text.")
    max_chars: int = Field(2500, ge=1, description="Longest acceptable intent text (it names the workspace files).")
    min_task_coverage: float = Field(
        1.0, ge=0, le=1, description="Share of the intent's tasks whose keywords the text must mention."
    )
    embedder: str = Field("minilm", description="Embedder for dedup and Vendi: minilm or mpnet (the paper's).")
    near_dup_threshold: float = Field(0.92, gt=0, le=1, description="Cosine above which two intents are near duplicates.")
    vendi_q: float = Field(1.0, ge=0, description="Order q of the Vendi score in the stats.")
    task: TaskConfig = Field(default_factory=TaskConfig, description="How each intent gets its executable task.")

    @field_validator("complexity")
    @classmethod
    def _check_complexity(cls, v: dict[str, ComplexityShape]) -> dict[str, ComplexityShape]:
        if set(v) - {"simple", "medium", "complex"}:
            raise ValueError("complexity keys must be simple, medium and complex")
        for name, shape in v.items():
            (dl, dh), (tl, th) = shape.domains, shape.tasks
            if not (1 <= dl <= dh and 1 <= tl <= th and dl <= th):
                raise ValueError(f"complexity '{name}': need 1 <= min <= max and domains.min <= tasks.max")
        return v


# --------------------------------------------------------------------------- Stage S


class SimulateConfig(Section):
    max_user_turns: int = Field(20, ge=1, description="User turns before an episode stops (max_user_turns).")
    max_tool_calls: int = Field(120, ge=1, description="Tool calls per episode before it stops.")
    max_agent_steps: int = Field(16, ge=1, description="Agent model calls within one agent turn.")
    agent_tool_first: bool = Field(
        False,
        description="Require a tool call in the agent's first model call of every turn (tool_choice 'required'), for "
        "small models that otherwise only answer in text; later calls of the turn choose freely.",
    )
    agent_tool_steps: int | None = Field(
        None, ge=1,
        description="Model calls per agent turn that may call tools; the next one must answer in text (tool_choice "
        "'none'), so the turn ends with a reply to the user rather than at max_agent_steps, which ends the episode. "
        "None: no such limit.",
    )
    time_budget_s: float = Field(900.0, gt=0, description="Wall-clock budget of one episode.")
    tool_timeout_s: float = Field(
        60.0, gt=0,
        description="Time one tool call may take beyond the command's own timeout before it counts as an infrastructure failure.",
    )
    drift_regenerations: int = Field(2, ge=0, description="Regenerations of a user turn that drifted out of role.")
    drift_fallback: Literal["fail", "scripted"] = Field(
        "fail",
        description="When a user turn stays out of role through every regeneration: 'fail' ends the episode as a "
        "user_error; 'scripted' sends a template turn built from the record of what ran (counted in "
        "stats.scripted_turns) and goes on.",
    )
    drift_judge: bool = Field(
        False,
        description="Also ask the simulator's model whether each turn the offline drift check passed reads as the "
        "assistant (one more model call per turn; unmeasured on the held-out sets).",
    )
    empty_reply_retries: int = Field(2, ge=0, description="Retries of an empty simulator reply.")
    completion_refusals: int = Field(2, ge=0, description="Times an unbacked 'completed' verdict is sent back before it ends the episode as a failure.")
    max_attempts: int = Field(3, ge=1, description="Attempts per intent when an episode ends in an error.")
    concurrency: int = Field(4, ge=1, description="Episodes run at once (and workspaces in the pool).")
    seed: int = Field(0, description="Run seed; each episode derives its own from it and the intent id.")
    agent_temperature: float = Field(0.7, ge=0, description="Sampling temperature of the agent.")
    agent_top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling (top_p) of the agent.")
    agent_max_tokens: int = Field(1024, ge=1, description="Token cap of one agent reply.")
    user_temperature: float = Field(0.8, ge=0, description="Sampling temperature of the user simulator.")
    user_top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling (top_p) of the user simulator.")
    user_max_tokens: int = Field(384, ge=1, description="Token cap of one simulator reply.")
    digest_excerpt_chars: int = Field(
        600, ge=40, description="Characters (head and tail) of each call's output or file text the simulator sees."
    )
    digest_max_chars: int = Field(4000, ge=200, description="Upper bound of one turn's execution record, all calls together.")
    agent_context_tokens: int = Field(
        32768, ge=512, description="Context the agent model has: older tool outputs are elided to fit (stored in full)."
    )
    user_context_tokens: int = Field(
        32768, ge=512, description="Context the simulator model has: older execution records are elided to fit."
    )
    task: TaskConfig = Field(default_factory=TaskConfig, description="Bounds of seeding, checks and the final snapshot.")
    ray_address: str | None = Field(
        None,
        description="Ray cluster to spread episodes over: 'auto' (the one `ray start` made on this machine, or "
        "$RAY_ADDRESS), host:port, ray://host:port, or 'local' (one node in this process); None runs without Ray.",
    )
    ray_actors_per_node: int = Field(
        1, ge=1, description="Ray actors on each node; each runs `concurrency` episodes in workspaces of its own node."
    )
    ray_actors: int | None = Field(
        None, ge=1, description="Ray actors in all, placed round-robin over the nodes (instead of ray_actors_per_node)."
    )

    # Fields that change how fast a run goes but not what it produces: left out of the run hash,
    # so a resumed run may use another value (a run started without Ray may go on with it).
    OPERATIONAL: ClassVar[frozenset[str]] = frozenset({"concurrency", "ray_address", "ray_actors_per_node", "ray_actors"})


# --------------------------------------------------------------------------- build (dataset folder)


class BuildConfig(Section):
    name: str = Field("demo", description="Name of the build configuration (a preset or a custom one).")
    n_intents: int = Field(8, ge=1, description="Intents Stage I samples when no intents file is given.")
    seed: int = Field(0, description="Seed of intent sampling and simulation.")
    backend: str = Field("llama-cpp", description="LLM backend the stages use (openai, llama-cpp, vllm).")
    model: str | None = Field(None, description="Model name for the backend; None takes the backend's default.")
    base_url: str | None = Field(None, description="Server URL for the openai/vllm backends.")
    max_user_turns: int | None = Field(None, ge=1, description="Overrides SimulateConfig.max_user_turns when set.")
    validation_fraction: float = Field(0.05, ge=0, lt=1, description="Share of intents (by id hash) in validation.")
    test_fraction: float = Field(0.05, ge=0, lt=1, description="Share of intents (by id hash) in test.")
    max_shard_mb: float = Field(256.0, gt=0, description="Upper bound of one parquet shard, in MiB of Arrow data.")
    vendi: bool = Field(True, description="Compute the Vendi score of intent texts (needs the embedder).")
    embedder: str = Field("minilm", description="Embedding model for Vendi: minilm (fast) or mpnet (the paper's).")
    pretty_name: str = Field("ISE-Trace", description="Dataset name shown on the card.")
    license: str = Field("apache-2.0", description="Licence identifier written to the card.")


# The paper's parameters (arXiv 2606.11520): ~50,000 sampled intents, up to 23 user turns,
# Vendi measured with all-mpnet-base-v2.
BUILD_PRESETS: dict[str, BuildConfig] = {
    "demo": BuildConfig(name="demo", n_intents=4, max_user_turns=3),
    "paper": BuildConfig(
        name="paper", n_intents=50_000, backend="vllm", max_user_turns=23, embedder="mpnet"
    ),
}


# --------------------------------------------------------------------------- eval (ClawEval)


class EvalConfig(Section):
    trials: int = Field(3, ge=1, description="Trials per task (ClawEval's leaderboard uses 3).")
    parallel: int = Field(4, ge=1, description="Harness processes at once, each on its own port offset.")
    pass_k: list[int] = Field(
        default_factory=list, description="k values for pass@k and pass^k; empty means 1 and the trial count."
    )
    pass_threshold: float = Field(0.75, ge=0.0, le=1.0, description="A trial passes at this task score or above.")
    completion_weight: float = Field(0.8, ge=0.0, description="Weight of completion in the task score.")
    robustness_weight: float = Field(0.2, ge=0.0, description="Weight of robustness in the task score.")
    error_policy: str = Field(
        "fail",
        pattern="^(fail|exclude)$",
        description="An errored trial counts as a failed trial ('fail') or is left out of the rates ('exclude').",
    )
    bootstrap_samples: int = Field(1000, ge=0, description="Task-level bootstrap resamples for intervals (0: none).")
    confidence: float = Field(0.95, gt=0.0, lt=1.0, description="Confidence level of the intervals.")
    seed: int = Field(0, description="Seed of the bootstrap.")
    port_stride: int = Field(50, ge=1, description="Port gap between parallel harness slots (the harness's stride).")
    port_base_offset: int = Field(0, ge=0, description="Offset added to every slot, to run beside another eval.")
    trial_timeout_s: float = Field(1800.0, gt=0, description="Wall-clock limit of one harness trial.")
    server_timeout_s: float = Field(10.0, gt=0, description="Time a model server gets to answer the start-up check.")
    model_api_key_env: str = Field("OPENAI_API_KEY", description="Env var with the model server's key, if it needs one.")
    judge_api_key_env: str = Field("OPENAI_API_KEY", description="Env var with the judge server's key, if it needs one.")
    out_root: str = Field("ise-trace-runs/eval", description="Parent of run folders when --out is not given.")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear message naming the file on any problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file; pass the recipe file itself") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable (permission denied); fix its permissions or pass another file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); save the recipe as UTF-8"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def section_from_recipe(
    model: type[Section], recipe: str | Path | None, key: str, overrides: dict[str, Any]
) -> Section:
    """`model` from a YAML recipe (its `key:` section, or the whole file when it has none), with
    the CLI flags that were given (not None) on top."""
    values: dict[str, Any] = {}
    source = f"{key} options"
    if recipe:
        data = load_yaml(recipe)
        section = data.get(key, data)
        if not isinstance(section, dict):
            raise ConfigError(f"{recipe}: field '{key}': expected a mapping of {key} settings")
        values = dict(section)
        source = str(recipe)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build_section(model, values, source)


def build_section(model: type[Section], values: dict[str, Any], source: str) -> Section:
    """Validate `values` into `model`, turning pydantic errors into one readable message."""
    try:
        return model(**values)
    except ValidationError as e:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None
