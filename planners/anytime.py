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

The parts live in modules of their own and are importable from here as before:
:mod:`planners.cost_to_go` (:class:`CostToGo`, :func:`prune_dominated`), :mod:`planners.incumbent`
(:class:`Incumbent`, :func:`path_nodes`), :mod:`planners.aiming` (:class:`AimedSampler` and its row
modes), :mod:`planners.features` (SST's state features), :mod:`planners.anytime_params`
(:class:`AnytimeParams`); the loop's deadline, counters, goal hits and result are
:class:`planners.search.SearchLoop`'s, as for the RRT and SST.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from envs.collision import make_checker
from envs.problem import Problem
from planners.aiming import AIM_FIXED, AIM_GEODESIC, AIM_INCUMBENT, AimedSampler
from planners.anytime_params import AnytimeParams
from planners.connector import GoalConnector
from planners.cost_to_go import GRID_STRETCH, CostToGo, prune_dominated
from planners.features import feature_weights, pose_speed_features, state_features
from planners.incumbent import Incumbent, path_nodes
from planners.nearest import LogKDTree
from planners.results import PlanResult
from planners.rrt import extend, sample_goal_biased
from planners.samplers import ControlSampler, SamplerContext, UniformControlSampler, robot_sampler_params
from planners.search import SearchLoop
from planners.tree import Tree

__all__ = [  # the pieces live in their own modules; importable from here as before
    "AIM_FIXED", "AIM_GEODESIC", "AIM_INCUMBENT", "GRID_STRETCH", "AimedSampler", "AnytimeParams", "AnytimeRRT",
    "CostToGo", "Incumbent", "feature_weights", "path_nodes", "pose_speed_features", "prune_dominated",
    "state_features",
]


class AnytimeRRT:
    """Anytime kinodynamic RRT (see module docstring). Same seed and iteration cap, same path."""

    def __init__(self, params: AnytimeParams | None = None, sampler: ControlSampler | None = None, *,
                 name: str = "rrt-anytime", **overrides: Any) -> None:
        self.params = replace(params or AnytimeParams(), **overrides) if overrides else (params or AnytimeParams())
        self.inner = sampler if sampler is not None else UniformControlSampler()
        p = self.params
        self.sampler = AimedSampler(self.inner, max(p.max_rollout_steps, p.dive_steps), p.aim_distance_m)
        # random controls for the cheap refinement iterations (SST's Monte-Carlo propagation): the planned
        # robot's registered random extensions, built per solve
        self.random_sampler: AimedSampler | None = None
        self.name = name

    # -------------------------------------------------------------- one batch
    def _rows(self, tree, nn, ctg, inc, informed, rng, ctx, first: bool, s: AimedSampler, aim: bool = True):
        """Choose parents, lengths, targets and aiming modes for one batch (no aimed or shortcut
        rows when ``aim`` is False); sets ``ctx.goal_rows`` ``(B,)`` to the rows whose target is the goal."""
        p = self.params
        B = p.batch_size
        lengths = np.asarray(s.sample_lengths(B, ctx), dtype=np.int64)
        mode = np.full(B, AIM_FIXED, dtype=np.int64)
        look = np.zeros(B)
        progress = np.zeros(B, dtype=np.int64)
        reference = None
        if first or not len(informed):
            x_rand, goal_rows = sample_goal_biased(ctx.problem, rng, B, p.goal_bias)
        else:  # informed: uniform over the cells a better path may cross
            pick = informed[rng.integers(0, len(informed), size=B)]
            x_rand = ctx.problem.world.cell_to_xy(pick[:, 0], pick[:, 1])
            x_rand += rng.uniform(-0.5, 0.5, size=(B, 2)) * ctx.problem.world.cell_size
            goal_rows = rng.random(B) < p.goal_bias
            x_rand[goal_rows] = ctx.problem.goal
        targets = x_rand.copy()
        dgb = rng.random(B) < p.target_goal_prob
        targets[dgb] = ctx.problem.goal
        ctx.goal_rows = goal_rows | dgb  # AimedSampler updates it per chunk for the rows it re-aims
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
            parents = index.query_radius_min(q, r, tree.costs, active, exact=False)  # k nearest per block
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
        loop = SearchLoop(time_limit, p.max_iterations, extra_counters=(
            "shortcut_rows", "improvements", "improvements_shortcut", "improvements_random", "random_iterations",
            "deactivated"), connector=GoalConnector.for_problem(problem, p.connect_tol, p.polish))
        problem = loop.search_problem(problem)
        rng = np.random.default_rng(seed)
        prof, counters, inc = loop.prof, loop.counters, loop.incumbent
        with prof("setup"):
            checker = make_checker(problem.world, problem.robot.bodies, backend=p.collision_backend)
            self.sampler.setup(problem)
            self.random_sampler = AimedSampler(UniformControlSampler(robot_sampler_params(problem.robot.name)), 1)
            self.random_sampler.setup(problem)
            ctg = CostToGo(problem, p.heuristic, p.heuristic_scale)
            self.sampler.ctg = self.random_sampler.ctg = ctg
            robot = problem.robot
            tree = Tree.for_problem(problem)
            nn = LogKDTree(dim=2, drop_dead=True)  # deactivated (dominated) nodes never return
            nn.add(problem.start[None, :2], tree.active)
            self._feat_nn = LogKDTree(dim=5, drop_dead=True)
            self._feat_w = feature_weights(robot)
            self._feat_nn.add(state_features(problem.start[None], robot), tree.active)
        ctx = SamplerContext(problem=problem, rng=rng)
        improve_iters = 0
        informed = np.zeros((0, 2), dtype=np.int64)
        loop.start_in_goal(problem)
        while loop.running(stop=inc.found and (p.return_first or inc.cost <= 0.0)):
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
                nn.add(tree.states[ids, :2], tree.active)
                self._feat_nn.add(state_features(tree.states[ids], robot), tree.active)
            loop.count_extensions(ext, tried=int((lengths > 0).sum()), accepted=len(ids))
            counters["shortcut_rows"] += int(short.sum())
            hits = np.flatnonzero(goal_node >= 0)
            k = loop.goal_hits(tree, goal_node[hits])
            if k >= 0:
                best, node = hits[k], int(goal_node[hits[k]])
                counters["improvements"] += 0 if first else 1
                counters["improvements_shortcut"] += 0 if first else int(short[best])
                counters["improvements_random"] += int(rand)
                with prof("prune"):
                    counters["deactivated"] += prune_dominated(tree, ctg, inc.cost, keep=path_nodes(tree, node))
                    informed = ctg.informed_cells(inc.cost) if p.informed else problem.world.free_cells()
        self.last_tree = tree  # for inspection and tests only; never read by solve
        self.last_incumbent = inc
        counters["nodes_active"] = int(tree.active.sum())
        return loop.result(problem, self.name, seed, tree=tree, params=p, extra={"sampler": self.sampler.name},
                           anytime=True)
