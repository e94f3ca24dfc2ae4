"""ClawEval through the official Claw-Eval harness: task selection, trials, scoring, tables.

`plan_eval` runs every check that can fail fast; `run_eval` runs the unfinished trials and
scores them with the `eval/claw_eval` metric; `markdown_table` puts several results side by side.
"""

from .report import load_results, markdown_table, score_trials
from .runner import EvalPlan, EvalRequest, describe_plan, plan_eval, run_eval
from .tasks import Checkout, ClawTask, load_checkout, select_tasks

__all__ = [
    "Checkout",
    "ClawTask",
    "EvalPlan",
    "EvalRequest",
    "describe_plan",
    "load_checkout",
    "load_results",
    "markdown_table",
    "plan_eval",
    "run_eval",
    "score_trials",
    "select_tasks",
]
