"""`ise-trace eval`: score a model on ClawEval through the official Claw-Eval harness, or on
held-out ise-trace tasks in our own sandboxes (in-distribution).

    ise-trace eval --claw-eval-dir ~/claw-eval --model-base-url http://127.0.0.1:8000/v1 \\
        --model Qwen/Qwen3-8B --judge-base-url http://127.0.0.1:8001/v1 --judge-model judge
    ise-trace eval ... --tasks T001-T044,T105 --trials 3 --parallel 8 --out runs/qwen3-8b
    ise-trace eval --tasks-from ise-trace/dataset --model-base-url http://127.0.0.1:8000/v1 \\
        --model Qwen/Qwen3-8B --trials 3 --out runs/qwen3-8b-indist
    ise-trace eval --tasks-from intents.jsonl ... --simulate-user
    ise-trace eval --compare runs/qwen3-8b/results.json runs/sft/results.json --out table.md

`--tasks-from PATH` (an intents JSONL or a dataset folder built by `ise-trace build`, whose
`test` split is used) switches to the in-distribution mode. It is its own flag rather than a
value of `--tasks` because `--tasks` already takes Claw-Eval selections (T001-T020, judge-free):
a path there would be ambiguous with a task name, and a subcommand would change how every
existing `ise-trace eval --...` line parses. Both modes score with the same `eval/claw_eval`
metric and write the same results.json shape, so `--compare` puts them side by side.

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
# In-distribution episodes: CLI flag -> SimulateConfig field (the recipe's `simulate:` section, if any).
_SIMULATE_OVERRIDES = {"max_tool_calls": int, "time_budget_s": float, "max_user_turns": int}
# Flags of one mode that mean nothing in the other.
_CLAW_ONLY = ("claw_eval_dir", "tasks", "judge_model", "judge_base_url", "include_live_web", "harness_cmd")
_OWN_ONLY = ("split", "simulate_user", "user_model", "user_base_url", "limit", *_SIMULATE_OVERRIDES)


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
    own = p.add_argument_group("in-distribution (held-out ise-trace tasks in ise-trace sandboxes)")
    own.add_argument("--tasks-from", default=None, metavar="PATH",
                     help="evaluate on ise-trace tasks instead of ClawEval: an intents JSONL, or a dataset folder "
                          "built by `ise-trace build` (its intents config, split --split)")
    own.add_argument("--split", default=None, choices=("train", "validation", "test"),
                     help="with a dataset folder: the split to evaluate on (default: test)")
    own.add_argument("--simulate-user", action="store_true",
                     help="drive each episode with the simulated user (default: none; the intent is the only user "
                          "message and the agent works until it answers without a tool call)")
    own.add_argument("--user-model", default=None, help="simulator model (default: --model)")
    own.add_argument("--user-base-url", default=None, help="simulator endpoint (default: --model-base-url)")
    own.add_argument("--limit", type=int, default=None, help="evaluate only the first N tasks")
    for name, kind in _SIMULATE_OVERRIDES.items():
        own.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                         help=f"override the simulate setting {name} of the episodes")
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
    if args.tasks_from:
        return _run_in_distribution(args)
    given = [name for name in _OWN_ONLY if getattr(args, name) not in (None, False)]
    if given:
        raise UserError(f"--{given[0].replace('_', '-')} applies to in-distribution runs only: add --tasks-from PATH")
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


def _simulate_config(args: argparse.Namespace):
    from ..config import SimulateConfig, build_section, load_yaml, section_from_recipe

    overrides = {name: getattr(args, name) for name in _SIMULATE_OVERRIDES}
    if args.config and isinstance(load_yaml(args.config), dict) and "simulate" in load_yaml(args.config):
        return section_from_recipe(SimulateConfig, args.config, "simulate", overrides)
    return build_section(SimulateConfig, {k: v for k, v in overrides.items() if v is not None}, "simulate options")


def _run_in_distribution(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..evaluation.in_distribution import (
        InDistributionRequest,
        describe_plan,
        plan_in_distribution,
        run_in_distribution,
    )
    from ..evaluation.report import markdown_table

    clashing = [name for name in _CLAW_ONLY if getattr(args, name) not in (None, False)]
    if clashing:
        flag = "--" + clashing[0].replace("_", "-")
        raise UserError(f"{flag} selects or grades ClawEval tasks; it cannot be combined with --tasks-from")
    missing = [flag for flag, value in (("--model-base-url", args.model_base_url), ("--model", args.model)) if not value]
    if missing:
        raise UserError(f"--tasks-from: missing {', '.join(missing)}")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit}: expected a positive number of tasks")
    if (args.user_model or args.user_base_url) and not args.simulate_user:
        raise UserError("--user-model/--user-base-url configure the simulated user: add --simulate-user")
    request = InDistributionRequest(
        tasks_from=args.tasks_from, model=args.model, model_base_url=args.model_base_url, split=args.split,
        simulate_user=args.simulate_user, user_model=args.user_model, user_base_url=args.user_base_url,
        limit=args.limit, out=args.out, label=args.label, config=load_config(args), simulate=_simulate_config(args),
    )
    plan = plan_in_distribution(request)
    print(describe_plan(plan), file=sys.stderr)
    if args.dry_run:
        return 0
    with _sigterm_as_interrupt():
        result = run_in_distribution(plan)
    if result["metric"] is None:
        raise UserError(f"{plan.out}: no trial finished; see {plan.out / 'trials.jsonl'}")
    sys.stdout.write(markdown_table([result]))
    print(f"results: {plan.out / 'results.json'}", file=sys.stderr)
    return 0 if result["metric"]["num_errors"] == 0 else 1
