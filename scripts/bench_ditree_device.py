"""DiTree on the CPU and on a GPU, against SST and RRT on the same machine.

Two parts, both in one process (planners and policies are built once and reused):

1. ``calls``: the latency of one policy call (``PolicyControlSampler``: crop + network + copy
   back) by batch size, on the CPU (``--threads``) and, with CUDA, eagerly and as a replayed CUDA
   graph (``ditree.policy.graphed``).
2. ``plans``: the 3 validation scenarios (``--suite test``: the 15 test scenarios) x ``--seeds`` seeds x ``--time-limit`` s for each
   variant, interleaved per (scenario, seed) so that load changes hit them alike: success,
   median time to solution, median path duration, the ratio of DiTree's median time to SST's,
   and where DiTree's time goes. Variants: ``ditree-cpu`` (the policy on the CPU), ``sst``,
   ``rrt``, and with CUDA ``ditree-cuda-eager`` (no graph),
   ``ditree-cuda`` (the default: a CUDA graph per call), ``ditree-cuda-spec`` (the default with each
   chunk's successor requested before the chunk's collision check), ``ditree-cuda-groups2`` (the
   default with two pipelined groups), ``ditree-cuda-cold`` (a new
   planner per solve, so recording the graphs counts in its time), plus ``--extra-batches`` of the
   default.

Paths are checked here by re-simulating their controls and the analytic footprint check at every
step (this script runs where PyBullet is absent); ``--out DIR`` also writes every row (JSON) and
every path's controls (npz) so they can be validated with PyBullet elsewhere
(``--validate DIR`` does that).

    .venv/bin/python scripts/bench_ditree_device.py --seeds 3 --time-limit 10     # CPU only here
    python3 scripts/bench_ditree_device.py --seeds 10 --out $OUT                   # on a GPU machine
    .venv/bin/python scripts/bench_ditree_device.py --validate runs/device         # PyBullet check
    python3 scripts/bench_ditree_device.py --parts plans --suite test --seeds 3 --variants ditree-cuda,sst
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ditree.planner import DiTreeParams, DiTreePlanner
from ditree.policy import load_policy
from ditree.sampler import PolicyControlSampler, PolicySamplerParams
from envs.collision import AnalyticCollisionChecker, robot_collides
from envs.problem import suite_scenario_list, test_problem, validation_problem
from planners.rrt import KinodynamicRRT
from planners.samplers import SamplerContext
from planners.sst import SST

SCENARIOS = ("val_maze_small", "val_maze_large", "val_maze_xlarge")


def check_path(problem, result) -> bool:
    """Re-simulate the controls: collision-free at every step (analytic), ends in the goal disc,
    and matches the planner's states."""
    states = problem.robot.rollout(problem.start[None], result.controls[None])[0]
    free = not robot_collides(problem.robot, AnalyticCollisionChecker(problem.world, problem.robot.bodies), states).any()
    at_goal = np.linalg.norm(states[-1, :2] - problem.goal) <= problem.goal_radius + 1e-9
    return bool(free and at_goal and np.allclose(states, result.states, atol=1e-6))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_calls(batches: list[int], devices: list[str], seconds: float) -> list[dict]:
    """Median latency of one sampler call (ms) per device/mode and batch size."""
    problem = validation_problem("val_maze_small")
    rows = []
    modes = [("cpu", False)] + [(d, g) for d in devices if d != "cpu" for g in (False, True)]
    for device, graph in modes:
        policy = load_policy(device=device)
        sampler = PolicyControlSampler(policy, PolicySamplerParams(device=device, cuda_graph=graph, epsilon=0.0))
        sampler.setup(problem)
        rng = np.random.default_rng(0)
        for B in batches:
            x = np.tile(problem.start, (B, 1))
            x[:, :2] += rng.normal(0, 0.3, (B, 2))
            goal, prev = np.tile(problem.goal, (B, 1)), np.zeros((B, 2))
            ctx = SamplerContext(problem=problem, rng=rng)
            for _ in range(5):
                sampler(x, goal, prev, ctx)
            times, t_end = [], time.perf_counter() + seconds
            while time.perf_counter() < t_end or len(times) < 10:
                t = time.perf_counter()
                sampler(x, goal, prev, ctx)
                times.append(time.perf_counter() - t)
            ms = 1e3 * statistics.median(times)
            mode = "cpu" if device == "cpu" else ("cuda-graph" if graph else "cuda-eager")
            rows.append({"mode": mode, "batch": B, "ms": ms, "precision": str(sampler.dtype)})
            print(f"  call  {mode:<11} batch {B:>4}: {ms:7.3f} ms  ({B / ms * 1e3:>9.0f} chunks/s, {sampler.dtype})",
                  flush=True)
    return rows


