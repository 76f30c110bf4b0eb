"""Independent validation of planner results: nobody's path is believed without it.

:func:`validate` re-simulates the result's controls from the problem's start with the batched
model, compares the states it gets with the result's states, checks every body of the footprint at
EVERY 0.02 s state with PyBullet (an implementation independent of the analytic checker the planners
search with) and checks that the last state lies in the goal disc. :func:`finalize` runs it and
turns a failed validation into a failure (never a success); the API passes every planner's result
through it.
"""

from __future__ import annotations

import numpy as np

from envs.car import wrap_angle
from envs.collision import CollisionChecker, make_checker, robot_collides
from envs.problem import Problem
from planners.results import PlanResult

STATE_TOL = 1e-6
"""Largest allowed difference between re-simulated and reported states (state units)."""

_CHECKERS: dict[tuple, CollisionChecker] = {}


def validation_checker(problem: Problem) -> CollisionChecker:
    """The PyBullet checker of ``problem``'s world (cached per map content and the robot's bodies)."""
    bodies = problem.robot.bodies
    key = (problem.world.content_hash(), tuple((b.length, b.width) for b in bodies))
    if key not in _CHECKERS:
        if len(_CHECKERS) > 8:
            _CHECKERS.clear()
        _CHECKERS[key] = make_checker(problem.world, bodies, backend="pybullet")
    return _CHECKERS[key]


def validate(problem: Problem, result: PlanResult, checker: CollisionChecker | None = None) -> tuple[bool, str]:
    """Check a result's path independently -> ``(ok, reason)``; ``reason`` is "" when ok.

    Checks, in order: shapes and finiteness; ``dt`` equals the robot's; controls within bounds;
    the first state equals the start; re-simulating ``controls`` from the start reproduces
    ``states`` to within :data:`STATE_TOL` (yaw compared modulo 2 pi); no body of any state's
    footprint touches a wall (``checker``, by default PyBullet, through
    ``envs.collision.robot_collides``); the last state lies within the goal radius.
    """
    robot = problem.robot
    states, controls = np.asarray(result.states, dtype=float), np.asarray(result.controls, dtype=float)
    if len(states) == 0:
        return False, "no path"
    if states.ndim != 2 or states.shape[1] != robot.state_dim or controls.shape != (len(states) - 1, robot.control_dim):
        return False, f"bad path shapes: states {states.shape}, controls {controls.shape}"
    if not (np.isfinite(states).all() and np.isfinite(controls).all()):
        return False, "path contains non-finite numbers"
    if abs(result.dt - robot.dt) > 1e-12:
        return False, f"path dt {result.dt} differs from the robot's {robot.dt}"
    tol = 1e-9
    out = (controls < robot.control_low - tol) | (controls > robot.control_high + tol)
    if out.any():
        i = int(np.argwhere(out)[0, 0])
        return False, f"control {i} {controls[i].tolist()} is outside the bounds"
    err0 = _state_error(states[0], problem.start)
    if err0 > STATE_TOL:
        return False, f"first state differs from the start by {err0:.3g}"
    sim = robot.rollout(problem.start[None], controls[None])[0]
    err = _state_error(sim, states)
    bad = np.flatnonzero(err > STATE_TOL)
    if len(bad):
        return False, f"state {int(bad[0])} differs from the re-simulation by {err[bad[0]]:.3g} (tolerance {STATE_TOL:g})"
    checker = checker or validation_checker(problem)
    coll = robot_collides(robot, checker, sim)
    if coll.any():
        i = int(np.flatnonzero(coll)[0])
        return False, f"state {i} at t={i * robot.dt:.2f} s (x={sim[i, 0]:.3f}, y={sim[i, 1]:.3f}) collides ({type(checker).__name__})"
    d = float(np.linalg.norm(sim[-1, :2] - problem.goal))
    if d > problem.goal_radius + 1e-9:
        return False, f"path ends {d:.3f} m from the goal (radius {problem.goal_radius} m)"
    return True, ""


def _state_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-state max abs difference, yaw (index 2) compared modulo 2 pi."""
    diff = np.abs(np.asarray(a) - np.asarray(b))
    diff[..., 2] = np.abs(wrap_angle(np.asarray(a)[..., 2] - np.asarray(b)[..., 2]))
    return diff.max(axis=-1)


def finalize(problem: Problem, result: PlanResult, checker: CollisionChecker | None = None) -> PlanResult:
    """Validate a planner's result in place and return it: ``validated`` set; a success that fails
    validation becomes ``success=False`` with the reason. Failures stay failures."""
    if not result.success:
        result.validated = False
        return result
    ok, reason = validate(problem, result, checker)
    result.validated = ok
    if not ok:
        result.success = False
        result.reason = f"validation failed: {reason}"
    return result
