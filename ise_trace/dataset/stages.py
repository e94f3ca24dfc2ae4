"""Run the stages a build still needs, reusing what earlier runs finished.

Given an intents file or a run directory, the build uses it as it is. What is missing is made by
the stage commands themselves (`ise-trace intents`, `ise-trace simulate`), called in-process with
their own resume semantics: a rerun after an interrupt picks up where the stage stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import BuildConfig
from ..errors import UserError

# Exit code of `ise-trace simulate` when it finished but some intents ended without a trajectory
# (they are listed in failures.jsonl): the build goes on with the finished ones.
SIMULATE_PARTIAL = 1


@dataclass
class BuildInputs:
    run_dir: Path
    intents_file: Path | None


def work_dir_for(out: Path, build: BuildConfig) -> Path:
    """Where a build keeps the stage outputs it made (beside the dataset folder, reused on rerun)."""
    return out.resolve().parent / "ise-trace-runs" / build.name


def _run_stage(argv: list[str], ok: tuple[int, ...] = (0,)) -> None:
    from ..cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse rejected the arguments (it has printed why)
        code = e.code if isinstance(e.code, int) else 2
    if code not in ok:
        raise UserError(
            f"stage `ise-trace {argv[0]}` stopped (exit {code}; its message is above); "
            f"fix that, then rerun the same build: finished work is reused"
        )


def _model_flags(build: BuildConfig, prefix: str) -> list[str]:
    flags = [f"--{prefix}backend", build.backend]
    if build.model:
        flags += [f"--{prefix}model", build.model]
    if build.base_url:
        flags += [f"--{prefix}base-url", build.base_url]
    return flags


def prepare_inputs(
    build: BuildConfig, work: Path, *, intents_file: Path | None = None, run_dir: Path | None = None
) -> BuildInputs:
    """The run directory and intents file of a build, running Stage I and Stage S+E where needed;
    `work` is where the stages write what they make."""
    if run_dir is not None:
        return BuildInputs(run_dir=Path(run_dir), intents_file=Path(intents_file) if intents_file else None)
    work = Path(work)
    if intents_file is None:
        intents_file = work / "intents.jsonl"
        argv = ["intents", "--n", str(build.n_intents), "--seed", str(build.seed), "--out", str(intents_file)]
        _run_stage(argv + _model_flags(build, ""))
    run_dir = work / "run"
    argv = ["simulate", "--intents", str(intents_file), "--out", str(run_dir), "--seed", str(build.seed)]
    argv += _model_flags(build, "agent-")  # the simulator uses the agent's model unless told otherwise
    if build.max_user_turns is not None:
        argv += ["--max-user-turns", str(build.max_user_turns)]
    _run_stage(argv, ok=(0, SIMULATE_PARTIAL))
    return BuildInputs(run_dir=run_dir, intents_file=Path(intents_file))
