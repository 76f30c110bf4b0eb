"""Planners side by side on held-out generated worlds: the test of "train once, plan anywhere" for a robot
whose policy was trained on generated worlds of the same families (never these ones).

    python scripts/bench_generated.py --robot unicycle1_v0 --planners ditree,sst --problems 24 --time-limit 30
    python scripts/bench_generated.py --robot car --worlds grid --kinds maze,forest --problems 12

Problems: ``--problems`` generated problems, the kinds taken in turn, problem ``i`` from seed
``heldout_seed(i)`` (a namespace of its own: :data:`HELD_OUT_BASE` plus a hash, never a seed a
training collection derives from its base seed with ``SeedSequence``; ``ditree.eval.heldout``). Box worlds
(``envs.box_generators.box_problem``: a rest start and a full-state goal at the robot's registered goal
tolerance) for dynobench's robots, grid worlds (``envs.generators.generated_problem``: a goal disc) for the
car and the racecar. Every (problem, planner, trial) runs in a fresh process through the public API
(``ditree.eval.backends.run_local``); records go to ``OUT/runs.jsonl`` as they finish (a rerun resumes).
The table gives, per planner: success, median time to the first solution (solved runs), the median
duration of the first path, its median ratio to the problem's duration lower bound, and, over the problems
every planner solved, its median ratio to the best first path any planner found there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ditree.eval.backends import run_local
from ditree.eval.heldout import HELD_OUT_BASE, default_worlds, heldout_seed, make_problem  # noqa: F401 (re-exported)
from ditree.eval.records import RecordWriter, load_records, record_key
from ditree.eval.spec import RunSpec, derive_seed
from ditree.registry import parse_planner_params
from envs.errors import DitreeInputError
from envs.registry import robot_spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--robot", default="unicycle1_v0", help="registered robot (default unicycle1_v0)")
    ap.add_argument("--worlds", choices=("box", "grid"), default=None,
                    help="world family (default: box for dynobench's robots, grid for the car and racecar)")
    ap.add_argument("--kinds", default=None, help="comma-separated world kinds (default: every kind of the family)")
    ap.add_argument("--problems", type=int, default=24, help="held-out problems (default 24)")
    ap.add_argument("--rows", type=int, default=15, help="grid worlds: rows and columns (default 15)")
    ap.add_argument("--planners", default="ditree,sst", help="comma-separated registry names")
    ap.add_argument("--trials", type=int, default=1, help="trials per problem and planner (default 1)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per run (default 30)")
    ap.add_argument("--param", action="append", default=[], metavar="PLANNER:KEY=VALUE",
                    help="a planner parameter, repeatable (e.g. ditree:connect_tol=0.3)")
    ap.add_argument("--workers", type=int, default=1, help="runs at a time (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the problems and runs (default 0)")
    ap.add_argument("--goal-tol", type=float, default=None,
                    help="box worlds: the goal state's tolerance in the robot's metric (default: the robot's "
                         "registered one; 0.03 is dynobench's, to tune on generated problems, not its instances)")
    ap.add_argument("--out", type=Path, default=Path("runs/generated"), help="output folder (default runs/generated)")
    args = ap.parse_args(argv)
    robot_spec(args.robot)
    args.worlds = args.worlds or default_worlds(args.robot)
    if args.kinds is None:
        if args.worlds == "box":
            from envs.box_generators import BOX_KINDS as kinds
        else:
            from envs.generators import GENERATORS as kinds
        args.kinds = list(kinds)
    else:
        args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    args.planners = [p.strip() for p in args.planners.split(",") if p.strip()]
    if args.goal_tol is not None and not (args.worlds == "box" and args.goal_tol > 0):
        raise DitreeInputError(f"--goal-tol: needs box worlds (full-state goals) and a positive value, got "
                               f"{args.goal_tol} with {args.worlds} worlds")
    if args.problems < 1 or args.trials < 1:
        raise DitreeInputError(f"--problems and --trials must be >= 1, got {args.problems} and {args.trials}")
    return args


def build_runs(args: argparse.Namespace) -> list[RunSpec]:
    params = parse_planner_params(args.param)
    runs = []
    for i in range(args.problems):
        kind, seed = args.kinds[i % len(args.kinds)], heldout_seed(i, args.seed)
        problem = make_problem(args.worlds, kind, seed, args.robot, args.rows, args.goal_tol)
        name = f"{args.worlds}-{kind}-{seed}"
        for trial in range(args.trials):
            for planner in args.planners:
                runs.append(RunSpec(scenario=name, map=name, planner=planner, trial=trial,
                                    seed=derive_seed(args.seed, name, planner, trial), time_limit=args.time_limit,
                                    problem=problem, params=params.get(planner, {}), robot=args.robot))
    return runs


def summarise(records: list[dict], planners: list[str]) -> str:
    """The table of the module docstring (markdown): first paths (time and duration of the first
    solution of each run; an anytime planner's later improvements are in its cost history)."""
    first = {id(r): r["cost_history"][0][1] for r in records if r.get("success")}
    best: dict[str, float] = {}
    for r in records:
        if r.get("success"):
            best[r["scenario"]] = min(best.get(r["scenario"], np.inf), first[id(r)])
    solved_by = {p: {r["scenario"] for r in records if r["planner"] == p and r.get("success")} for p in planners}
    common = set.intersection(*solved_by.values()) if solved_by else set()

    def med(xs: list[float]) -> str:
        return f"{np.median(xs):.2f}" if xs else "-"

    head = ("| planner | success | median time to first solution (s) | median first-path duration (s) | "
            "median first duration / lower bound | median first duration / best first, on the "
            f"{len(common)} problems all solved |")
    lines = [head, "|---|---|---|---|---|---|"]
    for p in planners:
        recs = [r for r in records if r["planner"] == p]
        ok = [r for r in recs if r.get("success")]
        lb = [first[id(r)] / r["lower_bound_s"] for r in ok if r.get("lower_bound_s")]
        ratio = [first[id(r)] / best[r["scenario"]] for r in ok if r["scenario"] in common]
        lines.append(f"| {p} | {len(ok)}/{len(recs)} | {med([r['first_time_s'] for r in ok])} | "
                     f"{med([first[id(r)] for r in ok])} | {med(lb)} | {med(ratio)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    (out / "results").mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    all_runs = build_runs(args)
    keys = {r.key for r in all_runs}
    records = [r for r in load_records(runs_file) if record_key(r) in keys]
    done = {record_key(r) for r in records}
    runs = [r for r in all_runs if r.key not in done]
    print(f"{len(runs)} runs to do ({len(all_runs) - len(runs)} already in {runs_file}); {args.robot} on "
          f"{args.problems} held-out {args.worlds} problems ({', '.join(args.kinds)}), {args.trials} trial(s) x "
          f"{args.time_limit:g} s, {args.workers} worker(s)", flush=True)
    t0 = time.time()

    def on_done(rec: dict, result_json: str | None) -> None:
        if result_json and rec.get("result_file"):
            (out / rec["result_file"]).write_text(result_json)
        records.append(rec)
        writer.write(rec)
        what = f"solved in {rec['time_s']:.2f} s, duration {rec['path_duration_s']:.1f} s" if rec["success"] else \
            f"failed ({rec.get('reason', '')[:50]})"
        print(f"[{len(records)}] {rec['scenario']} {rec['planner']} t{rec['trial']}: {what}", flush=True)

    with RecordWriter(runs_file) as writer:
        run_local(runs, max(1, args.workers), True, on_done)
    header = (f"{args.robot}, {args.problems} held-out generated {args.worlds} problems "
              f"({', '.join(args.kinds)}), {args.trials} trial(s) x {args.time_limit:g} s, seed {args.seed}; "
              f"{time.time() - t0:.0f} s wall")
    text = summarise(records, args.planners)
    (out / "table.md").write_text(header + "\n\n" + text + "\n")
    print("\n" + header + "\n\n" + text)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except DitreeInputError as e:
        raise SystemExit(f"error: {e}") from None
