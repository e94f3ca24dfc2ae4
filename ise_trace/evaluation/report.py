"""Score trials with the `eval/claw_eval` metric and render results like the paper's table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..config import EvalConfig
from ..errors import UserError
from ..resources import resource
from .harness import TrialResult

METRIC_DIR = resource("eval/claw_eval")  # the wheel's packaged copy, or eval/claw_eval of a checkout


def load_metric():
    """The ClawEval `evaluate` metric, loaded from the local folder (never from the Hub)."""
    if not (METRIC_DIR / "claw_eval.py").is_file():
        raise UserError(f"{METRIC_DIR}: the ClawEval metric folder is missing; reinstall ise-trace (its wheel ships it)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import evaluate

    return evaluate.load(str(METRIC_DIR))


def pass_ks(config: EvalConfig) -> list[int]:
    return sorted(set(config.pass_k or [1, config.trials]))


def score_trials(trials: list[TrialResult], config: EvalConfig) -> dict[str, Any]:
    """Feed one row per trial to the metric and return its output."""
    metric = load_metric()
    return metric.compute(
        task_id=[t.task_id for t in trials],
        trial=[t.trial for t in trials],
        completion=[t.completion for t in trials],
        robustness=[t.robustness for t in trials],
        safety=[t.safety for t in trials],
        score=[t.score for t in trials],
        error=[t.error is not None for t in trials],
        category=[t.category for t in trials],
        k=pass_ks(config),
        pass_threshold=config.pass_threshold,
        completion_weight=config.completion_weight,
        robustness_weight=config.robustness_weight,
        error_policy=config.error_policy,
        bootstrap_samples=config.bootstrap_samples,
        confidence=config.confidence,
        seed=config.seed,
    )


def _cell(metric: dict[str, Any], name: str) -> str:
    """'37.7 [33.1, 42.0]': a rate in percent with its interval, as the paper prints it."""
    value = metric.get(name)
    if value is None:
        return "n/a"
    interval = (metric.get("ci") or {}).get(name)
    text = f"{100 * value:.1f}"
    if interval:
        text += f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
    return text


def markdown_table(results: list[dict[str, Any]]) -> str:
    """Models side by side: pass@1, pass^k, completion, robustness (percent, with intervals)."""
    ks = sorted({k for r in results for k in r["metric"]["settings"]["k"] if k > 1})
    head = ["Model", "Tasks", "Trials", "pass@1"] + [f"pass^{k}" for k in ks] + ["Completion", "Robustness", "Errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in results:
        m = r["metric"]
        label = f"{r['label']} (partial)" if r.get("partial") else r["label"]
        row = [label, str(m["num_tasks"]), str(r["trials_per_task"]), _cell(m, "pass@1")]
        row += [_cell(m, f"pass^{k}") for k in ks]
        row += [_cell(m, "completion"), _cell(m, "robustness"), str(m["num_errors"])]
        lines.append("| " + " | ".join(row) + " |")
    confidence = {r["metric"]["settings"]["confidence"] for r in results}
    notes = [
        "",
        f"Rates in percent; brackets: {', '.join(f'{100 * c:g}%' for c in sorted(confidence))} "
        "task-level bootstrap intervals. pass^k: all k trials of a task pass.",
    ]
    task_sets = {tuple(sorted(r["tasks"])) for r in results}
    if len(task_sets) > 1:
        notes.append("Note: these results cover different task sets, so the rows are not directly comparable.")
    return "\n".join(lines + notes) + "\n"


def category_table(result: dict[str, Any]) -> str:
    """One model's rates per task category."""
    head = ["Category", "Tasks", "pass@1", "Completion", "Robustness", "Safety"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, m in result["metric"]["per_category"].items():
        row = [name, str(m["num_tasks"]), _cell(m, "pass@1"), _cell(m, "completion"),
               _cell(m, "robustness"), _cell(m, "safety")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def results_markdown(result: dict[str, Any]) -> str:
    parts = [f"# ClawEval: {result['label']}", ""]
    if result.get("partial"):
        parts += [f"**Partial results**: the run stopped early ({result.get('stopped_because')}). "
                  "Rerun the same command to finish it.", ""]
    if result["metric"] is None:
        return "\n".join(parts + ["No trial was graded.", ""])
    parts += [markdown_table([result]), "## Per category", "", category_table(result)]
    if result["excluded"]:
        parts += ["## Excluded tasks", ""] + [f"- {e['task_id']}: {e['reason']}" for e in result["excluded"]] + [""]
    errors = [t for t in result["trials"] if t["error"]]
    if errors:
        parts += ["## Errored trials (rerun the same command to retry them)", ""]
        parts += [f"- {t['task_id']} trial {t['trial']}: {t['error']}" for t in errors] + [""]
    return "\n".join(parts)


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results file written by `ise-trace eval`, with one clear error if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such results file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    missing = [k for k in ("label", "metric", "tasks", "trials_per_task") if not isinstance(data, dict) or k not in data]
    if missing:
        raise UserError(f"{path}: not an `ise-trace eval` results file (missing field '{missing[0]}')")
    if data["metric"] is None:
        raise UserError(f"{path}: the run stopped before any trial was graded; rerun it to get results")
    return data
