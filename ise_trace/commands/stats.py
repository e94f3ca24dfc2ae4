"""`ise-trace stats DIR`: corpus statistics of a built dataset folder or a simulation run directory.

    ise-trace stats ise-trace
    ise-trace stats runs/r1 --json
    ise-trace stats ise-trace --vendi --embedder mpnet
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="corpus statistics of a dataset folder or a run directory (table or JSON)")
    p.add_argument("dir", help="a folder written by `ise-trace build`, or a run directory of `ise-trace simulate`")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.add_argument("--intents", default=None, help="intents.jsonl whose texts Vendi and Distinct-n measure (run dirs)")
    p.add_argument("--vendi", action="store_true", help="also compute the Vendi score of intent texts (embeds them)")
    p.add_argument("--embedder", default="minilm", help="embedding model for Vendi: minilm or mpnet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.corpus_stats import stats_of

    stats = stats_of(args.dir, embedder=args.embedder if args.vendi else None, intents_file=args.intents)
    if args.json:
        print(stats.model_dump_json(indent=2))
    else:
        print(format_table(stats))
    return 0


def format_table(stats) -> str:
    u, d, c, t = stats.user_turns, stats.dialogue_turns, stats.tool_calls, stats.unique_tools
    mix = stats.complexity_mix
    rows = [
        ("intents", f"{stats.intents:,}"),
        ("trajectories", f"{stats.trajectories:,}"),
        ("failed intents (run)", "n/a" if stats.failures is None else f"{stats.failures:,}"),
        ("splits", ", ".join(f"{k} {v:,}" for k, v in stats.splits.items()) or "n/a"),
        ("user turns mean / median / max", f"{u.mean:.2f} / {u.median:g} / {u.max}"),
        ("dialogue turns mean / median / max", f"{d.mean:.2f} / {d.median:g} / {d.max}"),
        ("tool calls mean / median / max", f"{c.mean:.2f} / {c.median:g} / {c.max}"),
        ("distinct tools per trajectory (mean)", f"{t.mean:.2f}"),
        ("distinct tools overall", str(stats.distinct_tools)),
        ("failed tool calls", f"{100 * stats.failed_call_rate:.1f}%"),
        ("failed calls later recovered", f"{100 * stats.recovered_call_rate:.1f}%"),
        ("role drift (simulator turns regenerated / checked)", f"{100 * stats.drift_rate:.3f}%"),
        ("user turns from a template (simulator out of role)", f"{100 * stats.scripted_turn_rate:.1f}%"),
        ("complexity complex / medium / simple", " / ".join(f"{100 * mix[k]:.0f}%" for k in ("complex", "medium", "simple"))),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in stats.outcome_counts.items())),
        ("intents with a validated task", "n/a" if stats.intents_with_task is None else f"{stats.intents_with_task:,} of {stats.intents:,}"),
        ("success, simulated user's verdict", f"{100 * stats.simulator_success_rate:.1f}%"),
        ("success, verified by the checks", _verified(stats)),
        ("false successes (said success, checks failed)", _false(stats)),
        ("domains", ", ".join(f"{k} {v}" for k, v in stats.domain_counts.items())),
        ("distinct-1 / distinct-2 (intents)", " / ".join(f"{v:.3f}" for v in stats.distinct_n.values())),
        ("vendi (intents)", f"{stats.vendi:.2f}" if stats.vendi is not None else stats.vendi_note),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _verified(stats) -> str:
    v = stats.verification_counts
    checked = v.get("passed", 0) + v.get("failed", 0)
    rate = "n/a" if stats.verified_success_rate is None else f"{100 * stats.verified_success_rate:.1f}%"
    return f"{rate} ({v.get('passed', 0)} of {checked} with checks; {v.get('unverified', 0)} unverified)"


def _false(stats) -> str:
    rate = "n/a" if stats.false_success_rate is None else f"{100 * stats.false_success_rate:.1f}%"
    return f"{stats.false_successes} ({rate} of checked successes); {stats.missed_successes} passed unclaimed"
