"""`ise-trace demo`: the whole pipeline on embedded defaults, end to end on a CPU.

Stage I renders a few intents with the embedded model, Stage S+E simulates a user and an agent
over them in live sandboxes, and the build writes the dataset folder. Everything is resumable:
rerunning picks up where an interrupted demo stopped.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on embedded defaults (local model, local Docker)")
    p.add_argument("--out", default="ise-trace", help="dataset folder to write (default: ./ise-trace)")
    p.add_argument("--n-intents", type=int, default=None, help="intents to sample (default: the demo preset's)")
    p.add_argument("--max-user-turns", type=int, default=None, help="user turns per episode (default: the preset's)")
    p.set_defaults(func=run)


DEMO_RECIPE = "demo.yaml"


def run(args: argparse.Namespace) -> int:
    from importlib.resources import files
    from pathlib import Path

    from ..config import BUILD_PRESETS
    from ..errors import UserError
    from ..execute.image import build_image
    from ..orchestrate import build_dataset, intent_settings, intents_summary, run_intents, run_simulate, \
        simulate_settings, work_dir_for
    from .build import report

    build_image()  # a no-op when the image for this definition exists
    preset = BUILD_PRESETS["demo"]
    out = Path(args.out)
    work = work_dir_for(out, preset)
    intents, run_dir = work / "intents.jsonl", work / "run"
    recipe = str(files("ise_trace.recipes").joinpath(DEMO_RECIPE))
    n = args.n_intents or preset.n_intents

    # Each stage resumes on its own, so an interrupted demo picks up where it stopped.
    intent_config, llm_config = intent_settings(recipe, n=n, seed=preset.seed)
    print(intents_summary(run_intents(intent_config, llm_config, intents)), flush=True)
    if not any(line.strip() for line in intents.read_text().splitlines()):
        raise UserError(
            f"Stage I accepted none of the {n} intents the embedded model drafted (why: "
            f"{intents.with_suffix('.rejects.jsonl')}); rerun with a larger --n-intents: finished work is reused"
        )
    settings = simulate_settings(recipe, {"seed": preset.seed, "max_user_turns": args.max_user_turns})
    run_simulate(settings, intents, run_dir)  # intents left without a trajectory: the build goes on without them
    result = build_dataset(preset, out, intents_file=intents, run_dir=run_dir)
    report(result, out)
    print(next_steps(out, args.out))
    return 0


def next_steps(folder, shown: str) -> str:
    """Commands that run as printed on this demo's dataset: the SFT filter is the strictest one
    that keeps a trajectory (verified, else the simulator's successes, else all of them)."""
    from ..dataset.corpus_stats import stats_of_folder

    stats = stats_of_folder(folder, embedder=None)
    if stats.verification_counts.get("passed"):
        outcomes = "verified"
    elif stats.outcome_counts.get("success"):
        outcomes = "success"
    else:
        outcomes = "all"
    where = folder.resolve()
    why = {"verified": "the trajectories whose checks passed",
           "success": "no trajectory passed its checks, so the simulator's successes",
           "all": "no trajectory passed its checks or was a success, so all of them"}[outcomes]
    activate = activation_line()
    return (
        "\nNext steps:\n"
        + (f"  {activate}\n" if activate else "")
        + f"  ise-trace stats {shown}\n"
        f"  python -c 'from datasets import load_dataset; print(load_dataset(\"{where}\"))'\n"
        f"  # SFT of a tiny random Qwen3 on {why} (a real run: sft/README.md)\n"
        "  python sft/tiny.py out/tiny\n"
        "  accelerate launch --num_processes 1 --cpu sft/train.py --config sft/recipes/tiny-cpu.yaml "
        f"--dataset_name {where} --outcomes {outcomes} --max_length 4096 --max_steps 2 --output_dir out/demo-sft\n"
        "  # then serve a trained model and score it on Claw-Eval's rule-graded tasks (eval/README.md):\n"
        "  ise-trace eval --claw-eval-dir ../claw-eval --model-base-url http://127.0.0.1:8001/v1 --model my-sft "
        "--tasks judge-free"
    )


STEP_COMMANDS = ("ise-trace", "python", "accelerate")  # what the next steps call by name


def activation_line(prefix: str | None = None, base_prefix: str | None = None, path: str | None = None,
                    cwd: str | None = None) -> str | None:
    """The shell line that puts this interpreter's virtualenv first on PATH, or None when it needs none.

    None outside a virtualenv, and when PATH already finds the next steps' commands in its bin
    folder (activated). Otherwise `source` of its activate script (run.sh runs the demo as
    `.venv/bin/ise-trace` with nothing activated), the path relative to the current folder when
    the venv is under it. Defaults: sys.prefix, sys.base_prefix, $PATH, the current folder.
    """
    import os
    import shlex
    import shutil
    import sys
    from pathlib import Path

    prefix = Path(prefix or sys.prefix)
    if os.path.realpath(prefix) == os.path.realpath(base_prefix or sys.base_prefix):
        return None
    bin_dir = prefix / "bin"
    path = os.environ.get("PATH", "") if path is None else path
    found = [shutil.which(c, path=path) for c in STEP_COMMANDS]
    if all(f and os.path.realpath(os.path.dirname(f)) == os.path.realpath(bin_dir) for f in found):
        return None
    here = Path(cwd or os.getcwd()).resolve()
    shown = bin_dir.resolve()
    if shown.is_relative_to(here):
        shown = shown.relative_to(here)
    if (bin_dir / "activate").is_file():
        return f"source {shlex.quote(str(shown / 'activate'))}"
    return f"export PATH={shlex.quote(str(shown))}:\"$PATH\""
