"""Trajectory optimisation with CasADi and IPOPT: from a found path to the exact goal state.

Search ends in a goal *region*; a benchmark such as dynobench asks for the goal *state* (within
0.03 in the robot's metric). :func:`connect_to_goal` takes a path that search found (states
``(T+1, S)``, controls ``(T, C)``, ending anywhere near a :class:`~envs.goal.StateGoal`) and
optimises its controls so that it ends within :attr:`TrajOptParams.goal_tolerance` of the goal
state; :func:`polish` shortens a path that reaches the goal (the final time made free by trying
shorter horizons). Both return a :class:`TrajOptResult` whose path is re-simulated with
``robot.rollout`` from the problem's start, so it is exactly our model's, and re-checked exactly.

The nonlinear programme (:func:`optimize_path`), multiple shooting at the robot's ``dt``:

- variables: the states ``X`` ``(S, T+1)`` (angles unwrapped: the warm start goes through
  ``np.unwrap``) and the controls ``U`` ``(C, T)``, warm-started from the given path;
- dynamics: ``X[:, k+1] = robot.casadi_step(X[:, k], U[:, k])`` (the robot's own Euler equations
  without angle wrapping or clipping), the first state fixed;
- bounds: controls within ``[control_low, control_high]``, the reference point ``(x, y)`` within
  the world's bounds;
- goal: the last state within a box around the goal state (each angle's goal taken at the 2 pi
  representative nearest the path's unwrapped end) small enough that the weighted distance is at
  most half the tolerance;
- collisions: every body (``robot.casadi_footprint_poses``) is covered by a row of discs along its
  length (their union contains the rectangle; they stick out sideways by at most
  :attr:`TrajOptParams.disc_overhang`), and every disc keeps its radius plus
  :attr:`TrajOptParams.collision_margin` from every box and circle of the world, at every stored
  state and at :attr:`TrajOptParams.substeps` states interpolated between consecutive ones. The
  distance of a disc centre to an axis-aligned box is the box's signed distance function. Why discs
  and this function: the Euclidean distance to a convex set is continuously differentiable outside
  the set, so every constraint is smooth wherever it can be active (at distance >= radius > 0);
  inside a box the signed part still points the centre out through the nearest face; and the
  formulation needs no extra variables (exact separating-axis constraints need a separating line
  per body, obstacle and time, and switch non-smoothly between axes). Only obstacles within
  :attr:`TrajOptParams.obstacle_radius` of a disc's warm-start position constrain it; the exact
  re-check below catches a path that strays into one left out;
- objective: stay near the warm start's positions (a small step from a path search already found)
  plus a small control effort.

Every result is re-simulated from the start with the robot's model (angles wrapped, controls
clipped to the bounds) and re-checked with the exact rectangle checker (``envs.collision``) at
every stored state and at the interpolated sub-states, and against the world's bounds; anything
that fails is a failure with a reason and an empty path, never a colliding path.

Obstacles come from :func:`world_obstacles`: a box world (``boxes``, ``circles``, ``bounds``)
or a grid map (its wall cells merged into rectangles, the map's border as walls).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from envs.collision import make_checker, robot_collides
from envs.goal import DiscGoal, StateGoal, state_distance
from envs.problem import Problem

__all__ = ["TrajOptParams", "TrajOptResult", "connect_to_goal", "optimize_path", "polish", "world_obstacles"]


@dataclass(frozen=True)
class TrajOptParams:
    """Parameters of the trajectory optimiser (lengths in metres, times in seconds).

    ``goal_tolerance``: success needs the re-simulated last state within this of the goal state
    (the robot's metric; the problem's own tolerance if smaller); the optimiser aims at half of it.
    ``collision_margin``: clearance of the covering discs beyond their radius. ``substeps``:
    states interpolated between consecutive stored states, constrained and checked (>= 4).
    ``disc_overhang``: how far the covering discs may stick out of a body's long sides (fewer
    discs when larger). ``obstacle_radius``: a disc is constrained only by obstacles within this
    distance of its warm-start position. ``window_steps``: :func:`connect_to_goal` re-optimises
    only the last this many steps of a longer path (0 = the whole path); the window starts earlier
    when an earlier step collides between its states. ``free_final_time``: :func:`connect_to_goal`
    also shortens its result (:func:`polish`, within the time left). ``max_iterations``,
    ``ipopt_tol``: IPOPT's ``max_iter`` and ``tol``. ``time_budget_s``: IPOPT's ``max_cpu_time``
    per solve. ``polish_time_budget_s``, ``polish_max_solves``: the budget of one :func:`polish`
    (its solves stop when either is spent). ``track_weight``, ``control_weight``: objective weights
    of the squared distance to the warm start's positions and of the squared normalised controls
    (both averaged over the steps).
    """

    goal_tolerance: float = 0.01
    collision_margin: float = 0.01
    substeps: int = 4
    disc_overhang: float = 0.02
    obstacle_radius: float = 0.75
    window_steps: int = 40
    free_final_time: bool = False
    max_iterations: int = 300
    ipopt_tol: float = 1e-6
    time_budget_s: float = 1.0
    polish_time_budget_s: float = 3.0
    polish_max_solves: int = 6
    track_weight: float = 1.0
    control_weight: float = 0.01

    def __post_init__(self) -> None:
        for name in ("goal_tolerance", "disc_overhang", "obstacle_radius", "ipopt_tol", "time_budget_s",
                     "polish_time_budget_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"TrajOptParams.{name} must be a positive number, got {v!r}")
        for name in ("collision_margin", "track_weight", "control_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"TrajOptParams.{name} must be a number >= 0, got {v!r}")
        if not (isinstance(self.substeps, int) and self.substeps >= 4):
            raise ValueError(f"TrajOptParams.substeps must be an integer >= 4, got {self.substeps!r}")
        for name in ("window_steps", "max_iterations", "polish_max_solves"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= (0 if name == "window_steps" else 1)):
                raise ValueError(f"TrajOptParams.{name} must be an integer >= {0 if name == 'window_steps' else 1}, "
                                 f"got {v!r}")


@dataclass
class TrajOptResult:
    """The outcome of an optimisation.

    ``states`` ``(T+1, S)`` (angles wrapped) and ``controls`` ``(T, C)``: the optimised path
    re-simulated with ``robot.rollout`` from the problem's start; empty ``(0, S)``, ``(0, C)`` on
    failure. ``goal_distance``: its last state's distance to the goal (robot metric for a state
    goal, metres for a disc; NaN without a path). ``status``: IPOPT's return status of the last
    solve. ``reason``: why it failed ("" on success). ``time_s``: wall time of the whole call,
    building and checking included. ``iterations``: IPOPT iterations over all solves; ``solves``:
    number of IPOPT solves.
    """

    success: bool
    states: np.ndarray
    controls: np.ndarray
    goal_distance: float = math.nan
    status: str = ""
    reason: str = ""
    time_s: float = 0.0
    iterations: int = 0
    solves: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Number of controls (the path's duration is ``steps * dt``)."""
        return len(self.controls)


