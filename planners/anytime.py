"""Anytime kinodynamic search: keep improving the path (time to reach the goal) until the time limit.

Built on the batched, chunked, checked extension of :mod:`planners.rrt` and the exact-edge
:class:`~planners.tree.Tree` (node cost = time from the root, s). :class:`AnytimeRRT` runs in two
phases:

1. **First solution**: the kinodynamic RRT (nearest parent in xy, DGB targets; a share
   ``p_geodesic_first`` of rows are long dives aimed down the grid geodesic) until an extension
   enters the goal region; the cheapest such node is the *incumbent*.
2. **Improvement** (until the time limit, or ``max_iterations``), per iteration one batch of rows:

   - *tree rows*: an xy sample drawn from the **informed set** (cells from which a path through the
     cell could still beat the incumbent, by the lower bounds of :class:`CostToGo`), the parent
     chosen by **best-near selection** (the active node with the lowest cost-to-come within
     ``delta_bn`` m, as in SST/AO-RRT), the sampler aimed at the goal, at the sample, or along the
     grid geodesic to the goal;
   - *shortcut rows*: from a node of the incumbent's path, a long closed-loop rollout that **pursues
     the incumbent's later waypoints** (or the grid geodesic) with a random lookahead, for at most
     the time that could still beat the incumbent. A shortcut is accepted only by reaching the
     GOAL disc earlier than the incumbent; it is then a new tree branch (the rollout split into
     nodes) whose every step was checked like any other extension.

   - *random iterations* (``random_iters`` per aimed iteration): the same best-near growth with
     random piecewise-constant controls, cheap local refinement as in SST.

   Every new node whose cost-to-come plus a cost-to-go lower bound cannot beat the incumbent is
   never added, and after each improvement all such nodes are deactivated (they are no longer
   selected as parents): the pruning of SST and AO-RRT, with time as the cost. Rows that collide
keep their collision-free part (back to ``backoff_steps`` before the chunk boundary preceding the
collision) as nodes.

The incumbent is always a tree path (goal node), so the returned path is exactly the tree's edges
re-played from the root; it goes through ``planners.validate`` like every result.
``result.extra["cost_history"]`` = ``[[t_s, duration_s], ...]``: the first solution and every
improvement (strictly decreasing; the last entry is the returned path's duration), as SST records
it; ``first_time_s`` and ``first_duration_s``.

Targets matter only to target-aware samplers (the learned policy); with
:class:`~planners.samplers.UniformControlSampler` the rows still differ in parent choice, length
and pruning. The aiming happens per chunk (:class:`AimedSampler`), so a rollout re-aims as it
drives, which is what lets a policy with a 4 m local view follow a path across a maze.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from envs.collision import make_checker
from envs.lower_bound import grid_distances
from envs.problem import Problem
from envs.registry import robot_spec
from planners.base import Profiler, check_search_params
from planners.nearest import LogKDTree
from planners.results import PlanResult, empty_path
from planners.rrt import extend, sample_targets, tree_result_edges
from planners.samplers import ControlSampler, SamplerContext
from planners.tree import Tree

GRID_STRETCH = 1.0 / math.cos(math.pi / 8)
"""Largest ratio of an 8-connected grid path to the straight segment it approximates (~1.082)."""

_MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)])

# row modes of AimedSampler
AIM_FIXED, AIM_GEODESIC, AIM_INCUMBENT = 0, 1, 2


# ---------------------------------------------------------------------- lower bounds
class CostToGo:
    """Admissible time bounds (s) from the grid geodesic fields of the start and goal cells.

    ``to_goal(xy)``: no path from a point ``xy`` ``(N, 2)`` reaches the goal region sooner than
    ``max(|xy - goal| - r, d_goal(cell) / GRID_STRETCH - s / sqrt(2) - r, 0) / top_speed``, where
    ``r`` is ``problem.goal_radius`` (every goal state lies within it of the goal position, for a
    state goal too), 
    ``d_goal`` is the 8-connected geodesic (no corner cutting, which the car's footprint cannot do
    either) from the point's cell centre to the goal cell centre, ``s / sqrt(2)`` the farthest a
    point lies from its cell centre, and ``top_speed`` the car's terminal speed. ``kind="euclid"``
    uses the straight-line term only. The geodesic runs through cell centres, but the car may hug
    walls: in a winding corridor a real path can be much shorter (docs/benchmarks.md,
    'ditree-star'), so the grid term is further multiplied by ``scale`` (0.75). A bound that were
    still too high somewhere would cost optimality, never validity (every path is checked step by
    step).

    ``next_cell``: for each cell, its downhill neighbour towards the goal (the goal cell maps to
    itself): :meth:`downhill` follows it to give targets along the geodesic.
    """

    def __init__(self, problem: Problem, kind: str = "geodesic", scale: float = 0.75) -> None:
        if kind not in ("geodesic", "euclid"):
            raise ValueError(f"CostToGo kind must be 'geodesic' or 'euclid', got {kind!r}")
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"CostToGo scale must lie in (0, 1], got {scale}")
        self.kind = kind
        self.scale = float(scale)
        self.problem = problem
        world = problem.world
        top = problem.robot.top_speed
        if not top or not top > 0:
            raise ValueError(f"robot {problem.robot!r} has no positive top_speed")
        self.top_speed = float(top)
        self.slack = world.cell_size / math.sqrt(2.0)
        self.d_goal = grid_distances(world, problem.goal_cell)  # (H, W) m
        self.d_start = grid_distances(world, problem.start_cell)
        self.next_cell = self._downhill_table(world.grid, self.d_goal, problem.goal_cell)

    @staticmethod
    def _downhill_table(grid: np.ndarray, dist: np.ndarray, goal: tuple[int, int]) -> np.ndarray:
        """``(H, W, 2)`` neighbour with the smallest geodesic, no corner cutting; self where none."""
        H, W = grid.shape
        rr, cc = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
        best = dist.copy()
        nxt = np.stack([rr, cc], axis=-1)
        pad = np.pad(dist, 1, constant_values=np.inf)
        wall = np.pad(grid.astype(bool), 1, constant_values=True)
        for dr, dc in _MOVES:
            d = pad[1 + dr : 1 + dr + H, 1 + dc : 1 + dc + W]
            if dr and dc:  # a diagonal step needs both orthogonal neighbours free
                blocked = wall[1 + dr : 1 + dr + H, 1 : 1 + W] | wall[1 : 1 + H, 1 + dc : 1 + dc + W]
                d = np.where(blocked, np.inf, d)
            better = d < best
            best = np.where(better, d, best)
            nxt[better] = np.stack([rr + dr, cc + dc], axis=-1)[better]
        nxt[goal] = goal
        return nxt

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rc = self.problem.world.xy_to_cell(xy)
        H, W = self.d_goal.shape
        return np.clip(rc[..., 0], 0, H - 1), np.clip(rc[..., 1], 0, W - 1)

    def to_goal(self, xy: np.ndarray) -> np.ndarray:
        """Lower bound (s) on the time from positions ``xy`` ``(N, 2)`` to the goal region ``(N,)``."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        r = self.problem.goal_radius
        h = np.linalg.norm(xy - self.problem.goal, axis=1) - r
        if self.kind == "geodesic":
            row, col = self._cells(xy)
            g = self.d_goal[row, col]
            g = np.where(np.isfinite(g), self.scale * g / GRID_STRETCH - self.slack - r, np.inf)
            h = np.maximum(h, g)
        return np.maximum(h, 0.0) / self.top_speed

    def informed_cells(self, bound_s: float) -> np.ndarray:
        """Free cells ``(K, 2)`` through which a path could still be faster than ``bound_s``."""
        lb_s = np.maximum(self.scale * self.d_start / GRID_STRETCH - self.slack, 0.0)
        lb_g = np.maximum(self.scale * self.d_goal / GRID_STRETCH - self.slack - self.problem.goal_radius, 0.0)
        if self.kind == "euclid":  # straight lines from the cell's nearest point
            rc = self.problem.world.free_cells()
            xy = self.problem.world.cell_to_xy(rc[:, 0], rc[:, 1])
            lb = (np.maximum(np.linalg.norm(xy - self.problem.start[:2], axis=1) - self.slack, 0)
                  + np.maximum(np.linalg.norm(xy - self.problem.goal, axis=1) - self.slack - self.problem.goal_radius, 0))
            return rc[lb / self.top_speed < bound_s]
        ok = np.isfinite(lb_s) & np.isfinite(lb_g) & ((lb_s + lb_g) / self.top_speed < bound_s)
        return np.argwhere(ok)

    def downhill(self, xy: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Targets ``(N, 2)``: the centre of the cell ``steps[i]`` moves down the geodesic from each
        point's cell; the goal itself once that reaches the goal cell."""
        row, col = self._cells(np.asarray(xy, dtype=float).reshape(-1, 2))
        steps = np.asarray(steps, dtype=np.int64)
        for k in range(int(steps.max(initial=0))):
            go = k < steps
            nr = self.next_cell[row, col, 0]
            nc = self.next_cell[row, col, 1]
            row, col = np.where(go, nr, row), np.where(go, nc, col)
        out = self.problem.world.cell_to_xy(row, col)
        at_goal = (row == self.problem.goal_cell[0]) & (col == self.problem.goal_cell[1])
        out[at_goal] = self.problem.goal
        return out


# ---------------------------------------------------------------------- incumbent
@dataclass
class Incumbent:
    """The best solution so far: its goal node, cost (s) and the improvement curve."""

    node: int = -1
    cost: float = math.inf
    history: list[list[float]] | None = None
    first_time_s: float | None = None
    first_cost: float | None = None
    nodes: list[int] | None = None
    """Every node that was the incumbent, in order (the tree keeps their paths)."""

    def offer(self, node: int, cost: float, t_s: float) -> bool:
        """Take ``node`` if it is cheaper (by more than 1e-9 s); returns whether it was taken."""
        if cost >= self.cost - 1e-9:
            return False
        if self.history is None:
            self.history = []
        if self.nodes is None:
            self.nodes = []
        if self.node < 0:
            self.first_time_s, self.first_cost = float(t_s), float(cost)
        self.node, self.cost = int(node), float(cost)
        self.history.append([float(t_s), float(cost)])
        self.nodes.append(int(node))
        return True

    @property
    def found(self) -> bool:
        return self.node >= 0


def path_nodes(tree: Tree, node: int) -> np.ndarray:
    """Node ids from the root to ``node`` ``(k,)``."""
    chain = []
    while node >= 0:
        chain.append(node)
        node = int(tree.parents[node])
    return np.array(chain[::-1], dtype=np.int64)


def prune_dominated(tree: Tree, ctg: CostToGo, bound_s: float, keep: np.ndarray | None = None) -> int:
    """Deactivate every active node whose cost-to-come plus cost-to-go is not below ``bound_s``
    (they can no longer lead to a better path); nodes in ``keep`` stay. Returns how many."""
    active = tree.active
    idx = np.flatnonzero(active)
    if not len(idx):
        return 0
    f = tree.costs[idx] + ctg.to_goal(tree.states[idx, :2])
    dead = idx[f >= bound_s - 1e-9]
    if keep is not None and len(dead):
        dead = dead[~np.isin(dead, keep)]
    active[dead] = False  # Tree.active is a view of the node flags
    return len(dead)


# ---------------------------------------------------------------------- aiming
class AimedSampler:
    """A :class:`~planners.samplers.ControlSampler` wrapper that re-aims each row before every chunk.

    Row modes (set per batch with :meth:`plan`): ``AIM_FIXED`` keeps the row's target;
    ``AIM_GEODESIC`` aims ``lookahead`` cells down the grid geodesic from the current position;
    ``AIM_INCUMBENT`` follows a reference path (the incumbent's positions): the row's progress
    moves to the nearest reference point ahead of it (within a window), and the target is the
    reference point ``lookahead`` metres of arc further on (the goal past the end). Extensions may
    be up to ``max_steps`` long (``n_chunks`` calls of the inner sampler's ``chunk_len``).

    ``aim_distance`` (m, 0 = off): targets of aimed rows (and goal targets) closer than this are
    moved out to this distance along the same direction. A policy trained to drive to a goal slows
    down as the goal gets near; a far target in the waypoint's direction keeps it at cruise speed
    (the goal region still ends the rollout the moment it is entered).
    """

    def __init__(self, inner: ControlSampler, max_steps: int, aim_distance: float = 0.0) -> None:
        self.inner = inner
        self.aim_distance = float(aim_distance)
        self.name = getattr(inner, "name", type(inner).__name__)
        self.chunk_len = int(inner.chunk_len)
        self.edge_steps = int(inner.chunk_len) * int(inner.n_chunks)
        self.n_chunks = max(int(inner.n_chunks), -(-int(max_steps) // self.chunk_len))
        self.ctg: CostToGo | None = None
        self._mode = np.zeros(0, dtype=np.int64)
        self._look = np.zeros(0)
        self._progress = np.zeros(0, dtype=np.int64)
        self._ref = np.zeros((0, 2))

    def setup(self, problem: Problem) -> None:
        self.inner.setup(problem)

    def sample_lengths(self, n: int, context: SamplerContext) -> np.ndarray:
        return self.inner.sample_lengths(n, context)

    def plan(self, mode: np.ndarray, lookahead: np.ndarray, progress: np.ndarray | None = None,
             reference: np.ndarray | None = None) -> None:
        """Set the next batch's row modes ``(B,)``, lookaheads ``(B,)`` (cells for geodesic rows, m
        for incumbent rows), progress ``(B,)`` (indices into ``reference``, where each incumbent
        row starts) and the reference path ``(T, 2)`` (m; resampled here every ``REF_SPACING`` m)."""
        self._mode = np.asarray(mode, dtype=np.int64)
        self._look = np.asarray(lookahead, dtype=float)
        B = len(self._mode)
        progress = np.zeros(B, np.int64) if progress is None else np.asarray(progress, np.int64)
        if reference is not None:
            ref = np.asarray(reference, dtype=float)
            arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(ref, axis=0), axis=1))]
            s = np.arange(0.0, arc[-1] + self.REF_SPACING, self.REF_SPACING)
            self._ref = np.stack([np.interp(s, arc, ref[:, 0]), np.interp(s, arc, ref[:, 1])], axis=1)
            self._progress = np.floor(arc[np.clip(progress, 0, len(ref) - 1)] / self.REF_SPACING).astype(np.int64)
        else:
            self._progress = progress.copy()

    REF_SPACING = 0.05
    """Resampling step of the reference path (m)."""
    WINDOW_M = 3.0
    """How far ahead of its progress a row looks for its nearest reference point (m)."""

    def targets(self, states: np.ndarray, targets: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Targets ``(n, 2)`` for rows ``rows`` at ``states`` ``(n, state_dim)`` (updates their progress)."""
        out = np.array(targets, dtype=float, copy=True)
        if not len(self._mode):
            return out
        mode = self._mode[rows]
        geo = mode == AIM_GEODESIC
        if geo.any():
            out[geo] = self.ctg.downhill(states[geo, :2], np.rint(self._look[rows[geo]]).astype(np.int64))
        inc = mode == AIM_INCUMBENT
        if inc.any() and len(self._ref):
            r = rows[inc]
            T = len(self._ref)
            W = int(np.ceil(self.WINDOW_M / self.REF_SPACING))
            window = np.minimum(self._progress[r, None] + np.arange(W)[None, :], T - 1)
            d = np.linalg.norm(self._ref[window] - states[inc, None, :2], axis=2)
            self._progress[r] = window[np.arange(len(r)), np.argmin(d, axis=1)]
            j = self._progress[r] + np.rint(self._look[r] / self.REF_SPACING).astype(np.int64)
            out[inc] = np.where((j >= T)[:, None], self.ctg.problem.goal, self._ref[np.minimum(j, T - 1)])
        if self.aim_distance > 0:  # push near targets out along their direction (see class docstring)
            far = (mode != AIM_FIXED) | np.all(out == self.ctg.problem.goal, axis=1)
            d = np.linalg.norm(out - states[:, :2], axis=1)
            push = far & (d < self.aim_distance) & (d > 1e-9)
            out[push] = states[push, :2] + (out[push] - states[push, :2]) * (self.aim_distance / d[push, None])
        return out

    def __call__(self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray,
                 context: SamplerContext) -> np.ndarray:
        rows = context.rows if context.rows is not None else np.arange(len(states))
        return self.inner(states, self.targets(states, targets, rows), prev_controls, context)


# ---------------------------------------------------------------------- planner
def pose_speed_features(pose: np.ndarray, speed: np.ndarray, w_yaw: float = 0.25, w_v: float = 0.1) -> np.ndarray:
    """SST's metric features ``(N, 5)`` = ``[x, y, w_yaw cos(yaw), w_yaw sin(yaw), w_v v]`` (m) of
    poses ``(N, 3)`` and planar speeds ``(N,)`` (m/s) (the weights of :class:`planners.sst.SSTParams`)."""
    return np.stack([pose[:, 0], pose[:, 1], w_yaw * np.cos(pose[:, 2]), w_yaw * np.sin(pose[:, 2]),
                     w_v * speed], axis=1)


def feature_weights(robot) -> tuple[float, float]:
    """``(w_yaw, w_v)`` of :func:`pose_speed_features` for ``robot``: its registered SST weights
    (``envs.registry.SearchDefaults``)."""
    d = robot_spec(robot.name).search
    return d.w_yaw, d.w_v


def state_features(states: np.ndarray, robot) -> np.ndarray:
    """:func:`pose_speed_features` of any robot's states ``(N, state_dim)``, with the robot's weights."""
    return pose_speed_features(robot.pose(states), robot.speed(states), *feature_weights(robot))


@dataclass(frozen=True)
class AnytimeParams:
    """Parameters of :class:`AnytimeRRT` (see the module docstring for the two phases).

    ``batch_size``, ``goal_bias``, ``target_goal_prob``: as in :class:`planners.rrt.RRTParams`.
    ``heuristic``: cost-to-go for pruning and informed sampling ("geodesic" or "euclid");
    ``heuristic_scale``: factor on its grid term (see :class:`CostToGo`).
    ``delta_bn``: best-near radius in xy (m); ``delta_bn_state``: best-near radius (m) in SST's
    state features (:func:`state_features`) for the random-control iterations (0 = use xy, the
    default: state features gave longer final paths, docs/benchmarks.md, 'ditree-star').
    ``informed``: draw improvement samples from the
    informed cells only. ``p_shortcut``: share of improvement rows that are shortcut attempts from
    the incumbent's nodes (half pursue the incumbent, half the geodesic). ``p_geodesic``: share of
    the other rows aimed along the grid geodesic for ``dive_steps`` steps (``p_geodesic_first``
    before the first solution: long guided dives find a first path in few iterations);
    ``initial_dive``: while the tree is only the root, every row is a geodesic dive of
    ``max_rollout_steps`` (a good policy often reaches the goal in this first batch).
    ``lookahead_cells_min/max`` (geodesic aiming, cells) and ``lookahead_m_min/max`` (incumbent
    pursuit, m): ranges of the aiming lookahead, drawn uniformly per row.
    ``random_iters``: after the first solution, this many iterations with uniformly random
    piecewise-constant controls (:class:`~planners.samplers.UniformControlSampler`: no aiming, no
    shortcuts; SST's Monte-Carlo propagation, many times cheaper than a policy iteration) per
    iteration with the given sampler (0 = never).
    ``max_rollout_steps``: longest shortcut rollout (steps of dt). ``backoff_steps``: a row that
    collides keeps its path only up to this many steps before the chunk boundary preceding the
    collision (so no node is left heading into a wall). ``aim_distance_m``: see
    :class:`AimedSampler` (0 = off). ``return_first``: stop at the first
    solution (then this is a plain RRT with aiming). ``max_iterations``: 0 = time limit only.
    """

    batch_size: int = 32
    goal_bias: float = 0.15
    target_goal_prob: float = 0.85
    heuristic: str = "geodesic"
    heuristic_scale: float = 0.75
    delta_bn: float = 0.5
    delta_bn_state: float = 0.0
    informed: bool = True
    p_shortcut: float = 0.25
    p_geodesic: float = 0.5
    p_geodesic_first: float = 0.75
    initial_dive: bool = False
    random_iters: int = 0
    dive_steps: int = 512
    lookahead_cells_min: int = 2
    lookahead_cells_max: int = 4
    lookahead_m_min: float = 0.75
    lookahead_m_max: float = 2.5
    max_rollout_steps: int = 768
    backoff_steps: int = 16
    aim_distance_m: float = 0.0
    return_first: bool = False
    collision_backend: str = "analytic"
    max_iterations: int = 0
    record_tree: bool = True
    tree_stride: int = 5
    max_tree_edges: int = 50_000

    def __post_init__(self) -> None:
        check_search_params(self, ("goal_bias", "target_goal_prob", "p_shortcut", "p_geodesic", "p_geodesic_first"))
        if self.heuristic not in ("geodesic", "euclid"):
            raise ValueError(f"AnytimeParams.heuristic must be 'geodesic' or 'euclid', got {self.heuristic!r}")
        if not 0.0 < self.heuristic_scale <= 1.0:
            raise ValueError(f"AnytimeParams.heuristic_scale must lie in (0, 1], got {self.heuristic_scale}")
        if self.delta_bn_state < 0:
            raise ValueError(f"AnytimeParams.delta_bn_state must be >= 0, got {self.delta_bn_state}")
        if self.delta_bn <= 0:
            raise ValueError(f"AnytimeParams.delta_bn must be positive, got {self.delta_bn}")
        if not 0 <= self.lookahead_cells_min <= self.lookahead_cells_max:
            raise ValueError("AnytimeParams: need 0 <= lookahead_cells_min <= lookahead_cells_max, got "
                             f"{self.lookahead_cells_min}, {self.lookahead_cells_max}")
        if not 0 <= self.lookahead_m_min <= self.lookahead_m_max:
            raise ValueError("AnytimeParams: need 0 <= lookahead_m_min <= lookahead_m_max, got "
                             f"{self.lookahead_m_min}, {self.lookahead_m_max}")
        if self.random_iters < 0:
            raise ValueError(f"AnytimeParams.random_iters must be >= 0, got {self.random_iters}")
        if self.aim_distance_m < 0:
            raise ValueError(f"AnytimeParams.aim_distance_m must be >= 0, got {self.aim_distance_m}")
        if self.dive_steps < 1 or self.max_rollout_steps < 1 or self.backoff_steps < 0:
            raise ValueError("AnytimeParams.dive_steps and max_rollout_steps must be >= 1, backoff_steps >= 0")


class AnytimeRRT:
    """Anytime kinodynamic RRT (see module docstring). Same seed and iteration cap, same path."""

    def __init__(self, params: AnytimeParams | None = None, sampler: ControlSampler | None = None, *,
                 name: str = "rrt-anytime", **overrides: Any) -> None:
        from planners.samplers import UniformControlSampler

        self.params = replace(params or AnytimeParams(), **overrides) if overrides else (params or AnytimeParams())
        self.inner = sampler if sampler is not None else UniformControlSampler()
        p = self.params
        self.sampler = AimedSampler(self.inner, max(p.max_rollout_steps, p.dive_steps), p.aim_distance_m)
        # random controls for the cheap refinement iterations (SST's Monte-Carlo propagation)
        self.random_sampler = AimedSampler(UniformControlSampler(), 1)
        self.name = name

    # -------------------------------------------------------------- one batch
    def _rows(self, tree, nn, ctg, inc, informed, rng, ctx, first: bool, s: AimedSampler, aim: bool = True):
        """Choose parents, lengths, targets and aiming modes for one batch (no aimed or shortcut
        rows when ``aim`` is False)."""
        p = self.params
        B = p.batch_size
        lengths = np.asarray(s.sample_lengths(B, ctx), dtype=np.int64)
        mode = np.full(B, AIM_FIXED, dtype=np.int64)
        look = np.zeros(B)
        progress = np.zeros(B, dtype=np.int64)
        reference = None
        if first or not len(informed):
            x_rand = sample_targets(ctx.problem, rng, B, p.goal_bias)
        else:  # informed: uniform over the cells a better path may cross
            pick = informed[rng.integers(0, len(informed), size=B)]
            x_rand = ctx.problem.world.cell_to_xy(pick[:, 0], pick[:, 1])
            x_rand += rng.uniform(-0.5, 0.5, size=(B, 2)) * ctx.problem.world.cell_size
            x_rand[rng.random(B) < p.goal_bias] = ctx.problem.goal
        targets = x_rand.copy()
        targets[rng.random(B) < p.target_goal_prob] = ctx.problem.goal
        if first:
            parents, _ = nn.query(x_rand)
        else:
            active = tree.active
            if not aim and p.delta_bn_state > 0:  # random controls: best-near in (x, y, heading, speed)
                pose = np.column_stack([x_rand, rng.uniform(-np.pi, np.pi, B)])
                speed = rng.uniform(0.0, ctg.top_speed, B)
                q, index, r = pose_speed_features(pose, speed, *self._feat_w), self._feat_nn, p.delta_bn_state
            else:
                q, index, r = x_rand, nn, p.delta_bn
            parents = index.query_radius_min(q, r, tree.costs, active)
            miss = parents < 0
            if miss.any():
                parents[miss] = index.query(q[miss], alive=active)[0]
            parents[parents < 0] = inc.node  # nothing active: should not happen (the path stays)
        geo = rng.random(B) < (p.p_geodesic_first if first else p.p_geodesic) * aim
        if first and p.initial_dive and len(tree) == 1:
            geo[:] = True  # the first batch: every row drives down the geodesic from the start
        mode[geo] = AIM_GEODESIC
        look[geo] = rng.integers(p.lookahead_cells_min, p.lookahead_cells_max + 1, size=int(geo.sum()))
        lengths[geo] = p.max_rollout_steps if (first and p.initial_dive and len(tree) == 1) else p.dive_steps
        if not first:
            chain = path_nodes(tree, inc.node)[:-1]
            short = (rng.random(B) < p.p_shortcut * aim) & (len(chain) > 0)
            n = int(short.sum())
            if n:
                states, _ = tree.path_to(inc.node)
                reference = states[:, :2]
                steps = np.rint(tree.costs[chain] / tree.dt).astype(np.int64)
                k = rng.integers(0, len(chain), size=n)
                parents[short] = chain[k]
                along = rng.random(n) < 0.5
                mode[short] = np.where(along, AIM_INCUMBENT, AIM_GEODESIC)
                look[short] = np.where(
                    along, rng.uniform(p.lookahead_m_min, p.lookahead_m_max, size=n),
                    rng.integers(p.lookahead_cells_min, p.lookahead_cells_max + 1, size=n))
                progress[short] = steps[k]
                lengths[short] = p.max_rollout_steps
            # never longer than what could still beat the incumbent
            budget = np.floor((inc.cost - tree.costs[parents]) / tree.dt - 1e-9).astype(np.int64)
            lengths = np.minimum(lengths, np.maximum(budget, 0))
        else:
            short = np.zeros(B, dtype=bool)
        s.plan(mode, look, progress, reference)
        return parents, targets, lengths, short

    def _insert(self, tree, ext, parents, ctg, inc, E: int):
        """Split each row into edges of at most ``E`` steps and add them while the nodes could
        still beat the incumbent. Returns (new node ids, the goal node of each row or -1)."""
        length = ext.length.copy()
        back = ext.collided & (length > 0)
        length[back] = np.maximum(length[back] - self.params.backoff_steps, 0)
        B = len(parents)
        node_of = np.asarray(parents, dtype=np.int64).copy()
        goal_node = np.full(B, -1, dtype=np.int64)
        alive = length > 0
        all_ids = []
        j = 0
        while alive.any():
            rows = np.flatnonzero(alive)
            seg = np.minimum(E, length[rows] - j * E)
            end_xy = ext.states[rows, j * E + seg, :2]
            cost = tree.costs[node_of[rows]] + seg * tree.dt
            good = cost + ctg.to_goal(end_xy) < inc.cost - 1e-9
            rows, seg = rows[good], seg[good]
            alive[:] = False
            if not len(rows):
                break
            S = ext.states.shape[1] - 1
            hi = min(S, (j + 1) * E)
            es = np.zeros((len(rows), E + 1, ext.states.shape[2]))
            eu = np.zeros((len(rows), E, ext.controls.shape[2]))
            es[:, : hi - j * E + 1] = ext.states[rows, j * E : hi + 1]
            eu[:, : hi - j * E] = ext.controls[rows, j * E : hi]
            ids = tree.add(node_of[rows], es, eu, seg)
            all_ids.append(ids)
            node_of[rows] = ids
            done = (j + 1) * E >= length[rows]
            hit = done & (ext.goal_step[rows] >= 0) & (ext.goal_step[rows] <= length[rows])
            goal_node[rows[hit]] = ids[hit]
            alive[rows[~done]] = True
            j += 1
        ids = np.concatenate(all_ids) if all_ids else np.zeros(0, dtype=np.int64)
        return ids, goal_node

    # -------------------------------------------------------------- solve
    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        """Plan for ``time_limit`` seconds (returns about one iteration later); the best path found.
        The result is not yet validated: see ``planners.validate.finalize``."""
        p = self.params
        t_begin = time.perf_counter()
        deadline = t_begin + float(time_limit)
        rng = np.random.default_rng(seed)
        prof = Profiler()
        with prof("setup"):
            checker = make_checker(problem.world, problem.robot.bodies, backend=p.collision_backend)
            self.sampler.setup(problem)
            self.random_sampler.setup(problem)
            ctg = CostToGo(problem, p.heuristic, p.heuristic_scale)
            self.sampler.ctg = self.random_sampler.ctg = ctg
            robot = problem.robot
            tree = Tree.for_problem(problem)
            nn = LogKDTree(dim=2)
            nn.add(problem.start[None, :2])
            self._feat_nn = LogKDTree(dim=5)
            self._feat_w = feature_weights(robot)
            self._feat_nn.add(state_features(problem.start[None], robot))
        ctx = SamplerContext(problem=problem, rng=rng)
        inc = Incumbent(history=[])
        counters = {"extensions": 0, "accepted": 0, "collided": 0, "sampler_calls": 0, "steps_checked": 0,
                    "shortcut_rows": 0, "improvements": 0, "improvements_shortcut": 0, "improvements_random": 0,
                    "random_iterations": 0, "deactivated": 0}
        improve_iters = 0
        informed = np.zeros((0, 2), dtype=np.int64)
        if problem.goal_region.reached(problem.start):
            inc.offer(0, 0.0, 0.0)
        iterations = 0
        reason = ""
        while not (inc.found and (p.return_first or inc.cost <= 0.0)):
            if time.perf_counter() >= deadline:
                reason = f"time limit {time_limit:g} s reached"
                break
            if p.max_iterations and iterations >= p.max_iterations:
                reason = f"iteration limit {p.max_iterations} reached"
                break
            iterations += 1
            first = not inc.found
            # after the first path: p.random_iters cheap random-control iterations per aimed one
            rand = not first and p.random_iters > 0 and improve_iters % (p.random_iters + 1) != 0
            improve_iters += 0 if first else 1
            sampler = self.random_sampler if rand else self.sampler
            counters["random_iterations"] += int(rand)
            with prof("sampling"):
                parents, targets, lengths, short = self._rows(tree, nn, ctg, inc, informed, rng, ctx, first, sampler,
                                                              aim=not rand)
            if not (lengths > 0).any():
                continue
            ext = extend(
                problem, checker, sampler, tree.states[parents], targets, tree.last_controls[parents], lengths,
                ctx, node_ids=parents, on_collision="truncate", prof=prof,
            )
            with prof("tree"):
                ids, goal_node = self._insert(tree, ext, parents, ctg, inc, sampler.edge_steps)
            with prof("nn"):
                nn.add(tree.states[ids, :2])
                self._feat_nn.add(state_features(tree.states[ids], robot))
            counters["extensions"] += int((lengths > 0).sum())
            counters["accepted"] += len(ids)
            counters["collided"] += int(ext.collided.sum())
            counters["sampler_calls"] += ext.sampler_calls
            counters["steps_checked"] += ext.steps_checked
            counters["shortcut_rows"] += int(short.sum())
            hits = np.flatnonzero(goal_node >= 0)
            if len(hits):
                best = hits[np.argmin(tree.costs[goal_node[hits]])]
                node = int(goal_node[best])
                if inc.offer(node, float(tree.costs[node]), time.perf_counter() - t_begin):
                    counters["improvements"] += 0 if first else 1
                    counters["improvements_shortcut"] += 0 if first else int(short[best])
                    counters["improvements_random"] += int(rand)
                    with prof("prune"):
                        counters["deactivated"] += prune_dominated(tree, ctg, inc.cost, keep=path_nodes(tree, node))
                        informed = ctg.informed_cells(inc.cost) if p.informed else problem.world.free_cells()
        elapsed = time.perf_counter() - t_begin
        self.last_tree = tree  # for inspection and tests only; never read by solve
        self.last_incumbent = inc
        success = inc.found
        if success:
            states, controls = tree.path_to(inc.node)
        else:
            states, controls = empty_path(robot)
        counters["nodes_active"] = int(tree.active.sum())
        return PlanResult(
            success=success,
            planner=self.name,
            seed=seed,
            time_s=elapsed,
            iterations=iterations,
            nodes=len(tree),
            dt=problem.robot.dt,
            states=states,
            controls=controls,
            reason="" if success else reason,
            profile=prof.as_dict(),
            counters=counters,
            robot=problem.robot.name,
            extra={
                "params": asdict(p),
                "sampler": self.sampler.name,
                "cost_history": inc.history,
                "first_time_s": inc.first_time_s,
                "first_duration_s": inc.first_cost,
                "time_total_s": elapsed,
            },
            tree_edges=tree_result_edges(tree, p.tree_stride, p.max_tree_edges) if p.record_tree else None,
        )
