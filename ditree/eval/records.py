"""``runs.jsonl``: one JSON object per finished run, appended and flushed as each run ends.

Record schema (one line)::

    scenario         str          scenario name (scenario file column scenario_name)
    map              str          map name (maze_name)
    planner          str          registry name
    trial            int          0-based trial index
    seed             int          the run's seed (ditree.eval.spec.derive_seed)
    time_limit       float        the run's time limit (s)
    success          bool         a validated path was found
    time_s           float        planning time (s); for crashes, the wall time until the crash
    path_length_m    float|null   xy path length (m), successes only
    path_duration_s  float|null   path duration (s), successes only
    duration_ratio   float|null   path duration / lower bound (envs.lower_bound), successes only
    nodes            int          tree nodes at the end
    iterations       int          planner iterations
    policy_calls     int          result.counters["policy_calls"], 0 if absent
    validated        bool         the path was re-simulated and collision-checked independently
    reason           str          why it failed ("" on success)
    status           str          "exact" | "timeout" | "failed" | "crash" (worker raised, died or hung)
    memory_mb        float|null   peak resident memory of the worker process (MB)
    result_file      str|null     the PlanResult JSON, relative to the output folder
    first_time_s     float|null   (optional) time to the FIRST solution; differs from time_s for anytime
                                  planners (ditree-star, sst with return_first=False), which use the whole budget
    first_duration_ratio float|null (optional) the first path's duration / lower bound
    cost_history     [[t, d]]|null (optional, successes) the best path's duration d (s) from time t (s):
                                  the first path and every improvement of anytime planners, the one
                                  path at time_s of one-shot planners (planners.anytime, planners.sst)
    lower_bound_s    float|null   (optional) the duration lower bound (s) of the scenario (envs.lower_bound)
    robot            str          (optional) robot name (envs.registry.make_robot); absent in files written
                                  before robots were recorded, which means "car"

A killed evaluation can leave a truncated last line: :func:`load_records` drops unparsable lines
(and rewrites the file without them before new lines are appended). Files written before the
optional keys existed still load; ditree.eval.curves and ditree.eval.summary fall back to time_s
and duration_ratio for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ditree.eval.spec import run_key

RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "scenario": (str,),
    "map": (str,),
    "planner": (str,),
    "trial": (int,),
    "seed": (int,),
    "time_limit": (float, int),
    "success": (bool,),
    "time_s": (float, int),
    "path_length_m": (float, int, type(None)),
    "path_duration_s": (float, int, type(None)),
    "duration_ratio": (float, int, type(None)),
    "nodes": (int,),
    "iterations": (int,),
    "policy_calls": (int,),
    "validated": (bool,),
    "reason": (str,),
    "status": (str,),
    "memory_mb": (float, int, type(None)),
    "result_file": (str, type(None)),
}
RECORD_KEYS = tuple(RECORD_TYPES)
OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "first_time_s": (float, int, type(None)),
    "first_duration_ratio": (float, int, type(None)),
    "cost_history": (list, type(None)),
    "lower_bound_s": (float, int, type(None)),
    "setup_s": (float, int),
    "robot": (str,),
}


def record_key(rec: dict[str, Any]) -> tuple:
    return run_key(rec["scenario"], rec["planner"], rec["trial"], rec["seed"], rec["time_limit"], rec.get("robot", "car"))


def is_valid_record(rec: Any) -> bool:
    """The record has every schema key with a value of the right type (bool is not an int here)."""
    if not isinstance(rec, dict):
        return False
    for k, types in (*RECORD_TYPES.items(), *OPTIONAL_TYPES.items()):
        if k not in rec:
            if k in OPTIONAL_TYPES:
                continue
            return False
        v = rec[k]
        if isinstance(v, bool) and bool not in types:
            return False
        if not isinstance(v, types):
            return False
    return _is_history(rec.get("cost_history"))


def _is_history(h: Any) -> bool:
    """None, or a list of ``[t, d]`` pairs of numbers (not bools)."""
    if h is None:
        return True
    return all(
        isinstance(row, list) and len(row) == 2
        and all(isinstance(x, (float, int)) and not isinstance(x, bool) for x in row)
        for row in h
    )


def load_records(path: Path, repair: bool = True) -> list[dict[str, Any]]:
    """The valid records of ``path`` (none if it does not exist). With ``repair``, a file holding
    invalid lines (a truncated last line after a kill) is rewritten with the valid ones only."""
    path = Path(path)
    if not path.is_file():
        return []
    good, bad = [], 0
    raw = path.read_text()
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if is_valid_record(rec):
            good.append(rec)
        else:
            bad += 1
    if repair and (bad or (raw and not raw.endswith("\n"))):
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in good))
        tmp.replace(path)
    return good


class RecordWriter:
    """Appends records to ``runs.jsonl``, one line each, flushed and fsynced as they come."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()/__exit__

    def write(self, rec: dict[str, Any]) -> None:
        self._f.write(json.dumps(rec) + "\n")
        self._f.flush()
        try:
            os.fsync(self._f.fileno())
        except OSError:
            pass

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RecordWriter:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()
