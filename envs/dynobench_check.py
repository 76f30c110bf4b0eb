"""An independent checker of dynobench solutions: dynobench's acceptance tests (``Trajectory::check``,
described in the suite's README and docs/robots.md) re-implemented with their thresholds, plus a
check between the stored states that dynobench does not make.

Independent: the dynamics are dynobench's Euler equations written out here (unclipped, angles
wrapped as dynobench wraps them), not the robot's ``step``, and the collision geometry is
``envs.penetration`` (separating axes), not the planners' collision checkers.

dynobench's tests (all must pass for :attr:`CheckReport.accepted`), each a strict ``<``:

================ =========================================================== =================
test             quantity                                                    threshold
================ =========================================================== =================
start            distance(states[0], start), the robot's weighted metric     0.03
goal             distance(states[-1], goal)                                  ``goal_tol`` 0.03
dynamics         max_k distance(euler(states[k], actions[k]), states[k+1])   0.01
collision        max penetration depth of any body, at the stored states     0.01
state_bounds     max distance outside the robot's state_low / state_high     0.01
control_bounds   max distance outside control_low / control_high             0.01
world_box        max distance of the reference point (x, y) outside          0.01
                 the environment's min / max
================ =========================================================== =================

Ours, reported apart (:attr:`CheckReport.between_ok`): ``between_states``, no body penetrates any
obstacle (depth > 0) at ``substeps`` (>= 4) sub-states interpolated linearly between consecutive
stored states (angles along the shorter way round).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.dynobench import DynobenchInstance, DynobenchSolution, load_instance, load_solution
from envs.penetration import bodies_penetration

__all__ = ["DYNOBENCH_TESTS", "CheckReport", "check_files", "check_solution", "dynobench_distance", "dynobench_step"]

DYNOBENCH_TESTS = ("start", "goal", "dynamics", "collision", "state_bounds", "control_bounds", "world_box")
"""dynobench's acceptance tests, in the order reported."""


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + math.pi) % (2 * math.pi) - math.pi


