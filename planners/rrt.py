"""The batched kinodynamic RRT core, and the checked, chunked extension it shares with SST.

One iteration expands ``batch_size`` (B) nodes at once:

1. B random targets uniform over the map's free area (the goal position with probability
   ``goal_bias``);
2. the nearest tree node of each, in xy (``planners.nearest.LogKDTree``: new nodes are visible
   at once, nothing is rebuilt from scratch);
3. one batched, chunked extension from the B nodes (:func:`extend`): per chunk, ONE sampler call
   for every extension still alive, one batched rollout, the footprint checked at every 0.02 s
   step, the goal region (``problem.goal_region``) checked at every step (an extension stops at
   the step it enters it);
4. surviving extensions become nodes; the search stops at the first goal hit (the cheapest one
   if several extensions of the batch hit it).

The control sampler is pluggable (``planners.samplers.ControlSampler``): the classical RRT uses
:class:`~planners.samplers.UniformControlSampler`; DiTree plugs a learned, closed-loop, chunked
policy into the same core.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from envs.collision import CollisionChecker, first_true, make_checker, robot_collides
from envs.problem import Problem
from planners.base import Profiler, check_search_params
from planners.connector import GoalConnector
from planners.nearest import GridNearest, LogKDTree
from planners.results import PlanResult
from planners.samplers import AsyncControlSampler, ControlSampler, SamplerContext, UniformControlSampler
from planners.search import SearchLoop, tree_result_edges  # noqa: F401 (tree_result_edges: re-exported)
from planners.tree import Tree

ON_COLLISION = ("drop", "truncate", "prefix")


@dataclass(frozen=True)
class RRTParams:
    """Parameters of :class:`KinodynamicRRT`.

    ``batch_size``: extensions per iteration (128, chosen by a sweep with the uniform sampler on
    the validation mazes, see docs/benchmarks.md, 'RRT batch size'; larger batches also give
    shorter paths, since the cheapest of several goal hits is kept). ``goal_bias``: probability that a
    random target is the goal position (0.15, docs/policy.md, 'The planner').
    ``target_goal_prob``: probability that the
    target handed to the *sampler* is the goal instead of the random target (0 for random controls,
    which ignore targets; DiTree uses 0.85, the paper's "DGB"). ``collision_backend``: checker used
    during search ("analytic"; results are validated separately with PyBullet).
    ``on_collision``: "drop" the whole extension, "truncate" it to its last collision-free chunk
    boundary, or keep its collision-free "prefix" (every step before the first colliding one, as
    OMPL's ``propagateWhileValid``). ``nn``: nearest-neighbour structure ("logkd" or "grid"). ``max_iterations``: stop
    after this many iterations (0 = only the time limit). ``record_tree``: return the tree's edges
    (xy polylines, every ``tree_stride``-th state, at most ``max_tree_edges`` of them) for plotting.
    ``groups``: pipeline each batch's extension in this many groups of rows (see :func:`extend`;
    useful with an asynchronous sampler such as a policy on a GPU; 1 = the whole batch per call).
    ``speculate``: request each chunk's successor before checking the chunk (see :func:`extend`).
    ``connect_tol``: with a full-state goal tighter than this, search to a goal region of this
    tolerance (the robot's metric) and connect each hit to the exact goal by trajectory optimisation
    (:mod:`planners.connector`; 0 = off, search for the goal region as given).
    """

    batch_size: int = 128
    goal_bias: float = 0.15
    target_goal_prob: float = 0.0
    collision_backend: str = "analytic"
    on_collision: str = "drop"
    nn: str = "logkd"
    max_iterations: int = 0
    record_tree: bool = True
    tree_stride: int = 5
    max_tree_edges: int = 50_000
    groups: int = 1
    connect_tol: float = 0.0
    speculate: bool = False

    def __post_init__(self) -> None:
        check_search_params(self, ("goal_bias", "target_goal_prob"))
        if self.groups < 1:
            raise ValueError(f"RRTParams.groups must be >= 1, got {self.groups}")
        if self.on_collision not in ON_COLLISION:
            raise ValueError(f"RRTParams.on_collision must be one of {ON_COLLISION}, got {self.on_collision!r}")
        if self.nn not in ("logkd", "grid"):
            raise ValueError(f"RRTParams.nn must be 'logkd' or 'grid', got {self.nn!r}")


# ---------------------------------------------------------------------- extension
@dataclass
class ExtensionBatch:
    """Outcome of :func:`extend` for B extensions of at most S steps.

    ``states`` ``(B, S+1, 6)`` (index 0 the start), ``controls`` ``(B, S, 2)``: only the first
    ``length[i]`` controls/steps of row ``i`` are meaningful. ``length`` ``(B,)``: usable steps
    (0 = dropped). ``goal_step`` ``(B,)``: the step at which the goal region was entered (then equal to
    ``length``), -1 if not. ``collided`` ``(B,)``: a collision ended the extension.
    """

    states: np.ndarray
    controls: np.ndarray
    length: np.ndarray
    goal_step: np.ndarray
    collided: np.ndarray
    sampler_calls: int = 0
    steps_checked: int = 0


def extend(
    problem: Problem,
    checker: CollisionChecker,
    sampler: ControlSampler,
    x0: np.ndarray,
    targets: np.ndarray,
    prev_controls: np.ndarray,
    lengths: np.ndarray,
    context: SamplerContext,
    *,
    node_ids: np.ndarray | None = None,
    on_collision: str = "drop",
    prof: Profiler | None = None,
    groups: int = 1,
    speculate: bool = False,
) -> ExtensionBatch:
    """Closed-loop, chunked, checked extension of B states ``x0`` ``(B, 6)`` towards ``targets``
    ``(B, 2)``, each for at most ``lengths[i]`` steps (see ``planners.samplers``). ``context.goal_rows``,
    when the caller set it, is ``(B,)`` (which of the B targets are the goal); each sampler call gets
    ``context.rows`` to index it.

    For each chunk: one sampler call for the extensions still alive, one batched rollout, the
    footprint checked at every step up to each extension's length, the goal checked at every step.
    On collision an extension is dropped (``on_collision="drop"``), cut back to the last chunk
    boundary before the collision (``"truncate"``; 0 steps if that is its start), or cut back to the
    last collision-free step (``"prefix"``).

    ``groups`` > 1 pipelines the batch: its rows are split into that many contiguous groups that
    take turns, so that while one group's sampler request is in flight (an asynchronous sampler's
    ``submit``, e.g. a policy on a GPU) the CPU rolls out and checks another group's last chunk::

        group 0:  submit c0 |          | collect c0, rollout+check, submit c1 |          | ...
        group 1:            | submit c0|                                      | collect c0, ...

    Each row's result depends only on what its own sampler calls return, so with a sampler whose
    output for a row does not depend on the other rows of the call, any ``groups`` gives the same
    extensions (the sampler's random draws come in a different order, though).

    ``speculate`` asks for a chunk's successor as soon as the chunk is rolled out, for every
    extension that would go on, so that the request runs while the CPU checks the chunk for
    collisions and the goal; the controls of extensions the check ends are discarded. Same
    extensions as without it (for a row-independent sampler), one request per chunk as before,
    but some rows of each request are wasted: worth it only when the sampler is asynchronous.
    """
    prof = prof or Profiler()
    robot = problem.robot
    x0 = np.asarray(x0, dtype=float)
    B = len(x0)
    L, C = int(sampler.chunk_len), int(sampler.n_chunks)
    S = L * C
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), S)
    states = np.zeros((B, S + 1, x0.shape[1]))
    states[:, 0] = x0
    controls = np.zeros((B, S, robot.control_dim))
    out_len = np.zeros(B, dtype=np.int64)
    goal_step = np.full(B, -1, dtype=np.int64)
    collided = np.zeros(B, dtype=bool)
    alive = lengths > 0
    cur = x0.copy()
    prev = np.asarray(prev_controls, dtype=float).copy()
    in_goal = problem.goal_region.reached
    submit, collect = sampler_requests(sampler)
    counts = {"calls": 0, "checked": 0}
    context.batch_size = B
    if context.goal_rows is not None and np.shape(context.goal_rows) != (B,):
        raise ValueError(f"context.goal_rows has shape {np.shape(context.goal_rows)}, expected ({B},) (one per row)")

    def request(rows: np.ndarray, c: int, x: np.ndarray, u_prev: np.ndarray):
        context.chunk, context.step = c, c * L
        context.node_ids = None if node_ids is None else node_ids[rows]
        context.rows = rows
        with prof("sampling"):
            return rows, submit(x, targets[rows], u_prev, context)

    def grow(rows: np.ndarray):
        """Extend the batch rows ``rows`` chunk by chunk; yields while a sampler request is in flight."""
        member = np.zeros(B, dtype=bool)
        member[rows] = True
        idx = np.flatnonzero(alive & member)
        if not len(idx):
            return
        pending = request(idx, 0, cur[idx], prev[idx])
        yield
        for c in range(C):
            t0 = c * L
            asked, ticket = pending
            pending = None
            with prof("sampling"):
                u = np.asarray(collect(ticket), dtype=float)
            counts["calls"] += 1
            if u.shape != (len(asked), L, robot.control_dim):
                raise ValueError(
                    f"sampler {getattr(sampler, 'name', sampler)!r} returned {u.shape}, expected {(len(asked), L, robot.control_dim)}"
                )
            keep = alive[asked]  # a speculative request may hold rows that have ended since
            idx, u = asked[keep], u[keep]
            if not len(idx):
                return
            with prof("propagation"):
                traj = robot.rollout(cur[idx], u)  # (n, L+1, 6)
            if speculate and c + 1 < C:  # ask for the next chunk now; the checks below run meanwhile
                ahead = lengths[idx] > t0 + L
                if ahead.any():
                    pending = request(idx[ahead], c + 1, traj[ahead, -1], u[ahead, -1])
            valid = (t0 + np.arange(1, L + 1))[None, :] <= lengths[idx, None]  # (n, L)
            with prof("collision"):
                coll = np.zeros(valid.shape, dtype=bool)
                coll[valid] = robot_collides(robot, checker, traj[:, 1:][valid])
            counts["checked"] += int(valid.sum())
            fc = first_true(coll)
            fg = first_true(in_goal(traj[:, 1:]) & valid)
            states[idx, t0 + 1 : t0 + L + 1] = traj[:, 1:]
            controls[idx, t0 : t0 + L] = u
            hit = (fg >= 0) & ((fc < 0) | (fg < fc))
            crash = (fc >= 0) & ~hit
            finished = ~hit & ~crash & (lengths[idx] <= t0 + L)
            goal_step[idx[hit]] = t0 + fg[hit] + 1
            out_len[idx[hit]] = t0 + fg[hit] + 1
            collided[idx[crash]] = True
            kept = {"drop": 0, "truncate": t0, "prefix": t0 + fc[crash]}[on_collision]  # steps kept of a crash
            out_len[idx[crash]] = kept
            out_len[idx[finished]] = lengths[idx[finished]]
            ended = hit | crash | finished
            alive[idx[ended]] = False
            go_on = idx[~ended]
            cur[go_on] = traj[~ended, -1]
            prev[go_on] = u[~ended, -1]
            if pending is None:
                if c + 1 == C or not len(go_on):
                    return
                pending = request(go_on, c + 1, cur[go_on], prev[go_on])
            yield

    running = [grow(rows) for rows in np.array_split(np.arange(B), max(1, min(int(groups), B)))]
    while running:  # round robin: each turn collects a group's request and submits its next one
        for g in list(running):
            if next(g, StopIteration) is StopIteration:
                running.remove(g)
    return ExtensionBatch(states, controls, out_len, goal_step, collided, counts["calls"], counts["checked"])


def sampler_requests(sampler: ControlSampler):
    """``(submit, collect)`` for ``sampler``: its own when it is asynchronous
    (:class:`~planners.samplers.AsyncControlSampler`), else a synchronous call and the identity."""
    if isinstance(sampler, AsyncControlSampler):
        return sampler.submit, sampler.collect
    return sampler, lambda controls: controls


# ---------------------------------------------------------------------- helpers shared with SST
def sample_goal_biased(
    problem: Problem, rng: np.random.Generator, n: int, goal_bias: float
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` xy targets ``(n, 2)`` (m) uniform over the free area, the goal position with probability
    ``goal_bias``, and the mask ``(n,)`` bool of the rows set to the goal."""
    pts = problem.world.sample_free_points(rng, n)
    use_goal = rng.random(n) < goal_bias
    pts[use_goal] = problem.goal
    return pts, use_goal


def make_nn(kind: str, problem: Problem):
    if kind == "grid":
        return GridNearest(problem.world.extent, cell=0.5)
    return LogKDTree(dim=2)


# ---------------------------------------------------------------------- planner
class KinodynamicRRT:
    """Batched kinodynamic RRT (see module docstring). Same seed, same tree, same path.

    ``KinodynamicRRT()`` is the classical RRT with random controls; pass another ``sampler`` (a
    :class:`~planners.samplers.ControlSampler`) to plug in a learned policy. Keyword overrides
    update ``params``: ``KinodynamicRRT(batch_size=128)``.
    """

    def __init__(
        self, params: RRTParams | None = None, sampler: ControlSampler | None = None, *, name: str = "rrt",
        **overrides: Any,
    ) -> None:
        self.params = replace(params or RRTParams(), **overrides) if overrides else (params or RRTParams())
        self.sampler = sampler if sampler is not None else UniformControlSampler()
        self.name = name

    def __repr__(self) -> str:
        return f"KinodynamicRRT(name={self.name!r}, params={self.params}, sampler={getattr(self.sampler, 'name', self.sampler)!r})"

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        """Plan for at most ``time_limit`` seconds (returns within about ``time_limit`` + one
        iteration). The result is not yet validated: see ``planners.validate.finalize``."""
        p = self.params
        loop = SearchLoop(time_limit, p.max_iterations, connector=GoalConnector.for_problem(problem, p.connect_tol))
        problem = loop.search_problem(problem)
        rng = np.random.default_rng(seed)
        prof = loop.prof
        with prof("setup"):
            checker = make_checker(problem.world, problem.robot.bodies, backend=p.collision_backend)
            self.sampler.setup(problem)
            tree = Tree.for_problem(problem)
            nn = make_nn(p.nn, problem)
            nn.add(problem.start[None, :2])
        ctx = SamplerContext(problem=problem, rng=rng)
        B = p.batch_size
        loop.start_in_goal(problem)
        while loop.running(stop=loop.incumbent.found):
            with prof("sampling"):
                x_rand, goal_rows = sample_goal_biased(problem, rng, B, p.goal_bias)
                targets = x_rand.copy()
                if p.target_goal_prob > 0:
                    dgb = rng.random(B) < p.target_goal_prob
                    targets[dgb] = problem.goal
                    goal_rows |= dgb
                ctx.goal_rows = goal_rows
                lengths = self.sampler.sample_lengths(B, ctx)
            with prof("nn"):
                near, _ = nn.query(x_rand)
            ext = extend(
                problem, checker, self.sampler, tree.states[near], targets, tree.last_controls[near], lengths, ctx,
                node_ids=near, on_collision=p.on_collision, prof=prof, groups=p.groups,
                speculate=p.speculate,
            )
            ok = ext.length > 0
            with prof("tree"):
                ids = tree.add(near[ok], ext.states[ok], ext.controls[ok], ext.length[ok])
            with prof("nn"):
                nn.add(tree.states[ids, :2])
            loop.count_extensions(ext, tried=B, accepted=int(ok.sum()))
            loop.goal_hits(tree, ids[ext.goal_step[ok] >= 0])  # the search stops at the first hit
        self.last_tree = tree  # for inspection and tests only; never read by solve
        return loop.result(
            problem, self.name, seed, tree=tree, params=p,
            extra={"sampler": getattr(self.sampler, "name", type(self.sampler).__name__)},
        )
