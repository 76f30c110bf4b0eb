"""SST, Stable Sparse RRT (Li, Littlefield, Bekris, IJRR 2016), over the batched RRT machinery.

Why it is ours: the PyPI wheel ``ompl==2.0.1`` cannot construct ``oc.SST`` ("no constructor
defined", see docs/platform.md, 'What cannot be built from Python'), and wrapping OMPL's other
planners through Python callbacks costs several times more per node. So SST is implemented here on
the same batched, checked, chunked extension as :class:`planners.rrt.KinodynamicRRT` (footprint
checked at every 0.02 s step, goal at every step).

Per iteration, for B random samples at once:

1. **Best-near selection** (radius ``delta_bn``): among *active* nodes within ``delta_bn`` of the
   sample, the one with the lowest cost (time from the root; of equal costs the oldest node); if
   none, the nearest active node.
2. **Monte-Carlo propagation**: random piecewise-constant controls for a random duration
   (:class:`~planners.samplers.UniformControlSampler`), checked.
3. **Witness-based pruning** (radius ``delta_s``): a new node is kept only if it is cheaper than
   the representative of its nearest witness (a new witness is created when none lies within
   ``delta_s``); the dominated representative becomes inactive, and inactive leaves are removed
   recursively. Candidates of one batch are processed in index order, so later ones see earlier
   ones (deterministic).

Distances are Euclidean on the features ``[x, y, w_yaw cos(yaw), w_yaw sin(yaw), w_v v]`` (m),
so the radii are metres. Defaults (``delta_bn`` = 1.0 m, ``delta_s`` = 0.4 m, ``w_yaw`` = 0.25 m,
``w_v`` = 0.1 m per m/s, batch 128) were chosen by a sweep on the 3 validation mazes
(``scripts/bench_planners.py --planners sst:delta_bn=1.0:delta_s=0.4,...``; results in
docs/benchmarks.md, 'SST radii and batch size').

**Per-robot defaults.** Metric parameters and the batch size left at None, and the sampler when
none is given, take the planned robot's registered defaults (``envs.registry.SearchDefaults``:
``sst_batch_size``, ``delta_bn``, ``delta_s``, ``w_yaw``, ``w_v`` and ``extension``; an
unregistered robot is an error). The car's are the values above, so its trees and paths are
unchanged. The PyBullet racecar plans in the same mazes at 2 m per cell, is about 1.5 times larger
and accelerates slowly from rest: with the car's 0.1-0.5 s extensions no extension from the resting
root leaves its 0.4 m witness disc (each is dominated by the root), and a batch of 128 costs seconds
of physics per iteration. Its defaults scale the metric with the cell size (``delta_bn`` 2.0 m,
``delta_s`` 0.8 m, ``w_yaw`` 0.5 m, ``w_v`` 0.2 m per m/s), extend for 25-75 steps (0.5-1.5 s) in
pieces of 10-40 steps, batch 16, chosen by a sweep on the racecar's ``val_maze_small``
(``scripts/bench_racecar.py --planners sst:delta_bn=...:min_steps=...``; results in
docs/benchmarks.md, 'SST defaults of the racecar').

Small radii keep almost every node and behave like RRT; larger ones select the cheapest node of
a wider neighbourhood, which gave both faster first solutions and much shorter paths.
Cost = path duration (s).

Anytime: after the first solution the search continues until the time limit and keeps the
cheapest solution, unless ``return_first`` (default True, so the benchmark compares time to the
first solution). ``result.extra["cost_history"]`` lists ``[time_s, path_duration_s]`` for the
first solution and every improvement (the last entry is the returned path's duration);
``first_time_s`` and ``first_duration_s`` give the first solution (as ``planners.anytime``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from envs.collision import make_checker
from envs.problem import Problem
from envs.registry import robot_spec
from planners.base import check_search_params
from planners.connector import GoalConnector
from planners.nearest import LogKDTree
from planners.results import PlanResult
from planners.rrt import ON_COLLISION, extend, sample_goal_biased
from planners.samplers import ControlSampler, SamplerContext, UniformControlSampler, robot_sampler_params
from planners.search import SearchLoop
from planners.tree import Tree


@dataclass(frozen=True)
class SSTParams:
    """Parameters of :class:`SST` (see module docstring for the metric and the defaults).

    ``batch_size``, ``delta_bn``, ``delta_s`` (m), ``w_yaw`` (m) and ``w_v`` (m per m/s) left at
    None take the planned robot's registered values (``envs.registry.SearchDefaults``; the car: 128,
    1.0, 0.4, 0.25, 0.1; the racecar: 16, 2.0, 0.8, 0.5, 0.2).
    ``connect_tol``: with a full-state goal tighter than this, search to a goal region of this
    tolerance (the robot's metric) and connect each hit to the exact goal by trajectory optimisation
    (:mod:`planners.connector`; 0 = off, search for the goal region as given). ``polish``: shorten every newly connected path by trajectory optimisation
    (:func:`planners.trajopt.polish`). ``on_collision``: what becomes of an extension that collides
    (:func:`planners.rrt.extend`): "drop" it (the default), or keep its collision-free "prefix", as
    OMPL's SST does (``propagateWhileValid``), which lets a robot that cannot stop explore close to
    walls; "truncate" keeps nothing of a one-chunk random extension."""

    batch_size: int | None = None
    goal_bias: float = 0.15
    delta_bn: float | None = None
    delta_s: float | None = None
    w_yaw: float | None = None
    w_v: float | None = None
    return_first: bool = True
    connect_tol: float = 0.0
    polish: bool = False
    on_collision: str = "drop"
    collision_backend: str = "analytic"
    max_iterations: int = 0
    record_tree: bool = True
    tree_stride: int = 5
    max_tree_edges: int = 50_000

    def __post_init__(self) -> None:
        if self.batch_size is None:  # the robot's batch size fills in at solve time
            replace(self, batch_size=1)  # validates the other shared fields
        else:
            check_search_params(self)
        if self.on_collision not in ON_COLLISION:
            raise ValueError(f"SSTParams.on_collision must be one of {ON_COLLISION}, got {self.on_collision!r}")
        for name in ("delta_bn", "delta_s"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"SSTParams.{name} must be positive (or None: the robot's default), got {v}")
        for name in ("w_yaw", "w_v"):
            v = getattr(self, name)
            if v is not None and not v >= 0:
                raise ValueError(f"SSTParams.{name} must be >= 0 (or None: the robot's default), got {v}")

    def resolved(self, robot: str) -> SSTParams:
        """These parameters with every None replaced by the registered defaults of ``robot`` (a name)."""
        d = robot_spec(robot).search
        table = {"batch_size": d.sst_batch_size, "delta_bn": d.delta_bn, "delta_s": d.delta_s, "w_yaw": d.w_yaw,
                 "w_v": d.w_v}
        return replace(self, **{k: v for k, v in table.items() if getattr(self, k) is None})


class SST:
    """Stable Sparse RRT with batched propagation (see module docstring). Same seed, same tree."""

    def __init__(
        self, params: SSTParams | None = None, sampler: ControlSampler | None = None, *, name: str = "sst",
        sampler_overrides: dict[str, Any] | None = None, **overrides: Any,
    ) -> None:
        self.params = replace(params or SSTParams(), **overrides) if overrides else (params or SSTParams())
        self.sampler = sampler
        """The control sampler; None = the planned robot's default (:func:`robot_sampler_params`)."""
        if sampler is not None and sampler_overrides:
            raise ValueError("SST: give a sampler or sampler_overrides, not both")
        self.sampler_overrides = dict(sampler_overrides or {})
        """``UniformSamplerParams`` fields that replace the planned robot's defaults (no ``sampler``)."""
        self.name = name
        self._p: SSTParams = self.params  # the parameters of the current solve (resolved for its robot)

    def sampler_for(self, robot: str) -> ControlSampler:
        """The sampler a solve for ``robot`` uses: the one given, else the robot's default."""
        if self.sampler is not None:
            return self.sampler
        return UniformControlSampler(replace(robot_sampler_params(robot), **self.sampler_overrides))

    def features(self, states: np.ndarray, robot) -> np.ndarray:
        """SST metric features ``(N, 5)`` of states ``(N, S)`` of ``robot`` (metres): pose and
        forward speed (``robot.speed``), weighted by the robot's registered defaults unless set."""
        p = self.params.resolved(robot.name)
        return self._features(states[:, :2], states[:, 2], robot.speed(states), p)

    def _features(self, xy: np.ndarray, yaw: np.ndarray, v: np.ndarray, p: SSTParams | None = None) -> np.ndarray:
        p = p or self._p
        return np.stack([xy[:, 0], xy[:, 1], p.w_yaw * np.cos(yaw), p.w_yaw * np.sin(yaw), p.w_v * v], axis=1)

    def _random_features(
        self, problem: Problem, rng: np.random.Generator, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random xy ``(n, 2)`` (the goal position with probability ``goal_bias``), their features
        ``(n, 5)`` (random heading and speed) and which xy are the goal ``(n,)`` bool."""
        xy, at_goal = sample_goal_biased(problem, rng, n, self.params.goal_bias)
        yaw = rng.uniform(-np.pi, np.pi, n)
        v = rng.uniform(0.0, problem.robot.top_speed, n)
        return xy, self._features(xy, yaw, v), at_goal

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        p = self._p = self.params.resolved(problem.robot.name)
        sampler = self.sampler_for(problem.robot.name)
        loop = SearchLoop(time_limit, p.max_iterations, extra_counters=("dominated", "pruned"),
                          connector=GoalConnector.for_problem(problem, p.connect_tol, p.polish))
        problem = loop.search_problem(problem)
        rng = np.random.default_rng(seed)
        prof, counters = loop.prof, loop.counters
        with prof("setup"):
            checker = make_checker(problem.world, problem.robot.bodies, backend=p.collision_backend)
            sampler.setup(problem)
            tree = Tree.for_problem(problem)
            nodes_nn = LogKDTree(dim=5, drop_dead=True)  # inactive nodes never return
            nodes_nn.add(self.features(problem.start[None], problem.robot), tree.active)
            wit_nn = LogKDTree(dim=5)
            wit_nn.add(self.features(problem.start[None], problem.robot))
            wit_rep = [0]  # witness id -> representative node id
        ctx = SamplerContext(problem=problem, rng=rng)
        B = p.batch_size
        loop.start_in_goal(problem)
        while loop.running(stop=loop.incumbent.found and p.return_first):
            with prof("sampling"):
                targets, feats, ctx.goal_rows = self._random_features(problem, rng, B)
                lengths = sampler.sample_lengths(B, ctx)
            with prof("nn"):
                active = tree.active
                sel = nodes_nn.query_radius_min(feats, p.delta_bn, tree.costs, active)
                miss = sel < 0
                if miss.any():
                    sel[miss] = nodes_nn.query(feats[miss], alive=active)[0]
            ext = extend(
                problem, checker, sampler, tree.states[sel], targets, tree.last_controls[sel], lengths, ctx,
                node_ids=sel, on_collision=p.on_collision, prof=prof,
            )
            loop.count_extensions(ext, tried=B)
            ok = np.flatnonzero(ext.length > 0)
            if not len(ok):
                continue
            with prof("witness"):
                new_states = ext.states[ok, ext.length[ok]]
                new_cost = tree.costs[sel[ok]] + ext.length[ok] * tree.dt
                new_feat = self.features(new_states, problem.robot)
                keep, peers, wit_of, new_wit = self._witness_pass(wit_nn, wit_rep, new_feat, new_cost, tree.costs)
            counters["dominated"] += int(len(ok) - keep.sum())
            with prof("tree"):
                kept = ok[keep]
                ids = tree.add(sel[kept], ext.states[kept], ext.controls[kept], ext.length[kept])
                idmap = np.full(len(ok), -1, dtype=np.int64)
                idmap[np.flatnonzero(keep)] = ids
                for w, r in wit_of.items():  # witnesses now represented by a node of this batch
                    wit_rep[w] = int(idmap[r])
                if new_wit:
                    wit_nn.add(np.array([new_feat[k] for k in new_wit]))
                for peer in peers:
                    tree.deactivate(peer)
                    counters["pruned"] += tree.prune_branch(peer)
                nodes_nn.add(self.features(tree.states[ids], problem.robot), tree.active)
            counters["accepted"] += len(ids)
            loop.goal_hits(tree, ids[ext.goal_step[kept] >= 0])
        self.last_tree = tree  # for inspection and tests only; never read by solve
        counters["nodes_alive"] = tree.n_alive
        return loop.result(problem, self.name, seed, tree=tree, params=p, anytime=True)

    def _witness_pass(self, wit_nn, wit_rep, feats, costs, node_costs):
        """SST's locally-best test for a batch of candidates, in order.

        Returns ``keep`` ``(K,)`` bool, ``peers`` (existing node ids to deactivate), ``wit_of``
        ({witness id: candidate index} for witnesses whose representative is now a candidate) and
        ``new_wit`` (candidate indices that became new witnesses, in witness-id order).
        """
        p = self._p
        K = len(feats)
        w_near, w_dist = wit_nn.query(feats)
        keep = np.zeros(K, dtype=bool)
        peers: list[int] = []
        wit_of: dict[int, int] = {}
        new_wit: list[int] = []
        n_wit = len(wit_rep)
        for k in range(K):
            w, d = int(w_near[k]), float(w_dist[k])
            if new_wit:  # witnesses created earlier in this batch
                nf = feats[new_wit]
                dd = np.sqrt(((nf - feats[k]) ** 2).sum(1))
                j = int(np.argmin(dd))
                if dd[j] < d:
                    w, d = n_wit + j, float(dd[j])
            if d > p.delta_s:
                w = n_wit + len(new_wit)
                new_wit.append(k)
                wit_rep.append(-1)
            if w in wit_of:  # represented by an earlier candidate of this batch
                j = wit_of[w]
                if costs[k] < costs[j]:
                    keep[j] = False
                    keep[k] = True
                    wit_of[w] = k
                continue
            peer = wit_rep[w]
            if peer < 0 or costs[k] < node_costs[peer]:
                keep[k] = True
                wit_of[w] = k
                if peer >= 0:
                    peers.append(peer)
        return keep, peers, wit_of, new_wit