def make_variants(cuda: bool, extra_batches: list[int]) -> dict:
    policy_cpu = load_policy(device="cpu")
    v = {
        "ditree-cpu": DiTreePlanner(DiTreeParams(device="cpu", record_tree=False), policy=policy_cpu),
        "sst": SST(record_tree=False),
        "rrt": KinodynamicRRT(record_tree=False),
    }
    if cuda:
        policy = load_policy(device="cuda")
        mk = lambda **kw: DiTreePlanner(DiTreeParams(device="cuda", record_tree=False, **kw), policy=policy)
        v["ditree-cuda-eager"] = mk(cuda_graph=False, speculate=False)
        v["ditree-cuda"] = mk()
        v["ditree-cuda-spec"] = mk(speculate=True)
        v["ditree-cuda-groups2"] = mk(pipeline_groups=2)
        v["ditree-cuda-cold"] = ColdPlanner(lambda: mk())
        for B in extra_batches:
            v[f"ditree-cuda-b{B}"] = mk(batch_size=B)
    return v


class ColdPlanner:
    """A fresh planner for every solve (its CUDA graphs recorded within the solve's time)."""

    def __init__(self, make) -> None:
        self._make = make

    def solve(self, problem, time_limit: float, seed: int):
        return self._make().solve(problem, time_limit, seed)


def suite_problem(suite: str, name: str):
    return validation_problem(name) if suite == "validation" else test_problem(name)


def suite_problems(suite: str) -> dict:
    """Scenario name -> problem: the 3 validation scenarios, or the paper's 15 test scenarios."""
    names = SCENARIOS if suite == "validation" else [sc.name for sc in suite_scenario_list("ditree_car", "test")]
    return {name: suite_problem(suite, name) for name in names}


def bench_plans(variants: dict, seeds: int, time_limit: float, out: Path | None, suite: str = "validation") -> list[dict]:
    problems = suite_problems(suite)
    for name, planner in variants.items():  # warm-up on the GPU: CUDA context, each world's graphs
        if "cuda" in name and not isinstance(planner, ColdPlanner):
            for prob in problems.values():
                planner.solve(prob, min(time_limit, 5.0), seed=10_000)
    rows, paths = [], {}
    for scen, prob in problems.items():
        for seed in range(seeds):
            for name, planner in variants.items():
                r = planner.solve(prob, time_limit, seed)
                ok = r.success and check_path(prob, r)
                rows.append({
                    "variant": name, "suite": suite, "scenario": scen, "seed": seed, "success": bool(r.success), "path_ok": ok,
                    "time_s": r.time_s, "duration_s": len(r.controls) * prob.robot.dt if r.success else None,
                    "iterations": r.iterations, "nodes": r.nodes, "profile": r.profile,
                    "policy_calls": r.counters.get("policy_calls"),
                })
                if r.success:
                    paths[f"{name}|{scen}|{seed}"] = r.controls
        print(f"  plans {scen} done", flush=True)
        if out is not None:  # after every scenario, so that a run cut short keeps what it did
            out.mkdir(parents=True, exist_ok=True)
            (out / "plans.json").write_text(json.dumps(rows, indent=1))
            np.savez_compressed(out / "paths.npz", **paths)
    return rows