# ---------------------------------------------------------------------------------------------- world


def world_obstacles(world: Any) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """The obstacles of a world -> ``(boxes, circles, bounds)``.

    ``boxes`` ``(N, 4)`` = (centre x, centre y, full size x, full size y), axis-aligned;
    ``circles`` ``(M, 3)`` = (centre x, centre y, radius); ``bounds`` = (x_min, y_min, x_max, y_max),
    the box the robot's reference point must stay in. Duck-typed: a world with ``boxes`` (and
    optionally ``circles``) and ``bounds`` in that layout is read as it is (a box world); a grid map
    (``grid``, ``cell_size``, ``width_m``, ``height_m``) gives its wall cells merged into rectangles
    plus four walls around the map (outside the grid is wall).
    """
    if hasattr(world, "boxes"):
        boxes = np.asarray(world.boxes, dtype=float).reshape(-1, 4)
        circles = np.asarray(getattr(world, "circles", np.zeros((0, 3))), dtype=float).reshape(-1, 3)
        b = tuple(float(v) for v in world.bounds)
        if len(b) != 4 or not (b[0] < b[2] and b[1] < b[3]):
            raise ValueError(f"world bounds must be (x_min, y_min, x_max, y_max), got {b}")
        return boxes, circles, b  # type: ignore[return-value]
    if hasattr(world, "grid") and hasattr(world, "cell_size"):
        from envs.pybullet_world import merge_wall_cells

        s, W, H = float(world.cell_size), float(world.width_m), float(world.height_m)
        rects = []
        for r0, c0, r1, c1 in merge_wall_cells(world.grid):
            x0, x1 = c0 * s - W / 2, c1 * s - W / 2
            y1, y0 = H / 2 - r0 * s, H / 2 - r1 * s
            rects.append(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0))
        t = 2.0 * s  # the border: thick enough that no disc centre can reach past it
        rects += [(0.0, H / 2 + t / 2, W + 2 * t, t), (0.0, -H / 2 - t / 2, W + 2 * t, t),
                  (-W / 2 - t / 2, 0.0, t, H), (W / 2 + t / 2, 0.0, t, H)]
        return np.array(rects, dtype=float).reshape(-1, 4), np.zeros((0, 3)), (-W / 2, -H / 2, W / 2, H / 2)
    raise TypeError(f"cannot read obstacles from a {type(world).__name__}: expected boxes/circles/bounds or a grid map")


