"""Evaluation at scale: every (scenario, planner, trial) in its own process, resumable, with
summaries, plots and an OMPL benchmark database for Planner Arena.

>>> from ditree.eval import EvalConfig, run_eval
>>> report = run_eval(EvalConfig(None, "runs/ood", suite="ditree_car", split="test",
...                              planners=("rrt", "sst"), trials=3, time_limit=30))  # doctest: +SKIP
"""

from ditree.eval.records import RECORD_KEYS, load_records
from ditree.eval.runner import EvalReport, check_planners, prepare, run_eval, write_reports
from ditree.eval.spec import EvalConfig, RunSpec, build_runs, derive_seed
from ditree.eval.summary import SUMMARY_COLUMNS, summarize

__all__ = [
    "RECORD_KEYS",
    "SUMMARY_COLUMNS",
    "EvalConfig",
    "EvalReport",
    "RunSpec",
    "build_runs",
    "check_planners",
    "derive_seed",
    "load_records",
    "prepare",
    "run_eval",
    "summarize",
    "write_reports",
]