def report(rows: list[dict], time_limit: float) -> str:
    names = list(dict.fromkeys(r["variant"] for r in rows))
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    sst = med([r["time_s"] for r in rows if r["variant"] == "sst" and r["success"]])
    lines = [(f"{'variant':<20} {'success':>8} {'paths ok':>8} {'med time s':>10} {'x sst':>6} {'mean s*':>8} "
             f"{'med dur s':>9} {'iters':>6}  time split (policy/capture/crop/prop/coll/nn/other)")]
    for n in names:
        rs = [r for r in rows if r["variant"] == n]
        ok = [r for r in rs if r["success"]]
        t = med([r["time_s"] for r in ok])
        prof: dict = {}
        for r in rs:
            for k, v in r["profile"].items():
                prof[k] = prof.get(k, 0.0) + v
        total = sum(prof.values()) or 1.0
        keys = ("policy", "capture", "crop", "propagation", "collision", "nn")
        split = "/".join(f"{100 * prof.get(k, 0.0) / total:.0f}" for k in keys)
        split += f"/{100 * (1 - sum(prof.get(k, 0.0) for k in keys) / total):.0f} %"
        mean_pen = statistics.mean(r["time_s"] if r["success"] else time_limit for r in rs)
        lines.append(
            f"{n:<20} {len(ok):>3}/{len(rs):<4} {sum(r['path_ok'] for r in rs):>8} {t:>10.3f} {t / sst:>6.2f} "
            f"{mean_pen:>8.3f} {med([r['duration_s'] for r in ok]):>9.2f} {med([r['iterations'] for r in rs]):>6.1f}  {split}"
        )
    lines.append("* mean time with failures counted at the time limit")
    return "\n".join(lines)


def validate_dir(path: Path) -> None:
    """Re-check every saved path with PyBullet (``planners.validate.finalize``)."""
    from planners.results import PlanResult
    from planners.validate import finalize

    rows = json.loads((path / "plans.json").read_text())
    paths = np.load(path / "paths.npz")
    suite = rows[0].get("suite", "validation")
    problems: dict = {}  # one problem (map, world) per scenario, not per saved path
    bad = 0
    for key in paths.files:
        name, scen, seed = key.split("|")
        if scen not in problems:
            problems[scen] = suite_problem(suite, scen)
        prob = problems[scen]
        u = paths[key]
        states = prob.robot.rollout(prob.start[None], u[None])[0]
        res = finalize(prob, PlanResult(success=True, planner=name, seed=int(seed), time_s=0.0, iterations=0, nodes=0,
                                        dt=prob.robot.dt, states=states, controls=u))
        bad += not res.validated
        if not res.validated:
            print(f"  {key}: {res.reason}")
    print(f"{len(paths.files) - bad}/{len(paths.files)} saved paths validated with PyBullet ({len(rows)} runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (CPU policy), default 1")
    ap.add_argument("--batches", default="16,32,64,128,256", help="batch sizes of the call benchmark")
    ap.add_argument("--extra-batches", default="128", help="DiTree batch sizes tried on CUDA besides the default")
    ap.add_argument("--call-seconds", type=float, default=0.5)
    ap.add_argument("--parts", default="calls,plans")
    ap.add_argument("--suite", choices=("validation", "test"), default="validation",
                    help="the 3 validation scenarios (default) or the 15 out-of-distribution test scenarios")
    ap.add_argument("--variants", default="", help="comma-separated variants to plan with (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="write plans.json and paths.npz here")
    ap.add_argument("--validate", type=Path, default=None, help="validate a directory written by --out, and stop")
    args = ap.parse_args()
    if args.validate:
        validate_dir(args.validate)
        return
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"{args.threads} torch thread(s); GPU: {torch.cuda.get_device_name(0) if cuda else 'none'}", flush=True)
    parts = args.parts.split(",")
    if "calls" in parts:
        bench_calls([int(b) for b in args.batches.split(",")], ["cuda"] if cuda else [], args.call_seconds)
    if "plans" in parts:
        extra = [int(b) for b in args.extra_batches.split(",") if b]
        variants = make_variants(cuda, extra)
        if args.variants:
            wanted = args.variants.split(",")
            unknown = set(wanted) - set(variants)
            if unknown:
                ap.error(f"--variants: unknown {sorted(unknown)}; known here: {sorted(variants)}")
            variants = {k: v for k, v in variants.items() if k in wanted}
        rows = bench_plans(variants, args.seeds, args.time_limit, args.out, args.suite)
        print(report(rows, args.time_limit))


if __name__ == "__main__":
    main()