# ---------------------------------------------------------------------------------------------- helpers


def _fail(reason: str, robot: Any, t0: float, status: str = "", iterations: int = 0, solves: int = 0) -> TrajOptResult:
    return TrajOptResult(False, np.zeros((0, robot.state_dim)), np.zeros((0, robot.control_dim)), math.nan, status,
                         reason, time.perf_counter() - t0, iterations, solves)


def casadi_support(robot: Any) -> str:
    """Why ``robot`` cannot be optimised ("" when it can): it needs ``casadi_step`` and, with more
    than one body, ``casadi_footprint_poses``."""
    if not callable(getattr(robot, "casadi_step", None)):
        return (f"robot {getattr(robot, 'name', robot)!r} has no casadi_step(x, u): trajectory optimisation needs "
                "its dynamics as casadi expressions")
    if len(robot.bodies) > 1 and not callable(getattr(robot, "casadi_footprint_poses", None)):
        return (f"robot {robot.name!r} has {len(robot.bodies)} bodies but no casadi_footprint_poses(x): trajectory "
                "optimisation needs their poses as casadi expressions")
    return ""


def _footprint_poses_sym(robot: Any, x: Any) -> list[tuple]:
    if callable(getattr(robot, "casadi_footprint_poses", None)):
        return robot.casadi_footprint_poses(x)
    return [(x[0], x[1], x[2])]


