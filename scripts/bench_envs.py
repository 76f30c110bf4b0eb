"""Benchmark of the envs hot paths: car propagation, collision checking, and PyBullet/analytic agreement.

Prints
- batched propagation throughput (state-steps/s) at N = 1, 64, 1024 for numpy and torch on the CPU,
  and torch on CUDA when a GPU is present;
- collision throughput (states/s): analytic SAT, PyBullet batched with and without the numpy broad
  phase, PyBullet one pose per call;
- the number of poses on which PyBullet and the analytic test disagree, on random poses and on poses
  placed within 10 um..3 mm of wall faces and corners (and, separately, on grazing poses within
  1 nm..10 um, where PyBullet's 1 um safety margin is expected to call some free poses colliding).

Usage: ``python scripts/bench_envs.py [--map random_huge] [--seed 0]``. Runs in well under a minute.
Timings are the median of repeated runs; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from envs.car import Car
from envs.collision import AnalyticCollisionChecker
from envs.suites import suite_map
from envs.world import GridMap

try:
    from envs.pybullet_world import PyBulletCollisionChecker, near_contact_poses
except ImportError:  # e.g. a GPU box without pybullet: the propagation numbers still run
    PyBulletCollisionChecker = None  # type: ignore[assignment,misc]
    near_contact_poses = None  # type: ignore[assignment]


def timed(fn: Callable[[], object], budget_s: float = 0.4, sync: Callable[[], None] | None = None) -> float:
    """Median wall time (s) of ``fn`` over repeats filling about ``budget_s`` (after one warm-up)."""
    fn()
    if sync:
        sync()
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s or len(times) < 3:
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_propagation(car: Car, seed: int) -> None:
    print("\n== batched propagation: Car.rollout, state-steps/s (N states x T steps / time) ==")
    rng = np.random.default_rng(seed)
    backends: list[tuple[str, Callable[[np.ndarray], object], Callable[[], None] | None]] = [
        ("numpy float64", lambda a: a, None),
        ("torch cpu float32", lambda a: torch.as_tensor(a, dtype=torch.float32), None),
    ]
    if torch.cuda.is_available():
        backends.append(
            (
                "torch cuda float32",
                lambda a: torch.as_tensor(a, dtype=torch.float32, device="cuda"),
                torch.cuda.synchronize,
            )
        )
    else:
        print("(no CUDA device: torch cuda skipped)")
    print(f"{'backend':<20}{'N':>6}{'T':>5}{'state-steps/s':>16}{'us/step call':>14}")
    for name, conv, sync in backends:
        for N in (1, 64, 1024):
            T = 64
            x0 = np.column_stack(
                [rng.uniform(-5, 5, (N, 2)), rng.uniform(-3, 3, N), rng.uniform(0, 4, N), np.zeros((N, 2))]
            )
            u = car.sample_controls(rng, (N, T))
            xs, us = conv(x0), conv(u)
            dt = timed(lambda xs=xs, us=us: car.rollout(xs, us), sync=sync)
            print(f"{name:<20}{N:>6}{T:>5}{N * T / dt:>16,.0f}{dt / T * 1e6:>14.1f}")


def planner_like_poses(world: GridMap, n: int, rng: np.random.Generator) -> np.ndarray:
    """Poses a planner asks about: positions uniform over the free cells, any heading."""
    return np.column_stack([world.sample_free_points(rng, n), rng.uniform(-np.pi, np.pi, n)])


def bench_collision(world: GridMap, seed: int) -> None:
    rng = np.random.default_rng(seed)
    poses = planner_like_poses(world, 20_000, rng)
    print(f"\n== collision checking on {world.name} ({world.shape[0]}x{world.shape[1]}), states/s ==")
    print("poses: 20,000 uniform over the free cells, random heading (what a planner asks)")
    analytic = AnalyticCollisionChecker(world)
    frac = analytic.collides(poses).mean()
    print(f"fraction in collision: {frac:.1%}")
    dt = timed(lambda: analytic.collides(poses))
    print(f"{'analytic SAT, one batch':<42}{len(poses) / dt:>14,.0f}")
    if PyBulletCollisionChecker is None:
        print("(pybullet not installed: PyBullet numbers skipped)")
        return
    for broad in (True, False):
        with PyBulletCollisionChecker(world, broad_phase=broad) as checker:
            label = f"PyBullet batched (K=256), broad phase {'on' if broad else 'off'}"
            dt = timed(lambda c=checker: c.collides(poses), budget_s=1.0)
            share = checker.n_narrow / checker.n_queries
            print(f"{label:<42}{len(poses) / dt:>14,.0f}   ({share:.0%} of states sent to PyBullet)")
    few = poses[:2000]
    for broad in (True, False):
        with PyBulletCollisionChecker(world, broad_phase=broad) as checker:
            dt = timed(lambda c=checker: [c.collides(q[None]) for q in few], budget_s=1.0)
            label = f"PyBullet one pose per call, broad phase {'on' if broad else 'off'}"
            print(f"{label:<42}{len(few) / dt:>14,.0f}")
    t = time.perf_counter()
    PyBulletCollisionChecker(world).close()
    print(f"{'(building a PyBullet checker: s)':<42}{time.perf_counter() - t:>14.3f}")


def bench_agreement(seed: int) -> None:
    if PyBulletCollisionChecker is None:
        return
    print("\n== PyBullet vs analytic agreement ==")
    rng = np.random.default_rng(seed)
    print(f"{'map':<15}{'kind':<22}{'poses':>7}{'colliding':>11}{'disagree':>10}{'PyB-free overlaps':>19}")
    totals = np.zeros(3, dtype=int)
    for name in ("boxes", "shapes", "random_huge", "narrow_short", "Race_Track"):
        world = GridMap.from_csv(suite_map("ditree_car", name))
        x0, x1, y0, y1 = world.bounds
        uniform = np.column_stack(
            [rng.uniform(x0, x1, 2500), rng.uniform(y0, y1, 2500), rng.uniform(-np.pi, np.pi, 2500)]
        )
        sets = {
            "uniform over map": uniform,
            "near contact 10um-3mm": near_contact_poses(world, 2500, rng),
            "grazing 1nm-10um": near_contact_poses(world, 1000, rng, min_offset=1e-9, max_offset=1e-5),
        }
        analytic = AnalyticCollisionChecker(world)
        with PyBulletCollisionChecker(world) as checker:
            for kind, poses in sets.items():
                exact, got = analytic.collides(poses), checker.collides(poses)
                d, ff = int((exact != got).sum()), int((exact & ~got).sum())
                if not kind.startswith("grazing"):
                    totals += (len(poses), d, ff)
                print(f"{name:<15}{kind:<22}{len(poses):>7}{exact.mean():>11.1%}{d:>10}{ff:>19}")
    print(
        f"TOTAL (uniform + near contact): {totals[0]:,} poses, {totals[1]} disagreements, "
        f"{totals[2]} where PyBullet says free but the rectangle overlaps a wall"
    )
    print(
        "(grazing rows: PyBullet's 1 um margin calls poses that close collisions: disagreements expected there, overlaps called free never)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="random_huge", help="map (in the benchmark maps dir) for the collision throughput")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}"
    )
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    bench_propagation(Car(), args.seed)
    bench_collision(GridMap.from_csv(suite_map("ditree_car", args.map)), args.seed)
    bench_agreement(args.seed)
    print(f"\n(total {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
