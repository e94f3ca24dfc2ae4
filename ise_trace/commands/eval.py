"""`ise-trace eval`: score a model on ClawEval through the official Claw-Eval harness.

    ise-trace eval --claw-eval-dir ~/claw-eval --model-base-url http://127.0.0.1:8000/v1 \\
        --model Qwen/Qwen3-8B --judge-base-url http://127.0.0.1:8001/v1 --judge-model judge
    ise-trace eval ... --tasks T001-T044,T105 --trials 3 --parallel 8 --out runs/qwen3-8b
    ise-trace eval --compare runs/qwen3-8b/results.json runs/sft/results.json --out table.md

Rerunning the same command resumes: graded trials are kept, the rest are run. The run folder
gets results.json (the metric's full output plus every trial) and results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

# CLI flag -> EvalConfig field; a flag left out keeps the value from --config or the default.
_OVERRIDES = {"trials": int, "parallel": int, "seed": int, "trial_timeout_s": float, "port_base_offset": int}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score models on ClawEval through the official harness; compare results")
    p.add_argument("--claw-eval-dir", help="root of a checkout of the Claw-Eval harness (GitHub claw-eval/claw-eval)")
    p.add_argument("--model-base-url", help="OpenAI-compatible endpoint of the model under test (…/v1)")
    p.add_argument("--model", help="model name as the server lists it (GET /v1/models)")
    p.add_argument("--judge-base-url", default=None, help="OpenAI-compatible endpoint of the judge (default: the model's)")
    p.add_argument("--judge-model", default=None, help="judge model name; needed by tasks whose graders ask an LLM judge")
    p.add_argument("--tasks", default=None,
                   help="comma-separated task folders, T numbers, ranges (T001-T020) or judge-free (the offline "
                        "T tasks graded by rules alone, which need no judge); default: the offline T family")
    p.add_argument("--include-live-web", action="store_true",
                   help="also run tasks that search the live web (the harness then needs internet and its search key)")
    p.add_argument("--out", default=None, help="run folder (default: ise-trace-runs/eval/<label>); with --compare: table file")
    p.add_argument("--label", default=None, help="name of this model in tables (default: --model)")
    p.add_argument("--harness-cmd", default=None,
                   help="command that starts the harness CLI (default: the checkout's .venv/bin/claw-eval, else "
                        "this Python on the checkout's src/)")
    p.add_argument("--config", default=None, help="YAML file with eval settings (flags override it)")
    p.add_argument("--dry-run", action="store_true", help="run every check, print the plan, start no trial")
    p.add_argument("--compare", nargs="+", metavar="RESULTS_JSON", default=None,
                   help="print a markdown table of several results.json files side by side, then exit")
    for name, kind in _OVERRIDES.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=f"override the {name} setting")
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace):
    from ..config import EvalConfig, section_from_recipe

    return section_from_recipe(EvalConfig, args.config, "eval", {name: getattr(args, name) for name in _OVERRIDES})


def _compare(args: argparse.Namespace) -> int:
    from ..evaluation.report import load_results, markdown_table
    from ..fsio import write_text_atomic

    table = markdown_table([load_results(path) for path in args.compare])
    if args.out:
        write_text_atomic(args.out, table)
    sys.stdout.write(table)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt, so the same clean-up runs."""

    signum = 15


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the harness runs, SIGTERM (kill, a batch system, a CI timeout) stops the eval as
    Ctrl-C does: every harness process group is ended and the partial results are written.
    Python's default for SIGTERM is to die at once, which left the harness and its mock
    services running, reparented to init."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError

    if args.compare:
        return _compare(args)
    missing = [flag for flag, value in (("--claw-eval-dir", args.claw_eval_dir),
                                         ("--model-base-url", args.model_base_url),
                                         ("--model", args.model)) if not value]
    if missing:
        raise UserError(f"missing {', '.join(missing)} (or use --compare RESULTS_JSON ...)")
    from ..evaluation import EvalRequest, describe_plan, plan_eval, run_eval
    from ..evaluation.report import markdown_table

    request = EvalRequest(
        claw_eval_dir=args.claw_eval_dir, model=args.model, model_base_url=args.model_base_url,
        judge_model=args.judge_model, judge_base_url=args.judge_base_url, tasks=args.tasks,
        include_live_web=args.include_live_web, out=args.out, label=args.label,
        harness_cmd=args.harness_cmd, config=load_config(args),
    )
    plan = plan_eval(request)
    print(describe_plan(plan), file=sys.stderr)
    if args.dry_run:
        return 0
    with _sigterm_as_interrupt():
        result = run_eval(plan)
    sys.stdout.write(markdown_table([result]))
    print(f"results: {plan.out / 'results.json'}", file=sys.stderr)
    return 0 if result["metric"]["num_errors"] == 0 else 1
