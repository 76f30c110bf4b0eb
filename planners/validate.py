"""Independent validation of planner results: nobody's path is believed without it.

:func:`validate` re-simulates the result's controls from the problem's start with the batched
model, compares the states it gets with the result's states, checks every body of the footprint at
EVERY 0.02 s state with PyBullet (an implementation independent of the analytic checker the planners
search with) and checks that the last state lies in the goal region (``problem.goal_region``: the
planners end every path at its first state in the region). :func:`finalize` runs it, records the
path's ``goal_distance`` and the goal in the result, and turns a failed validation into a failure
(never a success); the API passes every planner's result through it.
"""

from __future__ import annotations

import numpy as np

from envs.car import wrap_angle
from envs.collision import CollisionChecker, colliding_steps, make_checker, robot_collides
from envs.goal import StateGoal
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
    ``states`` to within :data:`STATE_TOL` (every angle component, ``robot.angle_indices``, compared
    modulo 2 pi); no body of any state's footprint touches a wall (``checker``, by default PyBullet,
    through ``envs.collision.robot_collides``); the last state lies in the goal region (within its
    tolerance + 1e-9).
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
    angles = robot.angle_indices
    err0 = _state_error(states[0], problem.start, angles)
    if err0 > STATE_TOL:
        return False, f"first state differs from the start by {err0:.3g}"
    sim = robot.rollout(problem.start[None], controls[None])[0]
    err = _state_error(sim, states, angles)
    bad = np.flatnonzero(err > STATE_TOL)
    if len(bad):
        return False, f"state {int(bad[0])} differs from the re-simulation by {err[bad[0]]:.3g} (tolerance {STATE_TOL:g})"
    checker = checker or validation_checker(problem)
    coll = robot_collides(robot, checker, sim)
    if coll.any():
        i = int(np.flatnonzero(coll)[0])
        return False, f"state {i} at t={i * robot.dt:.2f} s (x={sim[i, 0]:.3f}, y={sim[i, 1]:.3f}) collides ({type(checker).__name__})"
    region = problem.goal_region
    d = float(region.distance(sim[-1]))
    if d > region.tolerance + 1e-9:
        if isinstance(region, StateGoal):
            return False, (f"path ends at distance {d:.3f} from the goal state (tolerance {region.tolerance:g}, "
                           f"the {robot.name}'s metric)")
        return False, f"path ends {d:.3f} m from the goal (radius {region.tolerance:g} m)"
    return True, ""


def _state_error(a: np.ndarray, b: np.ndarray, angle_indices: tuple[int, ...] = (2,)) -> np.ndarray:
    """Per-state max abs difference, the components in ``angle_indices`` compared modulo 2 pi."""
    a, b = np.asarray(a), np.asarray(b)
    diff = np.abs(a - b)
    idx = list(angle_indices)
    diff[..., idx] = np.abs(wrap_angle(a[..., idx] - b[..., idx]))
    return diff.max(axis=-1)


def record_goal(problem: Problem, result: PlanResult) -> PlanResult:
    """Fill ``result.goal`` (the goal region's JSON) and ``result.goal_distance`` (the last state's
    distance to it, in the goal's own measure; None without a path) in place and return it. A world
    that no map file names (a BoxWorld: it has ``to_dict``) is recorded in ``result.world``."""
    region = problem.goal_region
    result.goal = region.to_dict()
    to_dict = getattr(problem.world, "to_dict", None)
    if to_dict is not None:
        result.world = to_dict()
    ok = len(result.states) and result.states.shape[-1] == problem.robot.state_dim
    result.goal_distance = float(region.distance(result.states[-1])) if ok else None
    return result


def finalize(problem: Problem, result: PlanResult, checker: CollisionChecker | None = None) -> PlanResult:
    """Validate a planner's result in place and return it: ``validated`` set; a success that fails
    validation becomes ``success=False`` with the reason. Failures stay failures. ``goal`` and
    ``goal_distance`` are recorded either way (:func:`record_goal`)."""
    record_goal(problem, result)
    if not result.success:
        result.validated = False
        return result
    ok, reason = validate(problem, result, checker)
    result.validated = ok
    if not ok:
        result.success = False
        result.reason = f"validation failed: {reason}"
        return result
    record_between_states(problem, result)
    return result


BETWEEN_SUBSTEPS = 4
"""Sub-states per step of the between-states sweep every validated result reports."""


def record_between_states(problem: Problem, result: PlanResult, substeps: int = BETWEEN_SUBSTEPS) -> PlanResult:
    """Record in ``result.extra["between_states"]`` how many steps of the path collide between their
    stored states (``substeps`` interpolated states each, every body, the exact analytic checker;
    ``envs.collision.colliding_steps``). Validation checks the stored states, as a benchmark such
    as dynobench does; this reports the sweep beside it (0 = clear)."""
    checker = make_checker(problem.world, problem.robot.bodies)
    hit = colliding_steps(problem.robot, checker, result.states, substeps)
    result.extra["between_states"] = {"substeps": int(substeps), "colliding_steps": int(hit.sum())}
    return result
