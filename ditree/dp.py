"""The policy alone ("DP", the paper's diffusion-policy baseline): closed-loop receding-horizon
rollouts from the start towards the goal, restarted from the start on collision, until the time
limit.

Each rollout executes ``action_horizon`` (8) controls of each predicted chunk, then asks the policy
again from the state it reached (always aiming at the goal). ``batch_size`` rollouts run side by
side (one policy call for all of them per chunk); with ``batch_size=1`` this is exactly the paper's
baseline. A rollout that collides, or drives longer than ``max_rollout_s`` without reaching the
goal, starts again from the start with fresh noise. The footprint and the goal are checked at every
0.02 s step, as in the tree planners, and the first rollout to enter the goal region is the path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ditree.policy import FlowPolicy, load_policy
from ditree.policy.features import goal_heading
from ditree.sampler import (
    PRECISIONS,
    check_policy_matches,
    check_threads,
    resolve_device,
    resolve_precision,
    torch_threads,
)
from envs.collision import checked_rollout, make_checker
from envs.local_map import TorchLocalMapper
from envs.problem import Problem
from planners.base import Profiler
from planners.results import PlanResult, empty_path


@dataclass(frozen=True)
class DPParams:
    """Parameters of :class:`PolicyRolloutPlanner`.

    ``batch_size``: rollouts advanced together (1 = the paper's single rollout); ``max_rollout_s``:
    a rollout that has not reached the goal after this long restarts (s); ``num_flow_steps``: Euler
    steps of the flow; ``device``: "auto", "cpu" or "cuda"; ``precision``: network dtype while
    planning (see :class:`ditree.sampler.PolicySamplerParams`); ``checkpoint``: None = shipped;
    ``threads``: torch CPU threads while solving (:func:`ditree.sampler.torch_threads`).
    """

    batch_size: int = 16
    max_rollout_s: float = 30.0
    num_flow_steps: int = 1
    collision_backend: str = "analytic"
    device: str = "auto"
    precision: str = "auto"
    checkpoint: str | None = None
    max_iterations: int = 0
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.max_iterations < 0:
            raise ValueError(f"DPParams.max_iterations must be >= 0, got {self.max_iterations}")
        check_threads(self.threads, "DPParams")
        if self.batch_size < 1:
            raise ValueError(f"DPParams.batch_size must be >= 1, got {self.batch_size}")
        if not self.max_rollout_s > 0:
            raise ValueError(f"DPParams.max_rollout_s must be positive, got {self.max_rollout_s}")
        if self.num_flow_steps < 1:
            raise ValueError(f"DPParams.num_flow_steps must be >= 1, got {self.num_flow_steps}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"DPParams.precision must be one of {PRECISIONS}, got {self.precision!r}")


class PolicyRolloutPlanner:
    """The "dp" baseline (see module docstring). Same seed, same path on the CPU."""

    def __init__(self, params: DPParams | None = None, policy: FlowPolicy | None = None, *, name: str = "dp") -> None:
        self.params = params or DPParams()
        self.name = name
        # no policy and no checkpoint: the checkpoint shipped for the problem's robot (see solve)
        self._follow_robot = policy is None and self.params.checkpoint is None
        self._use(policy if policy is not None else load_policy(
            self.params.checkpoint, device=resolve_device(self.params.device)))

    def _use(self, policy: FlowPolicy) -> None:
        policy.check_num_steps(self.params.num_flow_steps)
        self.policy = policy
        dtype = resolve_precision(self.params.precision, policy.device)
        self._net_policy = policy if dtype == policy.dtype else policy.inference_copy(dtype)

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        with torch_threads(self.params.threads):
            return self._solve(problem, time_limit, seed)

    def _solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        if self._follow_robot and problem.robot.name != self.policy.robot.name:
            self._use(load_policy(robot=problem.robot.name, device=resolve_device(self.params.device)))
        p, pol = self.params, self._net_policy
        t_begin = time.perf_counter()
        deadline = t_begin + float(time_limit)
        rng = np.random.default_rng(seed)
        prof = Profiler()
        robot = problem.robot
        check_policy_matches(pol, problem)
        with prof("setup"):
            checker = make_checker(problem.world, robot.bodies, backend=p.collision_backend)
            mapper = TorchLocalMapper(problem.world, pol.local_map_spec, pol.device)
        B, L, H = p.batch_size, pol.config.action_horizon, pol.config.pred_horizon
        max_steps = max(L, round(p.max_rollout_s / robot.dt))
        hist_x = np.zeros((B, max_steps + L + 1, robot.state_dim))
        hist_u = np.zeros((B, max_steps + L, robot.control_dim))
        hist_x[:, 0] = problem.start
        t = np.zeros(B, dtype=np.int64)  # steps executed by each rollout
        goal = np.tile(problem.goal, (B, 1))
        goal_yaw = np.full(B, goal_heading(problem.goal_region))  # NaN: the goal has no heading
        counters = {"policy_calls": 0, "restarts": 0, "collisions": 0, "timeouts": 0, "steps": 0}
        found = -1
        iterations = 0
        reason = ""
        while found < 0:
            if time.perf_counter() >= deadline:
                reason = f"time limit {time_limit:g} s reached"
                break
            if p.max_iterations and iterations >= p.max_iterations:
                reason = f"iteration limit {p.max_iterations} reached"
                break
            iterations += 1
            rows = np.arange(B)
            x = hist_x[rows, t]
            prev = np.where((t > 0)[:, None], hist_u[rows, np.maximum(t - 1, 0)], 0.0)
            noise = torch.from_numpy(rng.standard_normal((B, H, robot.control_dim)).astype(np.float32))
            with prof("policy"):
                u = pol.act(x, prev, goal, mapper, noise=noise, num_steps=p.num_flow_steps,
                            target_yaw=goal_yaw)[:, :L].astype(float)
            counters["policy_calls"] += 1
            with prof("propagation+collision"):
                chk = checked_rollout(robot, checker, x, u, problem.goal_region)
            counters["steps"] += B * L
            cols = t[:, None] + np.arange(L)[None, :]
            hist_x[rows[:, None], cols + 1] = chk.states[:, 1:]
            hist_u[rows[:, None], cols] = u
            hits = np.flatnonzero(chk.first_goal >= 0)
            if len(hits):
                # the rollout that reaches the goal soonest
                k = hits[np.argmin(t[hits] + chk.first_goal[hits])]
                n = int(t[k] + chk.first_goal[k])
                found = int(k)
                path_x, path_u = hist_x[k, : n + 1].copy(), hist_u[k, :n].copy()
                break
            crashed = chk.first_collision >= 0
            t += L
            too_long = t >= max_steps
            restart = crashed | too_long
            counters["collisions"] += int(crashed.sum())
            counters["timeouts"] += int((too_long & ~crashed).sum())
            counters["restarts"] += int(restart.sum())
            t[restart] = 0
        elapsed = time.perf_counter() - t_begin
        if found < 0:
            path_x, path_u = empty_path(robot)
        return PlanResult(
            success=found >= 0, planner=self.name, seed=seed, time_s=elapsed, iterations=iterations,
            nodes=0, dt=robot.dt, states=path_x, controls=path_u, reason="" if found >= 0 else reason,
            profile=prof.as_dict(), counters=counters, robot=robot.name,
            extra={"params": dict(p.__dict__), "device": str(pol.device),
                   "precision": str(pol.dtype).removeprefix("torch.")},
        )


def make_dp(**params: Any) -> PolicyRolloutPlanner:
    """Registry factory for ``dp``."""
    return PolicyRolloutPlanner(DPParams(**params))
