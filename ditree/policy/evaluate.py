"""Closed-loop sanity check of a policy on its own (no tree): receding-horizon rollouts.

From ``N`` starts at once, ask the policy for a chunk toward the goal, execute the first
``action_horizon`` controls (footprint checked at every ``dt`` step), re-crop, repeat, until the
goal is reached (a disc around each goal position, or any goal region of ``envs.goal`` such as a
problem's ``goal_region``), a collision happens or ``max_steps`` pass. This is a check of the
policy's quality, not the ``dp`` planner (which restarts on collision). Any world works: a grid
map or a :class:`~envs.box_world.BoxWorld`.

Works for any robot (the policy's, rebuilt from its checkpoint); maps are loaded at the robot's
``map_cell_size`` (2 m for the racecar). The racecar is simulated by PyBullet at a few thousand
steps per second, so keep ``--episodes`` small for it.

    .venv/bin/python -m ditree.policy.evaluate [--checkpoint PATH] [--episodes 100]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ditree.policy.features import goal_heading
from ditree.policy.policy import FlowPolicy
from envs.collision import AnalyticCollisionChecker, checked_rollout
from envs.local_map import TorchLocalMapper
from envs.registry import robot_spec
from envs.world import GridMap, World


@dataclass(frozen=True)
class ClosedLoopResult:
    """Per rollout: ``success`` (goal reached collision-free), ``collided``, ``steps`` (``dt``
    steps executed), and the wall time of the whole batch. ``trajectories`` (only when asked
    for): per rollout its states ``(steps + 1, S)`` from the start, the last one the state where
    it ended (in the goal, the first colliding state, or where time ran out)."""

    success: np.ndarray
    collided: np.ndarray
    steps: np.ndarray
    time_s: float
    trajectories: tuple[np.ndarray, ...] | None = None

    def summary(self) -> dict[str, float]:
        n = len(self.success)
        return {
            "n": n,
            "success": float(self.success.mean()) if n else float("nan"),
            "collision": float(self.collided.mean()) if n else float("nan"),
            "timeout": float((~self.success & ~self.collided).mean()) if n else float("nan"),
            "mean_steps_success": float(self.steps[self.success].mean()) if self.success.any() else float("nan"),
            "time_s": round(self.time_s, 2),
        }


class _Rollouts:
    """Bookkeeping of ``N`` closed-loop rollouts: states ``x`` (N, S), last controls ``prev`` (N, C),
    outcomes, executed steps, which are still running, and (``record``) every state visited."""

    def __init__(self, starts: np.ndarray, control_dim: int, record: bool) -> None:
        N = len(starts)
        self.x = starts
        self.prev = np.zeros((N, control_dim))
        self.success = np.zeros(N, bool)
        self.collided = np.zeros(N, bool)
        self.steps = np.zeros(N, np.int64)
        self.active = np.ones(N, bool)
        self.pieces: list[list[np.ndarray]] | None = [[starts[i:i + 1].copy()] for i in range(N)] if record else None

    def running(self, max_steps: int) -> bool:
        return bool(self.active.any()) and int(self.steps[self.active].max()) < max_steps

    def advance(self, rows: np.ndarray, rc, k: int) -> None:
        """Apply the checked rollout ``rc`` of ``k`` steps from rollouts ``rows``: each stops at its
        first goal or collision step."""
        hit_goal = rc.first_goal >= 0
        hit_wall = (rc.first_collision >= 0) & ~hit_goal
        done_steps = np.where(hit_goal, rc.first_goal, np.where(hit_wall, rc.first_collision, k))
        self.steps[rows] += done_steps
        if self.pieces is not None:
            for j, i in enumerate(rows):
                self.pieces[i].append(rc.states[j, 1:done_steps[j] + 1])
        self.success[rows[hit_goal]] = True
        self.collided[rows[hit_wall]] = True
        self.active[rows[hit_goal | hit_wall]] = False
        self.x[rows] = rc.states[:, -1]

    def result(self, t0: float) -> ClosedLoopResult:
        trajectories = tuple(np.concatenate(p) for p in self.pieces) if self.pieces is not None else None
        return ClosedLoopResult(self.success, self.collided, self.steps, time.perf_counter() - t0, trajectories)


def closed_loop(
    policy: FlowPolicy,
    world: World,
    starts: np.ndarray,
    goals: np.ndarray,
    *,
    goal_radius: float = 0.5,
    max_steps: int = 1500,
    num_steps: int = 1,
    seed: int = 0,
    goal_region: Any | None = None,
    record: bool = False,
    goal_yaws: np.ndarray | None = None,
) -> ClosedLoopResult:
    """Receding-horizon rollouts of ``policy`` from ``starts`` (N, S) of its robot to ``goals`` (N, 2)
    (world-frame positions the policy aims at, m) in ``world`` (a grid map or a box world).

    Success is reaching the disc of ``goal_radius`` around each rollout's goal, or, with
    ``goal_region`` (one region of ``envs.goal`` for every rollout, e.g. ``problem.goal_region``),
    reaching that region. ``record``: also return every rollout's states
    (``ClosedLoopResult.trajectories``). ``goal_yaws`` (N,): the goal headings (rad, NaN = none) a
    policy with ``target_heading`` is given; None = the ``goal_region``'s when it is a full state
    (:class:`~envs.goal.StateGoal`), else none."""
    t0 = time.perf_counter()
    robot = policy.robot
    checker = AnalyticCollisionChecker(world, robot.bodies)
    mapper = TorchLocalMapper(world, policy.local_map_spec, policy.device)
    g = torch.Generator(device=policy.device).manual_seed(seed)
    N = len(starts)
    x = np.asarray(starts, dtype=float).copy()
    goals = np.asarray(goals, dtype=float)
    yaws = np.full(N, goal_heading(goal_region)) if goal_yaws is None else np.asarray(goal_yaws, dtype=float)
    if yaws.shape != (N,):
        raise ValueError(f"goal_yaws must have shape ({N},), got {yaws.shape}")
    s = _Rollouts(x, robot.control_dim, record)
    k = policy.config.action_horizon
    while s.running(max_steps):
        idx = np.flatnonzero(s.active)
        chunk = policy.act(s.x[idx], s.prev[idx], goals[idx], mapper, generator=g, num_steps=num_steps,
                           target_yaw=yaws[idx])[:, :k]
        goal = goal_region if goal_region is not None else goals[idx]
        s.advance(idx, checked_rollout(robot, checker, s.x[idx], chunk.astype(float), goal, goal_radius), k)
        s.prev[idx] = chunk[:, -1]
    return s.result(t0)


def closed_loop_problems(
    policy: FlowPolicy,
    problems: Sequence[Any],
    rollouts: int = 1,
    *,
    max_steps: int = 1500,
    num_steps: int = 1,
    seed: int = 0,
    record: bool = False,
) -> ClosedLoopResult:
    """:func:`closed_loop` over many problems at once (each its own world, start and goal region):
    ``rollouts`` rollouts from each problem's start to its goal region, problem-major (rollout
    ``i * rollouts + j`` is problem ``i``'s ``j``-th). Every policy call is one batch over all
    active rollouts of all problems (local maps cropped in each problem's world), so many small
    problems cost about as many network calls as one. A policy with ``target_heading`` is given
    each problem's goal heading when its goal is a full state (:class:`~envs.goal.StateGoal`)."""
    t0 = time.perf_counter()
    robot = policy.robot
    P = len(problems)
    N = P * rollouts
    which = np.repeat(np.arange(P), rollouts)
    checkers = [AnalyticCollisionChecker(p.world, robot.bodies) for p in problems]
    mappers = [TorchLocalMapper(p.world, policy.local_map_spec, policy.device) for p in problems]
    g = torch.Generator(device=policy.device).manual_seed(seed)
    x = np.stack([np.asarray(problems[i].start, dtype=float) for i in which]) if N else np.zeros((0, robot.state_dim))
    goals = np.stack([np.asarray(problems[i].goal, dtype=float) for i in which]) if N else np.zeros((0, 2))
    yaws = np.array([goal_heading(problems[i].goal_region) for i in which], dtype=float).reshape(N)
    s = _Rollouts(x, robot.control_dim, record)
    k = policy.config.action_horizon
    while s.running(max_steps):
        idx = np.flatnonzero(s.active)
        groups = [(p, idx[which[idx] == p]) for p in np.unique(which[idx])]
        conds = [policy.conditioning(s.x[rows], s.prev[rows], goals[rows], mappers[p], yaws[rows]) for p, rows in groups]
        cond = {key: torch.cat([c[key] for c in conds]) for key in conds[0]}
        order = np.concatenate([rows for _, rows in groups])
        chunk = np.empty((N, k, robot.control_dim))
        chunk[order] = policy.sample(cond, num_steps=num_steps, generator=g)[:, :k].cpu().numpy()
        for p, rows in groups:
            s.advance(rows, checked_rollout(robot, checkers[p], s.x[rows], chunk[rows], problems[p].goal_region), k)
        s.prev[idx] = chunk[idx, -1]
    return s.result(t0)


def random_queries(
    world: GridMap, n: int, seed: int, min_dist_m: float = 3.0, robot=None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (start ``(n, S)`` at rest at a free cell centre with a random heading, goal ``(n, 2)``
    at another free cell centre at least ``min_dist_m`` away in a straight line); ``robot`` None =
    the car's 6-D states."""
    rng = np.random.default_rng(seed)
    cells = world.free_cells()
    xy = world.cell_to_xy(cells[:, 0], cells[:, 1])
    si = rng.integers(0, len(cells), 4 * n)
    gi = rng.integers(0, len(cells), 4 * n)
    ok = np.linalg.norm(xy[si] - xy[gi], axis=1) >= min_dist_m
    si, gi = si[ok][:n], gi[ok][:n]
    rest = np.zeros(6) if robot is None else robot.rest_state(0.0, 0.0, 0.0)
    starts = np.tile(rest, (len(si), 1))
    starts[:, :2] = xy[si]
    starts[:, 2] = rng.uniform(-np.pi, np.pi, len(si))
    return starts, xy[gi]


def sanity_report(policy: FlowPolicy, episodes: int = 100, seed: int = 0, max_steps: int = 1500,
                  data_dir: str | None = None) -> dict:
    """Closed-loop success in the training map (d4rl_large) and in the unseen val_maze_small
    (random queries, plus the validation scenario itself repeated with different noise), all at
    the policy robot's map cell size. Both maps come from the ``ditree_car`` suite of the benchmark
    data directory (``data_dir``, default: ``envs.suites.resolve_data_dir``)."""
    from envs.problem import validation_problem
    from envs.suites import suite_map

    robot = policy.robot
    cell = float(robot_spec(robot.name).map_cell_size)
    out = {"robot": robot.name}
    train_map = GridMap.from_csv(suite_map("ditree_car", "d4rl_large", data_dir), cell_size=cell)
    s, gl = random_queries(train_map, episodes, seed, 3.0 * cell, robot)
    out["d4rl_large_random"] = closed_loop(policy, train_map, s, gl, max_steps=max_steps, seed=seed).summary()
    prob = validation_problem("val_maze_small", robot=robot, data_dir=data_dir)
    s, gl = random_queries(prob.world, episodes, seed + 1, 3.0 * cell, robot)
    out["val_maze_small_random"] = closed_loop(policy, prob.world, s, gl, max_steps=max_steps, seed=seed).summary()
    n = max(1, episodes // 5)
    out["val_maze_small_scenario"] = closed_loop(
        policy, prob.world, np.repeat(prob.start[None], n, 0), np.repeat(prob.goal[None], n, 0),
        goal_radius=prob.goal_radius, max_steps=max_steps, seed=seed,
    ).summary()
    return out


def main(argv: list[str] | None = None) -> int:
    from ditree.policy.checkpoint import load_policy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="checkpoint path (default: the shipped one)")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=1500, help="0.02 s steps per rollout (default 1500 = 30 s)")
    ap.add_argument("--data-dir", default=None, help="benchmark data directory (default: $DITREE_DATA, else "
                    "shared/benchmarks beside the repository)")
    args = ap.parse_args(argv)
    policy = load_policy(args.checkpoint)
    print(json.dumps(sanity_report(policy, args.episodes, args.seed, args.max_steps, args.data_dir), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
