"""DiTree planning time on the CPU and on a GPU: where the time goes, by batch size.

For each device (cpu, and cuda when present) and batch size, plans the 3 validation scenarios with
a few seeds and prints success, median time to solution, policy calls per second and the share of
time spent in the policy network, the local-map crops, propagation and collision checking. Paths
are re-checked here with the analytic checker at every step (PyBullet validation is done by
``ditree.api.plan``; this script calls the planner directly so it also runs where PyBullet is
absent).

    .venv/bin/python scripts/bench_ditree_device.py [--batch 32,128,512] [--seeds 2] [--time-limit 15]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from ditree.planner import DiTreeParams, DiTreePlanner
from ditree.policy import load_policy
from envs.collision import AnalyticCollisionChecker
from envs.problem import validation_problem

SCENARIOS = ("val_maze_small", "val_maze_large", "val_maze_xlarge")


def check_path(problem, result) -> bool:
    states = problem.robot.rollout(problem.start[None], result.controls[None])[0]
    free = not AnalyticCollisionChecker(problem.world).collides(states).any()
    at_goal = np.linalg.norm(states[-1, :2] - problem.goal) <= problem.goal_radius + 1e-9
    return bool(free and at_goal and np.allclose(states, result.states, atol=1e-6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", default="32,128,512")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    problems = [validation_problem(n) for n in SCENARIOS]
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    print(f"{'device':>6} {'batch':>5} {'solved':>7} {'median s':>9} {'calls/s':>8} {'policy':>7} {'crop':>6} "
          f"{'prop':>6} {'coll':>6} {'paths ok':>8}")
    for device in devices:
        policy = load_policy(args.checkpoint, device=device)
        for B in (int(b) for b in args.batch.split(",")):
            planner = DiTreePlanner(DiTreeParams(batch_size=B, device=device, record_tree=False), policy=policy)
            times, solved, ok, prof, calls = [], 0, 0, {}, 0
            for prob in problems:
                for seed in range(args.seeds):
                    r = planner.solve(prob, args.time_limit, seed)
                    times.append(r.time_s if r.success else args.time_limit)
                    solved += r.success
                    ok += r.success and check_path(prob, r)
                    calls += r.counters.get("policy_calls", 0)
                    for k, v in r.profile.items():
                        prof[k] = prof.get(k, 0.0) + v
            total = sum(prof.values()) or 1.0
            share = {k: 100 * prof.get(k, 0.0) / total for k in ("policy", "crop", "propagation", "collision")}
            print(f"{device:>6} {B:>5} {solved:>3}/{len(times):<3} {statistics.median(times):>9.2f} "
                  f"{calls / max(sum(times), 1e-9):>8.0f} {share['policy']:>6.0f}% {share['crop']:>5.0f}% "
                  f"{share['propagation']:>5.0f}% {share['collision']:>5.0f}% {ok:>8}", flush=True)


if __name__ == "__main__":
    main()
