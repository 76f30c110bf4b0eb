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
  most half the tolerance (in :func:`polish`: the shortened window's end state, exactly);
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
  per body, obstacle and time, and switch non-smoothly between axes). A disc is constrained by
  its :attr:`TrajOptParams.obstacles_per_disc` nearest obstacles (at its warm-start position)
  within :attr:`TrajOptParams.obstacle_radius`; the exact re-check below catches a path that
  strays into one left out;
- objective: stay near the warm start's positions (a small step from a path search already found)
  plus a small control effort.

Building the programme (IPOPT's exact Hessian, derived symbolically) costs several solves, so it
is built once per robot, horizon and parameters and cached: the warm start and the obstacles
enter as parameters of the programme, so that one build serves every path and every world.

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

from envs.collision import colliding_steps, make_checker
from envs.goal import StateGoal, state_distance
from envs.problem import Problem

__all__ = ["TrajOptParams", "TrajOptResult", "clearance", "connect_to_goal", "optimize_path", "polish", "world_obstacles"]


@dataclass(frozen=True)
class TrajOptParams:
    """Parameters of the trajectory optimiser (lengths in metres, times in seconds).

    ``goal_tolerance``: success needs the re-simulated last state within this of the goal state
    (the robot's metric; the problem's own tolerance if smaller); the optimiser aims at half of it.
    ``collision_margin``: clearance of the covering discs beyond their radius. ``substeps``:
    states interpolated between consecutive stored states, constrained and checked (>= 4).
    ``disc_overhang``: how far the covering discs may stick out of a body's long sides (fewer
    discs when larger). ``obstacles_per_disc``, ``obstacle_radius``: a disc is constrained by at
    most this many obstacles, the nearest to its warm-start position among those within this
    distance of it. ``window_steps``: :func:`connect_to_goal` re-optimises
    only the last this many steps of a longer path (0 = the whole path; the window starts earlier
    when an earlier step collides between its states); :func:`polish` shortens windows of this
    many steps one by one. ``retry``, ``retry_window_steps``, ``retry_extra_steps``: when the
    first connection fails, :func:`connect_to_goal` tries once more re-optimising this many last
    steps stretched in time to this many more (more room to manoeuvre; the path gets longer by
    ``retry_extra_steps * dt``). ``free_final_time``: :func:`connect_to_goal`
    also shortens its result (:func:`polish`, within the time left). ``max_iterations``,
    ``ipopt_tol``: IPOPT's ``max_iter`` and ``tol``. ``time_budget_s``: IPOPT's ``max_cpu_time``
    per solve. ``polish_time_budget_s``, ``polish_max_solves``: the budget of one :func:`polish`
    (no solve starts once either is spent); ``polish_ratio``: the fraction of its steps a window
    is shortened to. ``track_weight``, ``control_weight``: objective weights
    of the squared distance to the warm start's positions and of the squared normalised controls
    (both averaged over the steps).
    """

    goal_tolerance: float = 0.01
    collision_margin: float = 0.01
    substeps: int = 4
    disc_overhang: float = 0.03
    obstacle_radius: float = 0.5
    obstacles_per_disc: int = 2
    window_steps: int = 40
    retry: bool = True
    retry_window_steps: int = 80
    retry_extra_steps: int = 20
    free_final_time: bool = False
    max_iterations: int = 300
    ipopt_tol: float = 1e-6
    time_budget_s: float = 1.0
    polish_time_budget_s: float = 3.0
    polish_max_solves: int = 8
    polish_ratio: float = 0.7
    track_weight: float = 1.0
    control_weight: float = 0.01

    def __post_init__(self) -> None:
        if not (isinstance(self.polish_ratio, float) and 0 < self.polish_ratio < 1):
            raise ValueError(f"TrajOptParams.polish_ratio must lie in (0, 1), got {self.polish_ratio!r}")
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
        zero_ok = ("window_steps", "retry_window_steps", "retry_extra_steps")
        for name in ("window_steps", "retry_window_steps", "retry_extra_steps", "max_iterations", "polish_max_solves",
                     "obstacles_per_disc"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= int(name not in zero_ok)):
                raise ValueError(f"TrajOptParams.{name} must be an integer >= {int(name not in zero_ok)}, "
                                 f"got {v!r}")


@dataclass
class TrajOptResult:
    """The outcome of an optimisation.

    ``states`` ``(T+1, S)`` (angles wrapped) and ``controls`` ``(T, C)``: the optimised path
    re-simulated with ``robot.rollout`` from the problem's start; empty ``(0, S)``, ``(0, C)`` on
    failure. ``goal_distance``: its last state's distance to the goal state (the robot's metric;
    NaN without a path). ``status``: IPOPT's return status of the last
    solve. ``reason``: why it failed ("" on success). ``time_s``: wall time of the whole call,
    building and checking included. ``iterations``: IPOPT iterations over all solves; ``solves``:
    number of IPOPT solves. ``extra``: details (:func:`optimize_path`: ``window_start``, the first
    step it changed, and ``extra_steps``).
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


def _collision_steps(problem: Problem, states: np.ndarray, substeps: int, checker: Any = None) -> np.ndarray:
    """``(T,)`` bool: step k collides at its end state or between its states (exact checker)."""
    checker = checker if checker is not None else make_checker(problem.world, problem.robot.bodies)
    return colliding_steps(problem.robot, checker, states, substeps)


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


# ---------------------------------------------------------------------------------------------- the NLP


def clearance(points: Any, obstacles: Any) -> Any:
    """Signed distance (m) of points ``(2, n)`` to obstacles ``(5, n)`` = (centre x, centre y,
    half size x, half size y, extra radius), column by column -> ``(1, n)``: the distance to the
    axis-aligned box grown by the extra radius (a circle: half sizes 0, radius extra), negative
    inside. Casadi expressions (symbols or numbers); smooth outside the obstacle (module docstring)."""
    import casadi as ca

    q = ca.fabs(points - obstacles[:2, :]) - obstacles[2:4, :]
    qx, qy = q[0, :], q[1, :]
    return ca.sqrt(ca.fmax(qx, 0) ** 2 + ca.fmax(qy, 0) ** 2 + 1e-12) + ca.fmin(ca.fmax(qx, qy), 0) - obstacles[4, :]


@dataclass(frozen=True)
class _Programme:
    """A built IPOPT solver for one robot, horizon and set of parameters (see :func:`_programme`)."""

    solver: Any
    disc_fn: Any
    radii: np.ndarray
    """``(D,)`` covering-disc radii (m) of all bodies."""
    fracs: np.ndarray
    """Fractions of each step at which the discs are constrained (the last is 1: the stored state)."""
    T: int


_PROGRAMMES: dict[tuple, _Programme] = {}
"""Built solvers by (robot, horizon, parameters), least recently used first: building one costs far
more than a solve. A built solver's memory grows with its horizon (hundreds of MB at 100 steps for
a two-body robot), so the cache holds at most :data:`_CACHE_STEPS` horizon steps in all."""
_CACHE_STEPS = 600


def _programme(robot: Any, T: int, params: TrajOptParams) -> _Programme:
    """The NLP of horizon ``T`` for ``robot``, built once and cached (module docstring).

    Parameters (``p``) of the built solver, so that one build serves every path and world of that
    horizon: the warm start's positions ``(2, T+1)`` (tracked), per disc point the
    ``obstacles_per_disc`` nearest obstacles ``(5, npts * D * K)`` = (centre x, centre y, half x,
    half y, extra radius), unused slots far away.
    """
    key = (type(robot).__name__, getattr(robot, "name", ""), repr(getattr(robot, "params", None)), T,
           params.substeps, params.disc_overhang, params.collision_margin, params.obstacles_per_disc,
           params.track_weight, params.control_weight, params.max_iterations, params.ipopt_tol,
           params.time_budget_s)
    if key in _PROGRAMMES:
        _PROGRAMMES[key] = _PROGRAMMES.pop(key)  # most recently used last
        return _PROGRAMMES[key]
    import casadi as ca

    S, C, K = robot.state_dim, robot.control_dim, params.obstacles_per_disc
    X = ca.SX.sym("X", S, T + 1)
    U = ca.SX.sym("U", C, T)
    xs, us = ca.SX.sym("x", S), ca.SX.sym("u", C)
    step = ca.Function("step", [xs, us], [robot.casadi_step(xs, us)])
    dyn = X[:, 1:] - step.map(T)(X[:, :-1], U)

    offsets, radii = _disc_cover(robot, params.disc_overhang)
    centres = []
    for (px, py, pyaw), off in zip(_footprint_poses_sym(robot, xs), offsets, strict=True):
        for o in off:
            centres.append(ca.vertcat(px + o * ca.cos(pyaw), py + o * ca.sin(pyaw)))
    disc_fn = ca.Function("discs", [xs], [ca.horzcat(*centres)])  # (2, D)
    fracs = np.append(np.arange(1, params.substeps + 1) / (params.substeps + 1), 1.0)
    P = ca.horzcat(*[X[:, :-1] * (1 - a) + X[:, 1:] * a for a in fracs])  # (S, npts), fraction-major
    npts = P.shape[1]
    discs = disc_fn.map(npts)(P)  # (2, npts * D), point-major
    n = npts * len(radii) * K
    ref = ca.SX.sym("ref", 2, T + 1)
    obs = ca.SX.sym("obs", 5, n)
    c = ca.repmat(discs, K, 1).reshape((2, n))  # every disc K times, consecutively
    sd = clearance(c, obs)
    need = np.repeat(np.tile(radii, npts), K) + params.collision_margin
    g_coll = sd.T - ca.DM(need)

    lo, hi = np.asarray(robot.control_low, dtype=float), np.asarray(robot.control_high, dtype=float)
    mid, half = ca.DM(np.tile(0.5 * (lo + hi), (T, 1)).T), ca.DM(np.tile(0.5 * (hi - lo), (T, 1)).T)
    J = params.track_weight * ca.sumsqr(X[:2, 1:] - ref[:, 1:]) / T + params.control_weight * ca.sumsqr((U - mid) / half) / T
    nlp = {"x": ca.vertcat(ca.vec(X), ca.vec(U)), "p": ca.vertcat(ca.vec(ref), ca.vec(obs)), "f": J,
           "g": ca.vertcat(ca.vec(dyn), g_coll)}
    opts = {"print_time": 0, "ipopt.print_level": 0, "ipopt.sb": "yes", "ipopt.max_iter": params.max_iterations,
            "ipopt.tol": params.ipopt_tol, "ipopt.constr_viol_tol": 1e-7, "ipopt.max_cpu_time": params.time_budget_s}
    prog = _Programme(ca.nlpsol("trajopt", "ipopt", nlp, opts), disc_fn, radii, fracs, T)
    while _PROGRAMMES and (len(_PROGRAMMES) >= 32 or sum(p.T for p in _PROGRAMMES.values()) + T > _CACHE_STEPS):
        _PROGRAMMES.pop(next(iter(_PROGRAMMES)))
    _PROGRAMMES[key] = prog
    return prog


def _obstacle_table(prog: _Programme, x_init: np.ndarray, obstacles: tuple, params: TrajOptParams) -> np.ndarray:
    """Per disc point of the warm start, its ``K`` nearest obstacles within ``obstacle_radius`` of
    the disc (``(5, npts * D * K)``, the layout of :func:`_programme`'s ``obs``); unused slots far away."""
    boxes, circles, _ = obstacles
    table = np.concatenate([
        np.column_stack([boxes[:, :2], 0.5 * boxes[:, 2:], np.zeros(len(boxes))]),
        np.column_stack([circles[:, :2], np.zeros((len(circles), 2)), circles[:, 2]]),
    ]) if len(circles) else np.column_stack([boxes[:, :2], 0.5 * boxes[:, 2:], np.zeros(len(boxes))])
    P = np.hstack([x_init[:-1].T * (1 - a) + x_init[1:].T * a for a in prog.fracs])
    D, K = len(prog.radii), params.obstacles_per_disc
    centres = np.asarray(prog.disc_fn.map(P.shape[1])(P)).T  # (npts * D, 2)
    far = np.tile([1e4, 1e4, 0.0, 0.0, 0.0], (len(centres), K, 1))
    if len(table):
        q = np.abs(centres[:, None, :] - table[None, :, :2]) - table[None, :, 2:4]
        sd = np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0) - table[None, :, 4]
        sd = sd - np.tile(prog.radii, len(centres) // D)[:, None]
        k = min(K, len(table))
        nearest = np.argsort(sd, axis=1)[:, :k]
        near_sd = np.take_along_axis(sd, nearest, axis=1)
        use = near_sd < params.collision_margin + params.obstacle_radius
        far[:, :k][use] = table[nearest[use]]
    return far.reshape(-1, 5).T


def _goal_box(robot: Any, goal_state: np.ndarray, tol: float, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds ``(S,)``, ``(S,)`` on the last (unwrapped) state that keep its weighted distance to
    ``goal_state`` within half of ``tol``: one equal share per weighted term; each angle's goal at
    its 2 pi representative nearest the warm start's unwrapped end ``end``; unweighted components free."""
    g = np.array(goal_state, dtype=float)
    for i in robot.angle_indices:
        g[i] += 2 * math.pi * round((end[i] - g[i]) / (2 * math.pi))
    w = np.asarray(robot.distance_weights, dtype=float)
    others = np.flatnonzero(w[1:]) + 2
    share = 0.5 * tol / (1 + len(others))
    lb, ub = np.full(len(g), -np.inf), np.full(len(g), np.inf)
    dp = share / (w[0] * math.sqrt(2))
    lb[:2], ub[:2] = g[:2] - dp, g[:2] + dp
    for i in others:
        lb[i], ub[i] = g[i] - share / w[i - 1], g[i] + share / w[i - 1]
    return lb, ub


def _solve(problem: Problem, x_init: np.ndarray, u_init: np.ndarray, end: tuple[np.ndarray, np.ndarray],
           params: TrajOptParams, obstacles: tuple) -> tuple[np.ndarray, str, int]:
    """One IPOPT solve from the warm start ``x_init`` ``(T+1, S)`` (angles unwrapped; ``x_init[0]``
    fixed), ``u_init`` ``(T, C)``, the last state within the bounds ``end`` = (lower ``(S,)``,
    upper ``(S,)``) -> (controls ``(T, C)`` found, clipped to the bounds; IPOPT status; iterations)."""
    robot = problem.robot
    S = robot.state_dim
    T = len(u_init)
    prog = _programme(robot, T, params)
    bounds = obstacles[2]
    lbX = np.full((S, T + 1), -np.inf)
    ubX = np.full((S, T + 1), np.inf)
    lbX[0, 1:], ubX[0, 1:] = bounds[0], bounds[2]
    lbX[1, 1:], ubX[1, 1:] = bounds[1], bounds[3]
    s_lo, s_hi = getattr(robot, "state_low", None), getattr(robot, "state_high", None)
    if s_lo is not None and s_hi is not None:  # state bounds (unicycle2_v0's speeds) hold at every state
        lbX[:, 1:] = np.maximum(lbX[:, 1:], np.asarray(s_lo, dtype=float)[:, None])
        ubX[:, 1:] = np.minimum(ubX[:, 1:], np.asarray(s_hi, dtype=float)[:, None])
    lbX[:, T] = np.maximum(lbX[:, T], end[0])
    ubX[:, T] = np.minimum(ubX[:, T], end[1])
    lbX[:, 0] = ubX[:, 0] = x_init[0]
    lo, hi = np.asarray(robot.control_low, dtype=float), np.asarray(robot.control_high, dtype=float)
    lbw = np.concatenate([lbX.ravel(order="F"), np.tile(lo, T)])
    ubw = np.concatenate([ubX.ravel(order="F"), np.tile(hi, T)])
    w0 = np.clip(np.concatenate([x_init.ravel(), np.clip(u_init, lo, hi).ravel()]), lbw, ubw)
    p = np.concatenate([x_init[:, :2].ravel(), _obstacle_table(prog, x_init, obstacles, params).ravel(order="F")])
    n_dyn = S * T
    n_coll = prog.solver.size_out("g")[0] - n_dyn
    lbg = np.zeros(n_dyn + n_coll)
    ubg = np.concatenate([np.zeros(n_dyn), np.full(n_coll, np.inf)])
    sol = prog.solver(x0=w0, p=p, lbx=lbw, ubx=ubw, lbg=lbg, ubg=ubg)
    stats = prog.solver.stats()
    controls = np.asarray(sol["x"]).ravel()[S * (T + 1):].reshape(T, robot.control_dim)
    return np.clip(controls, lo, hi), str(stats.get("return_status", "")), int(stats.get("iter_count", 0))


# ---------------------------------------------------------------------------------------------- public


def _prepare(problem: Problem, states: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """The given path re-simulated from the start -> (states, controls, "" or why it is unusable)."""
    robot = problem.robot
    why = casadi_support(robot)
    if why:
        return states, controls, why
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


def _finish(problem: Problem, controls: np.ndarray, goal_state: np.ndarray, tol: float, params: TrajOptParams,
            bounds: tuple, t0: float, status: str, iterations: int, solves: int) -> TrajOptResult:
    """Re-simulate ``controls`` ``(T, C)`` from the start and check them exactly: the last state
    within ``tol`` of ``goal_state`` (robot metric), no collision at or between states, in bounds."""
    robot = problem.robot
    u = np.clip(controls, robot.control_low, robot.control_high)
    states = robot.rollout(problem.start[None], u[None])[0]
    if not np.isfinite(states).all():
        return _fail(f"IPOPT ({status}) returned non-finite controls", robot, t0, status, iterations, solves)
    d = float(state_distance(robot, states[-1], goal_state))
    if not d <= tol:
        return _fail(f"IPOPT ({status}) ended {d:.4f} from the goal state (tolerance {tol:g})", robot, t0, status,
                     iterations, solves)
    why = _check_path(problem, states, params.substeps, bounds)
    if why:
        return _fail(f"{why} (IPOPT: {status})", robot, t0, status, iterations, solves)
    return TrajOptResult(True, states, u, d, status, "", time.perf_counter() - t0, iterations, solves)


def optimize_path(problem: Problem, states: np.ndarray, controls: np.ndarray, goal_state: np.ndarray,
                  params: TrajOptParams | None = None, extra_steps: int = 0) -> TrajOptResult:
    """Optimise a path's controls to end within ``params.goal_tolerance`` of ``goal_state`` ``(S,)``.

    ``states`` ``(T+1, S)`` and ``controls`` ``(T, C)``: a path from ``problem.start`` (the states
    must be the controls' re-simulation, as every planner's are); it warm-starts the optimiser at
    the same horizon T, or ``extra_steps`` more (the window stretched in time). Only the last
    ``params.window_steps`` steps change (all when 0; the window starts earlier at the first step
    that collides between its states). See the module docstring
    for the programme; the result is re-simulated and re-checked (:class:`TrajOptResult`).
    """
    params = params or TrajOptParams()
    t0 = time.perf_counter()
    robot = problem.robot
    states, controls, why = _prepare(problem, states, controls)
    if why:
        return _fail(why, robot, t0)
    goal_state = np.asarray(goal_state, dtype=float).reshape(-1)
    if goal_state.shape != (robot.state_dim,):
        return _fail(f"goal_state must have the {robot.name}'s {robot.state_dim} entries, got {goal_state.shape}",
                     robot, t0)
    tol = params.goal_tolerance
    obstacles = world_obstacles(problem.world)
    T = len(controls)
    start = 0
    if params.window_steps and T > params.window_steps:
        start = T - params.window_steps
        hit = _collision_steps(problem, states[: start + 1], params.substeps)
        if hit.any():
            start = int(np.flatnonzero(hit)[0])
    x_init, u_init = _unwrap(states[start:], robot.angle_indices), controls[start:]
    if extra_steps > 0:
        x_init, u_init = _resample(x_init, u_init, len(u_init) + int(extra_steps))
    end = _goal_box(robot, goal_state, tol, x_init[-1])
    u_opt, status, iters = _solve(problem, x_init, u_init, end, params, obstacles)
    u = np.concatenate([controls[:start], u_opt])
    res = _finish(problem, u, goal_state, tol, params, obstacles[2], t0, status, iters, 1)
    res.extra.update(window_start=start, extra_steps=int(extra_steps))
    return res


def connect_to_goal(problem: Problem, states: np.ndarray, controls: np.ndarray,
                    params: TrajOptParams | None = None) -> TrajOptResult:
    """The goal connector: optimise a path that search ended near ``problem.goal_region`` (a
    :class:`~envs.goal.StateGoal`) to end within ``params.goal_tolerance`` of its goal state (the
    goal's own tolerance if smaller).

    A failure (``success=False``, a ``reason``, an empty path) when the goal is not a state goal,
    the robot has no casadi dynamics, or the optimiser finds no collision-free path that ends
    there, also on the retry (``params.retry``; the caller then searches on). With ``params.free_final_time`` the connected path is also
    shortened (:func:`polish`) within what is left of ``params.polish_time_budget_s``.
    """
    params = params or TrajOptParams()
    t0 = time.perf_counter()
    region = problem.goal_region
    if not isinstance(region, StateGoal):
        return _fail(f"connect_to_goal needs a full-state goal (StateGoal), got a {type(region).__name__}",
                     problem.robot, t0)
    if region.tolerance < params.goal_tolerance:
        params = replace(params, goal_tolerance=region.tolerance)
    res = optimize_path(problem, states, controls, region.state, params)
    if not res.success and res.solves and params.retry:
        again = optimize_path(problem, states, controls, region.state,
                              replace(params, window_steps=params.retry_window_steps), params.retry_extra_steps)
        again.iterations += res.iterations
        again.solves += res.solves
        if not again.success:
            again.reason = f"{res.reason}; retried with {params.retry_window_steps} steps + {params.retry_extra_steps}: " \
                           f"{again.reason}"
        res = again
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
    """Shorten a path, keeping where it ends: the final time made free by trying shorter horizons.

    dynobench fixes ``dt``, so a shorter path has fewer steps. The path is cut into consecutive
    windows of ``params.window_steps`` steps (the whole path when 0); each window in turn gets one
    try to be replaced by ``params.polish_ratio`` of its steps (at least a straight-line lower
    bound) joining the same two states exactly, warm-started from the window stretched in time
    (:func:`_resample`); the rest of the path is replayed unchanged after it and the whole
    re-simulated path re-checked. The last state stays in the goal region if it was in it, and
    within ``params.goal_tolerance`` of a goal state (or no more than 1e-4 farther than it was);
    without a state goal, within 1e-4 of the path's own last state. Stops after ``params.polish_max_solves``
    solves or once ``params.polish_time_budget_s`` is spent (checked between solves; one solve may
    run ``params.time_budget_s`` past it). Call it again on its result to shorten further.
    Success: a strictly shorter path; otherwise a failure with the reason (the caller keeps its
    incumbent).
    """
    params = params or TrajOptParams()
    t0 = time.perf_counter()
    robot = problem.robot
    states, controls, why = _prepare(problem, states, controls)
    if why:
        return _fail(why, robot, t0)
    region = problem.goal_region
    goal_state = region.state if isinstance(region, StateGoal) else states[-1]
    tol = float(state_distance(robot, states[-1], goal_state)) + 1e-4
    if isinstance(region, StateGoal):
        tol = max(tol, params.goal_tolerance)
    reached = bool(region.reached(states[-1]))
    obstacles = world_obstacles(problem.world)
    T0 = len(controls)
    W = params.window_steps or T0
    best: TrajOptResult | None = None
    cur_x, cur_u = _unwrap(states, robot.angle_indices), controls
    iters = solves = 0
    status = ""
    deadline = t0 + params.polish_time_budget_s
    k0 = 0
    while k0 < len(cur_u) and solves < params.polish_max_solves and time.perf_counter() < deadline - 0.02:
        n = min(W, len(cur_u) - k0)
        seg_x, seg_u = cur_x[k0:k0 + n + 1], cur_u[k0:k0 + n]
        gap = float(np.linalg.norm(seg_x[-1, :2] - seg_x[0, :2]))
        steps = max(1, math.ceil(gap / (robot.top_speed * robot.dt) - 1e-9), math.ceil(params.polish_ratio * n))
        if steps < n:
            x_init, u_init = _resample(seg_x, seg_u, steps)
            u_opt, status, it = _solve(problem, x_init, u_init, (seg_x[-1], seg_x[-1]), params, obstacles)
            iters += it
            solves += 1
            u_all = np.concatenate([cur_u[:k0], u_opt, cur_u[k0 + n:]])
            res = _finish(problem, u_all, goal_state, tol, params, obstacles[2], t0, status, iters, solves)
            if res.success and (region.reached(res.states[-1]) or not reached):
                best, n = res, steps
                cur_x, cur_u = _unwrap(res.states, robot.angle_indices), res.controls
        k0 += n
    if best is None:
        return _fail(f"no shorter feasible path found ({solves} solves; last IPOPT status {status or 'none'})", robot, t0,
                     status, iters, solves)
    best.iterations, best.solves, best.time_s = iters, solves, time.perf_counter() - t0
    return best