def _disc_cover(robot: Any, overhang: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Per body, the discs' offsets along its length ``(n_b,)``; the radius of every disc ``(sum n_b,)``.

    ``n_b`` discs of radius ``hypot(L / (2 n_b), W / 2)`` centred at the middles of ``n_b`` equal
    slices of the ``L x W`` rectangle contain it (each contains its slice's corners); ``n_b`` is the
    fewest whose radius exceeds ``W / 2`` by at most ``overhang``."""
    offsets, radii = [], []
    for b in robot.bodies:
        hw = 0.5 * b.width
        slice_half = math.sqrt((hw + overhang) ** 2 - hw**2)
        n = max(1, math.ceil(0.5 * b.length / slice_half - 1e-12))
        seg = b.length / n
        offsets.append(-0.5 * b.length + seg * (np.arange(n) + 0.5))
        radii += [math.hypot(0.5 * seg, hw)] * n
    return offsets, np.asarray(radii)


def _unwrap(states: np.ndarray, angle_indices: tuple[int, ...]) -> np.ndarray:
    out = np.array(states, dtype=float)
    for i in angle_indices:
        out[:, i] = np.unwrap(out[:, i])
    return out


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _substates(states: np.ndarray, substeps: int, angle_indices: tuple[int, ...]) -> np.ndarray:
    """States ``(T+1, S)`` -> ``(T, substeps, S)`` interpolated strictly between consecutive ones
    (angles along their shorter way round)."""
    a, b = states[:-1], states[1:]
    d = b - a
    idx = list(angle_indices)
    d[:, idx] = _wrap(d[:, idx])
    frac = np.arange(1, substeps + 1) / (substeps + 1)
    return a[:, None, :] + frac[None, :, None] * d[:, None, :]


def _collision_steps(problem: Problem, states: np.ndarray, substeps: int, checker: Any = None) -> np.ndarray:
    """``(T,)`` bool: step k collides at its end state or between its states (exact checker)."""
    robot = problem.robot
    checker = checker if checker is not None else make_checker(problem.world, robot.bodies)
    sub = _substates(states, substeps, robot.angle_indices)
    hit_sub = robot_collides(robot, checker, sub.reshape(-1, robot.state_dim)).reshape(sub.shape[:2]).any(axis=1)
    return hit_sub | robot_collides(robot, checker, states[1:])


def _check_path(problem: Problem, states: np.ndarray, substeps: int, bounds: tuple[float, ...]) -> str:
    """Exact re-check of a re-simulated path -> "" or why it fails."""
    hit = _collision_steps(problem, states, substeps)
    if hit.any():
        k = int(np.flatnonzero(hit)[0])
        return f"the optimised path collides in step {k} (between t={k * problem.robot.dt:.2f} s and the next state)"
    xy = states[:, :2]
    out = (xy[:, 0] < bounds[0] - 1e-9) | (xy[:, 1] < bounds[1] - 1e-9) | (xy[:, 0] > bounds[2] + 1e-9) | (
        xy[:, 1] > bounds[3] + 1e-9)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        return f"the optimised path leaves the world's bounds at state {i} ({xy[i, 0]:.3f}, {xy[i, 1]:.3f})"
    return ""


def _goal_target(problem: Problem, goal_state: np.ndarray | None, params: TrajOptParams) -> tuple[str, float]:
    """The goal the optimiser must reach: ``("state" | "disc", tolerance)``."""
    region = problem.goal_region
    if goal_state is not None or isinstance(region, StateGoal):
        tol = params.goal_tolerance
        if isinstance(region, StateGoal):
            tol = min(tol, region.tolerance)
        return "state", tol
    if isinstance(region, DiscGoal):
        return "disc", region.radius
    raise TypeError(f"cannot optimise towards a {type(region).__name__} goal")


# ---------------------------------------------------------------------------------------------- the NLP


def _solve(problem: Problem, x_init: np.ndarray, u_init: np.ndarray, goal: tuple, params: TrajOptParams,
           obstacles: tuple, time_budget: float) -> tuple[np.ndarray, str, int]:
    """One IPOPT solve from the warm start ``x_init`` ``(T+1, S)`` (unwrapped, ``x_init[0]`` fixed),
    ``u_init`` ``(T, C)`` -> (controls ``(T, C)`` found, IPOPT status, iterations)."""
    import casadi as ca

    robot = problem.robot
    S, C = robot.state_dim, robot.control_dim
    T = len(u_init)
    boxes, circles, bounds = obstacles

    X = ca.SX.sym("X", S, T + 1)
    U = ca.SX.sym("U", C, T)
    xs, us = ca.SX.sym("x", S), ca.SX.sym("u", C)
    step = ca.Function("step", [xs, us], [robot.casadi_step(xs, us)])
    dyn = X[:, 1:] - step.map(T)(X[:, :-1], U)

    # discs of every body at every point: fractions 1/(n+1) .. n/(n+1) and 1 of every step
    offsets, radii = _disc_cover(robot, params.disc_overhang)
    centres = []
    for (px, py, pyaw), off in zip(_footprint_poses_sym(robot, xs), offsets, strict=True):
        for o in off:
            centres.append(ca.vertcat(px + o * ca.cos(pyaw), py + o * ca.sin(pyaw)))
    disc_fn = ca.Function("discs", [xs], [ca.horzcat(*centres)])  # (2, D)
    D = len(radii)
    fracs = list(np.arange(1, params.substeps + 1) / (params.substeps + 1)) + [1.0]
    P = ca.horzcat(*[X[:, :-1] * (1 - a) + X[:, 1:] * a for a in fracs])  # (S, Npts)
    Pn = np.hstack([x_init[:-1].T * (1 - a) + x_init[1:].T * a for a in fracs])
    npts = Pn.shape[1]
    discs_sym = disc_fn.map(npts)(P)  # (2, npts * D), point-major
    discs_num = np.asarray(disc_fn.map(npts)(Pn))
    rad = np.tile(radii, npts)
    need = rad + params.collision_margin
    g_coll = []
    if len(boxes):
        q = np.abs(discs_num.T[:, None, :] - boxes[None, :, :2]) - 0.5 * boxes[None, :, 2:]
        sd = np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
        cols, obs = np.nonzero(sd < need[:, None] + params.obstacle_radius)
        if len(cols):
            c = discs_sym[:, cols.tolist()]
            q = ca.fabs(c - ca.DM(boxes[obs, :2].T)) - ca.DM(0.5 * boxes[obs, 2:].T)
            qx, qy = q[0, :], q[1, :]
            outside = ca.sqrt(ca.fmax(qx, 0) ** 2 + ca.fmax(qy, 0) ** 2 + 1e-12)
            g_coll.append((outside + ca.fmin(ca.fmax(qx, qy), 0) - ca.DM(need[cols]).T).T)
    if len(circles):
        dist = np.linalg.norm(discs_num.T[:, None, :] - circles[None, :, :2], axis=-1) - circles[None, :, 2]
        cols, obs = np.nonzero(dist < need[:, None] + params.obstacle_radius)
        if len(cols):
            c = discs_sym[:, cols.tolist()] - ca.DM(circles[obs, :2].T)
            g_coll.append((ca.sqrt(ca.sum1(c**2) + 1e-12) - ca.DM(circles[obs, 2] + need[cols]).T).T)

    # goal: a box around the goal state (variable bounds) or a disc (a constraint)
    lbX = np.full((S, T + 1), -np.inf)
    ubX = np.full((S, T + 1), np.inf)
    lbX[0, 1:], ubX[0, 1:] = bounds[0], bounds[2]
    lbX[1, 1:], ubX[1, 1:] = bounds[1], bounds[3]
    lbX[:, 0] = ubX[:, 0] = x_init[0]
    g_goal = []
    kind, tol = goal[0], goal[1]
    if kind == "state":
        g = np.array(goal[2], dtype=float)
        end = x_init[-1]
        for i in robot.angle_indices:  # the goal angle's representative nearest the path's unwrapped end
            g[i] += 2 * math.pi * round((end[i] - g[i]) / (2 * math.pi))
        w = np.asarray(robot.distance_weights, dtype=float)
        others = np.flatnonzero(w[1:]) + 2
        share = 0.5 * tol / (1 + len(others))  # of the aim (half the tolerance): one share per weighted term
        dp = share / (w[0] * math.sqrt(2))
        lbX[:2, T], ubX[:2, T] = g[:2] - dp, g[:2] + dp
        for i in others:
            lbX[i, T], ubX[i, T] = g[i] - share / w[i - 1], g[i] + share / w[i - 1]
    else:
        centre = np.asarray(goal[2], dtype=float)
        g_goal.append(ca.sumsqr(X[:2, T] - ca.DM(centre)) - (0.5 * tol) ** 2)

    lo, hi = np.asarray(robot.control_low, dtype=float), np.asarray(robot.control_high, dtype=float)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    J = params.track_weight * ca.sumsqr(X[:2, 1:] - ca.DM(x_init[1:, :2].T)) / T
    J += params.control_weight * ca.sumsqr((U - ca.DM(np.tile(mid, (T, 1)).T)) / ca.DM(np.tile(half, (T, 1)).T)) / T

    g_all = [ca.vec(dyn)] + g_coll + g_goal
    n_dyn, n_coll = S * T, sum(gc.shape[0] for gc in g_coll)
    lbg = np.concatenate([np.zeros(n_dyn), np.zeros(n_coll), np.full(len(g_goal), -np.inf)])
    ubg = np.concatenate([np.zeros(n_dyn), np.full(n_coll, np.inf), np.zeros(len(g_goal))])
    w_sym = ca.vertcat(ca.vec(X), ca.vec(U))
    lbw = np.concatenate([lbX.ravel(order="F"), np.tile(lo, T)])
    ubw = np.concatenate([ubX.ravel(order="F"), np.tile(hi, T)])
    w0 = np.concatenate([x_init.ravel(), np.clip(u_init, lo, hi).ravel()])
    w0 = np.clip(w0, lbw, ubw)
    opts = {"print_time": 0, "ipopt.print_level": 0, "ipopt.sb": "yes", "ipopt.max_iter": params.max_iterations,
            "ipopt.tol": params.ipopt_tol, "ipopt.constr_viol_tol": 1e-7, "ipopt.max_cpu_time": max(time_budget, 1e-3)}
    solver = ca.nlpsol("trajopt", "ipopt", {"x": w_sym, "f": J, "g": ca.vertcat(*g_all)}, opts)
    sol = solver(x0=w0, lbx=lbw, ubx=ubw, lbg=lbg, ubg=ubg)
    stats = solver.stats()
    w_opt = np.asarray(sol["x"]).ravel()
    controls = w_opt[S * (T + 1):].reshape(T, C)
    return np.clip(controls, lo, hi), str(stats.get("return_status", "")), int(stats.get("iter_count", 0))


# ---------------------------------------------------------------------------------------------- public


def _prepare(problem: Problem, states: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """The given path re-simulated from the start -> (states, controls, "" or why it is unusable)."""
    robot = problem.robot
    states = np.asarray(states, dtype=float)
    controls = np.asarray(controls, dtype=float)
    if controls.ndim != 2 or controls.shape[1] != robot.control_dim or len(controls) < 1:
        return states, controls, f"controls must be (T >= 1, {robot.control_dim}), got {controls.shape}"
    if states.shape != (len(controls) + 1, robot.state_dim):
        return states, controls, f"states must be ({len(controls) + 1}, {robot.state_dim}), got {states.shape}"
    sim = robot.rollout(problem.start[None], controls[None])[0]
    err = np.abs(sim - states)
    idx = list(robot.angle_indices)
    err[:, idx] = np.abs(_wrap(err[:, idx]))
    if err.max() > 1e-6:
        return states, controls, (f"the given states are not the re-simulation of the controls from the start "
                                  f"(off by {err.max():.3g} at state {int(err.max(axis=1).argmax())})")
    return sim, controls, ""


def _finish(problem: Problem, prefix: np.ndarray, controls: np.ndarray, goal: tuple, params: TrajOptParams,
            bounds: tuple, t0: float, status: str, iterations: int, solves: int) -> TrajOptResult:
    """Re-simulate ``prefix + controls`` from the start and check it exactly."""
    robot = problem.robot
    u = np.concatenate([prefix, controls]) if len(prefix) else controls
    u = np.clip(u, robot.control_low, robot.control_high)
    states = robot.rollout(problem.start[None], u[None])[0]
    if not np.isfinite(states).all():
        return _fail(f"IPOPT ({status}) returned non-finite controls", robot, t0, status, iterations, solves)
    if goal[0] == "state":
        d = float(state_distance(robot, states[-1], goal[2]))
    else:
        d = float(np.linalg.norm(states[-1, :2] - goal[2]))
    if not d <= goal[1]:
        return _fail(f"IPOPT ({status}) ended {d:.4f} from the goal (tolerance {goal[1]:g})", robot, t0, status,
                     iterations, solves)
    why = _check_path(problem, states, params.substeps, bounds)
    if why:
        return _fail(f"{why} (IPOPT: {status})", robot, t0, status, iterations, solves)
    return TrajOptResult(True, states, u, d, status, "", time.perf_counter() - t0, iterations, solves)


def optimize_path(problem: Problem, states: np.ndarray, controls: np.ndarray, goal_state: np.ndarray | None,
                  params: TrajOptParams | None = None) -> TrajOptResult:
    """Optimise a path's controls to end at ``goal_state`` ``(S,)`` (None: in ``problem``'s disc goal).

    ``states`` ``(T+1, S)`` and ``controls`` ``(T, C)``: a path from ``problem.start`` (the states
    must be the controls' re-simulation, as every planner's are); it warm-starts the optimiser at
    the same horizon T. Only the last ``params.window_steps`` steps change (all when 0; the window
    starts earlier at the first step that collides between its states). See the module docstring
    for the programme; the result is re-simulated and re-checked (:class:`TrajOptResult`).
    """
    params = params or TrajOptParams()
    t0 = time.perf_counter()
    robot = problem.robot
    why = casadi_support(robot)
    if why:
        return _fail(why, robot, t0)
    states, controls, why = _prepare(problem, states, controls)
    if why:
        return _fail(why, robot, t0)
    try:
        kind, tol = _goal_target(problem, goal_state, params)
    except TypeError as e:
        return _fail(str(e), robot, t0)
    if kind == "state":
        goal_state = np.asarray(goal_state if goal_state is not None else problem.goal_region.state, dtype=float)
        if goal_state.shape != (robot.state_dim,):
            return _fail(f"goal_state must have {robot.state_dim} entries, got {goal_state.shape}", robot, t0)
        goal = ("state", tol, goal_state)
    else:
        goal = ("disc", tol, problem.goal_region.center)
    obstacles = world_obstacles(problem.world)
    T = len(controls)
    start = 0
    if params.window_steps and T > params.window_steps:
        start = T - params.window_steps
        hit = _collision_steps(problem, states[: start + 1], params.substeps)
        if hit.any():
            start = int(np.flatnonzero(hit)[0])
    x_init = _unwrap(states[start:], robot.angle_indices)
    u_opt, status, iters = _solve(problem, x_init, controls[start:], goal, params, obstacles, params.time_budget_s)
    return _finish(problem, controls[:start], u_opt, goal, params, obstacles[2], t0, status, iters, 1)


def connect_to_goal(problem: Problem, states: np.ndarray, controls: np.ndarray,
                    params: TrajOptParams | None = None) -> TrajOptResult:
    """The goal connector: optimise a path that search ended near ``problem.goal_region`` (a
    :class:`~envs.goal.StateGoal`) to end within ``params.goal_tolerance`` of its goal state.

    A failure (``success=False``, a ``reason``, an empty path) when the goal is not a state goal,
    the robot has no casadi dynamics, or the optimiser finds no collision-free path that ends
    there (the caller then searches on). With ``params.free_final_time`` the connected path is also
    shortened (:func:`polish`) within what is left of ``params.polish_time_budget_s``.
    """
    params = params or TrajOptParams()
    t0 = time.perf_counter()
    if not isinstance(problem.goal_region, StateGoal):
        return _fail(f"connect_to_goal needs a full-state goal (StateGoal), got a {type(problem.goal_region).__name__}",
                     problem.robot, t0)
    res = optimize_path(problem, states, controls, problem.goal_region.state, params)
    if res.success and params.free_final_time:
        left = params.polish_time_budget_s - (time.perf_counter() - t0)
        if left > 0.05:
            short = polish(problem, res.states, res.controls, replace(params, polish_time_budget_s=left))
            if short.success:
                short.iterations += res.iterations
                short.solves += res.solves
                res = short
    res.time_s = time.perf_counter() - t0
    return res


def _resample(x: np.ndarray, u: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A path ``(T+1, S)``, ``(T, C)`` (angles unwrapped) stretched in time to ``steps`` controls."""
    T = len(u)
    s = np.linspace(0.0, T, steps + 1)
    xr = np.stack([np.interp(s, np.arange(T + 1), x[:, i]) for i in range(x.shape[1])], axis=1)
    su = (np.arange(steps) + 0.5) * T / steps
    ur = np.stack([np.interp(su, np.arange(T) + 0.5, u[:, i]) for i in range(u.shape[1])], axis=1)
    return xr, ur


def polish(problem: Problem, states: np.ndarray, controls: np.ndarray,
           params: TrajOptParams | None = None) -> TrajOptResult:
    """Shorten a path that reaches the goal: the final time made free by trying shorter horizons.

    dynobench fixes ``dt``, so a shorter path has fewer steps: bisection over the horizon between
    a straight-line lower bound (and at least half the current one) and the path's own, each
    candidate warm-started from the shortest feasible path so far stretched in time
    (:func:`_resample`), the whole path optimised to end at the goal state (a state goal, within
    ``params.goal_tolerance``) or in the goal disc. Stops after ``params.polish_max_solves`` solves
    or ``params.polish_time_budget_s``. Success: a strictly shorter path, re-simulated and
    re-checked; otherwise a failure with the reason (the caller keeps its incumbent).
    """
    params = params or TrajOptParams()
    t0 = time.perf_counter()
    robot = problem.robot
    why = casadi_support(robot)
    if why:
        return _fail(why, robot, t0)
    states, controls, why = _prepare(problem, states, controls)
    if why:
        return _fail(why, robot, t0)
    try:
        kind, tol = _goal_target(problem, None, params)
    except TypeError as e:
        return _fail(str(e), robot, t0)
    goal = ("state", tol, problem.goal_region.state) if kind == "state" else ("disc", tol, problem.goal_region.center)
    obstacles = world_obstacles(problem.world)
    T = len(controls)
    reach = max(0.0, float(np.linalg.norm(problem.goal_region.position - problem.start[:2])) - (
        0.0 if kind == "state" else tol))
    lo = max(1, math.ceil(reach / (robot.top_speed * robot.dt) - 1e-9), math.ceil(T / 2))
    hi = T
    best: TrajOptResult | None = None
    best_x, best_u = _unwrap(states, robot.angle_indices), controls
    iters = solves = 0
    status = ""
    deadline = t0 + params.polish_time_budget_s
    while lo < hi and solves < params.polish_max_solves:
        left = deadline - time.perf_counter()
        if left < 0.05:
            break
        mid = (lo + hi) // 2
        x_init, u_init = _resample(best_x, best_u, mid)
        u_opt, status, it = _solve(problem, x_init, u_init, goal, params, obstacles, min(params.time_budget_s, left))
        iters += it
        solves += 1
        res = _finish(problem, np.zeros((0, robot.control_dim)), u_opt, goal, params, obstacles[2], t0, status, iters,
                      solves)
        if res.success:
            best, hi = res, mid
            best_x, best_u = _unwrap(res.states, robot.angle_indices), res.controls
        else:
            lo = mid + 1
    if best is None:
        return _fail(f"no shorter feasible horizon found ({solves} solves, horizons {math.ceil(T / 2)}..{T - 1}; "
                     f"last IPOPT status {status or 'none'})", robot, t0, status, iters, solves)
    best.iterations, best.solves, best.time_s = iters, solves, time.perf_counter() - t0
    return best