def dynobench_distance(robot: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dynobench's weighted distance between states ``a`` and ``b`` ``(..., S)`` -> ``(...)``:
    ``w0 |dp| + sum_i w_i |d s_i|`` over components 2.. (angle differences wrapped)."""
    w = np.asarray(robot.distance_weights, dtype=float)
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rest = diff[..., 2:].copy()
    for i in robot.angle_indices:
        rest[..., i - 2] = _wrap(rest[..., i - 2])
    return w[0] * np.linalg.norm(diff[..., :2], axis=-1) + np.abs(rest) @ w[1:]


def dynobench_step(robot: Any, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """dynobench's Euler step of the robot's model, unclipped, angles wrapped: ``(N, S), (N, C) -> (N, S)``.
    Models: ``unicycle1_*``, ``unicycle2_*``, ``car1_*`` (one trailer); any other robot: its own step."""
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    th = x[:, 2]
    if robot.name.startswith("unicycle1"):
        f = [u[:, 0] * np.cos(th), u[:, 0] * np.sin(th), u[:, 1]]
    elif robot.name.startswith("unicycle2"):
        f = [x[:, 3] * np.cos(th), x[:, 3] * np.sin(th), x[:, 4], u[:, 0], u[:, 1]]
    elif robot.name.startswith("car1"):
        p = robot.params
        f = [u[:, 0] * np.cos(th), u[:, 0] * np.sin(th), u[:, 0] / p.wheelbase * np.tan(u[:, 1]),
             u[:, 0] / p.hitch_length * np.sin(th - x[:, 3])]
    else:
        return robot.rollout(x, u[:, None, :])[:, 1]
    nxt = x + robot.dt * np.stack(f, axis=-1)
    for i in robot.angle_indices:
        nxt[:, i] = _wrap(nxt[:, i])
    return nxt


def _outside(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per row ``(N,)``: how far the worst component lies outside ``[low, high]`` (0 inside)."""
    if len(values) == 0:
        return np.zeros(0)
    return np.max(np.maximum(np.maximum(low - values, values - high), 0.0), axis=-1)


@dataclass(frozen=True)
class CheckReport:
    """Every quantity of a check (distances in the robot's metric, depths and bounds in m or the
    state's units), the pass/fail of each test (:data:`DYNOBENCH_TESTS` and ``between_states``), and
    where the worst value occurs (state or step index; -1 when nothing is wrong)."""

    instance: str
    solution: str
    robot: str
    num_actions: int
    cost: float
    """``num_actions * dt`` (s)."""
    file_cost: float | None
    start_distance: float
    goal_distance: float
    max_jump: float
    jump_step: int
    max_penetration: float
    penetration_state: int
    penetration_obstacle: str | None
    state_bound_distance: float
    state_bound_state: int
    control_bound_distance: float
    control_bound_step: int
    world_box_distance: float
    world_box_state: int
    between_penetration: float
    between_step: int
    between_obstacle: str | None
    substeps: int
    goal_tol: float
    start_tol: float
    dynamics_tol: float
    collision_tol: float
    bounds_tol: float
    tests: dict[str, bool]

    @property
    def accepted(self) -> bool:
        """All of dynobench's tests pass (the between-state check is not one of them)."""
        return all(self.tests[t] for t in DYNOBENCH_TESTS)

    @property
    def between_ok(self) -> bool:
        return self.tests["between_states"]

    @property
    def failed(self) -> list[str]:
        return [t for t, ok in self.tests.items() if not ok]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["accepted"] = self.accepted
        d["between_ok"] = self.between_ok
        return d

    def summary(self) -> str:
        """A few lines for the CLI: one per test with its value, threshold and where it fails."""
        rows = [
            ("start", self.start_distance, self.start_tol, ""),
            ("goal", self.goal_distance, self.goal_tol, ""),
            ("dynamics", self.max_jump, self.dynamics_tol, f"step {self.jump_step}"),
            ("collision", self.max_penetration, self.collision_tol,
             f"state {self.penetration_state}, {self.penetration_obstacle}"),
            ("state_bounds", self.state_bound_distance, self.bounds_tol, f"state {self.state_bound_state}"),
            ("control_bounds", self.control_bound_distance, self.bounds_tol, f"step {self.control_bound_step}"),
            ("world_box", self.world_box_distance, self.bounds_tol, f"state {self.world_box_state}"),
        ]
        verdict = "ACCEPTED" if self.accepted else "REJECTED (" + ", ".join(t for t in self.failed if t in DYNOBENCH_TESTS) + ")"
        out = [f"{self.solution}: {verdict} by dynobench's tests; {self.robot}, {self.num_actions} actions, "
               f"cost {self.cost:.6g} s" + (f" (file says {self.file_cost:g})" if self.file_cost is not None else "")]
        for name, value, tol, where in rows:
            ok = self.tests[name]
            out.append(f"  {name:<15}{'ok  ' if ok else 'FAIL'} {value:.3g} (< {tol:g})" + ("" if ok or not where else f" at {where}"))
        ok = self.between_ok
        out.append(f"  {'between_states':<15}{'ok  ' if ok else 'FAIL'} {self.between_penetration:.3g} (= 0 at "
                   f"{self.substeps} sub-states per step; not a dynobench test)"
                   + ("" if ok else f" at step {self.between_step}, {self.between_obstacle}"))
        return "\n".join(out)


def check_solution(instance: DynobenchInstance, solution: DynobenchSolution, goal_tol: float = 0.03,
                   start_tol: float = 0.03, dynamics_tol: float = 0.01, collision_tol: float = 0.01,
                   bounds_tol: float = 0.01, substeps: int = 9) -> CheckReport:
    """Check ``solution`` against ``instance`` (see the module docstring); ``substeps`` (>= 4) sub-states
    per step for the between-state check."""
    from envs.registry import make_robot

    if not (isinstance(substeps, int) and substeps >= 4):
        raise ValueError(f"check_solution: substeps must be an int >= 4, got {substeps!r}")
    robot = make_robot(instance.robot)
    x, u = np.asarray(solution.states, dtype=float), np.asarray(solution.actions, dtype=float)
    if x.ndim != 2 or x.shape[1] != robot.state_dim or u.ndim != 2 or u.shape[1] != robot.control_dim or len(x) != len(u) + 1:
        raise ValueError(f"{solution.source}: states {x.shape} and actions {u.shape} do not fit {robot.name} "
                         f"(S = {robot.state_dim}, C = {robot.control_dim}, one action fewer than states)")
    names = instance.obstacle_fields or tuple(f"obstacle {i}" for i in range(len(instance.boxes) + len(instance.circles)))

    start_d = float(dynobench_distance(robot, x[0], instance.start))
    goal_d = float(dynobench_distance(robot, x[-1], instance.goal))
    jumps = dynobench_distance(robot, dynobench_step(robot, x[:-1], u), x[1:]) if len(u) else np.zeros(0)
    depth, obstacle = bodies_penetration(robot.bodies, robot.footprint_poses(x), instance.boxes, instance.circles)
    s_low = getattr(robot, "state_low", None)
    s_out = (_outside(x, np.asarray(s_low), np.asarray(robot.state_high)) if s_low is not None else np.zeros(len(x)))
    u_out = _outside(u, robot.control_low, robot.control_high)
    w_out = _outside(x[:, :2], instance.env_min, instance.env_max)

    # between the stored states: substeps interior sub-states per step, angles the shorter way round
    d = x[1:] - x[:-1]
    for i in robot.angle_indices:
        d[:, i] = _wrap(d[:, i])
    frac = np.arange(1, substeps + 1) / (substeps + 1)
    sub = x[:-1, None, :] + frac[None, :, None] * d[:, None, :]  # (N, m, S)
    for i in robot.angle_indices:
        sub[..., i] = _wrap(sub[..., i])
    if len(u):
        b_depth, b_ob = bodies_penetration(robot.bodies, robot.footprint_poses(sub), instance.boxes, instance.circles)
        b_step = b_depth.max(axis=1)
    else:
        b_depth, b_ob, b_step = np.zeros((0, substeps)), np.zeros((0, substeps), int), np.zeros(0)

    def worst(v: np.ndarray, positive_only: bool = True) -> tuple[float, int]:
        if len(v) == 0:
            return 0.0, -1
        k = int(np.argmax(v))
        return float(v[k]), (k if v[k] > 0 or not positive_only else -1)

    max_jump, jump_step = worst(jumps)
    max_pen, pen_state = worst(depth)
    s_d, s_i = worst(s_out)
    u_d, u_i = worst(u_out)
    w_d, w_i = worst(w_out)
    b_pen, b_k = worst(b_step)
    b_name = None
    if b_k >= 0:
        b_name = names[int(b_ob[b_k, int(np.argmax(b_depth[b_k]))])]
    tests = {
        "start": start_d < start_tol,
        "goal": goal_d < goal_tol,
        "dynamics": max_jump < dynamics_tol,
        "collision": max_pen < collision_tol,
        "state_bounds": s_d < bounds_tol,
        "control_bounds": u_d < bounds_tol,
        "world_box": w_d < bounds_tol,
        "between_states": b_pen <= 0.0,
    }
    return CheckReport(
        instance=instance.source, solution=solution.source, robot=robot.name, num_actions=len(u),
        cost=len(u) * robot.dt, file_cost=solution.cost, start_distance=start_d, goal_distance=goal_d,
        max_jump=max_jump, jump_step=jump_step, max_penetration=max_pen, penetration_state=pen_state,
        penetration_obstacle=names[int(obstacle[pen_state])] if pen_state >= 0 else None,
        state_bound_distance=s_d, state_bound_state=s_i, control_bound_distance=u_d, control_bound_step=u_i,
        world_box_distance=w_d, world_box_state=w_i, between_penetration=b_pen, between_step=b_k,
        between_obstacle=b_name, substeps=substeps, goal_tol=goal_tol, start_tol=start_tol,
        dynamics_tol=dynamics_tol, collision_tol=collision_tol, bounds_tol=bounds_tol, tests=tests)


def check_files(solution_path: str | Path, instance_path: str | Path, **kwargs: Any) -> CheckReport:
    """Read both files (one-line :class:`~envs.errors.DynobenchFormatError` on bad input) and check."""
    from envs.registry import make_robot

    instance = load_instance(instance_path)
    solution = load_solution(solution_path, make_robot(instance.robot))
    return check_solution(instance, solution, **kwargs)
