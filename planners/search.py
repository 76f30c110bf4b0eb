"""The search-loop scaffold the tree planners share: deadline, iteration cap, profile, counters,
goal hits and the :class:`~planners.results.PlanResult` they end with.

A planner's ``solve`` builds one :class:`SearchLoop`, does its own set-up under
``loop.prof("setup")``, then runs its planner-specific step while :meth:`SearchLoop.running` says
to go on, hands every batch's goal nodes to :meth:`SearchLoop.goal_hits` and ends with
:meth:`SearchLoop.result`::

    loop = SearchLoop(time_limit, p.max_iterations, extra_counters=("dominated",))
    with loop.prof("setup"):
        tree = Tree.for_problem(problem)
        ...
    while loop.running(stop=loop.incumbent.found):
        ...                                          # one batch: sample, extend, insert
        loop.count_extensions(ext, tried=B, accepted=len(ids))
        loop.goal_hits(tree, ids[ext.goal_step[ok] >= 0])
    return loop.result(problem, self.name, seed, tree=tree, params=p, extra={...})

:class:`planners.rrt.KinodynamicRRT`, :class:`planners.sst.SST` and
:class:`planners.anytime.AnytimeRRT` (and through them DiTree and ``ditree-star``) use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from envs.problem import Problem
from planners.base import Profiler
from planners.incumbent import Incumbent
from planners.results import PlanResult, empty_path
from planners.tree import Tree

if TYPE_CHECKING:
    from planners.connector import GoalConnector
    from planners.rrt import ExtensionBatch

EXTENSION_COUNTERS = ("extensions", "accepted", "collided", "sampler_calls", "steps_checked")
"""Counters every tree planner keeps (:meth:`SearchLoop.count_extensions`)."""


def tree_result_edges(tree: Tree, stride: int, max_edges: int) -> list[np.ndarray]:
    """At most ``max_edges`` of the tree's edges as xy polylines (every ``stride``-th state), for plotting."""
    edges = tree.edges_xy(stride)
    return edges[:max_edges]


class SearchLoop:
    """The bookkeeping of one ``solve``: deadline, iteration count, profile, counters and incumbent.

    ``time_limit`` (s) counts from construction; ``max_iterations`` 0 means the time limit only.
    ``counters`` start at 0 for ``counters`` (default :data:`EXTENSION_COUNTERS`) then
    ``extra_counters``, in that order. ``incumbent``: the best goal node so far (cost = time from
    the root, s), fed by :meth:`goal_hits`.
    """

    def __init__(self, time_limit: float, max_iterations: int = 0, *,
                 counters: Iterable[str] = EXTENSION_COUNTERS, extra_counters: Iterable[str] = (),
                 connector: GoalConnector | None = None) -> None:
        self.t_begin = time.perf_counter()
        self.time_limit = float(time_limit)
        self.deadline = self.t_begin + self.time_limit
        self.max_iterations = int(max_iterations)
        self.iterations = 0
        self.reason = ""
        """Why the loop stopped without being told to (time or iteration limit); "" otherwise."""
        self.prof = Profiler()
        self.counters: dict[str, int] = dict.fromkeys((*counters, *extra_counters), 0)
        self.incumbent = Incumbent(history=[])
        self.connector = connector
        """The goal connector (:mod:`planners.connector`) when the planner searches a loose region."""
        if connector is not None:
            self.counters.update(connect_attempts=0, connected=0)

    def elapsed(self) -> float:
        """Seconds since the loop was built."""
        return time.perf_counter() - self.t_begin

    def running(self, stop: bool = False) -> bool:
        """Whether to run one more iteration (and count it): False when ``stop`` (the planner is
        done), when the deadline has passed or when ``max_iterations`` iterations have run; the
        last two set :attr:`reason`."""
        if stop:
            return False
        if time.perf_counter() >= self.deadline:
            self.reason = f"time limit {self.time_limit:g} s reached"
            return False
        if self.max_iterations and self.iterations >= self.max_iterations:
            self.reason = f"iteration limit {self.max_iterations} reached"
            return False
        self.iterations += 1
        return True

    def count_extensions(self, ext: ExtensionBatch, tried: int, accepted: int = 0) -> None:
        """Add one batch of :func:`planners.rrt.extend` to the counters: ``tried`` extensions,
        ``accepted`` new nodes, and the batch's collisions, sampler calls and checked steps."""
        c = self.counters
        c["extensions"] += int(tried)
        c["accepted"] += int(accepted)
        c["collided"] += int(ext.collided.sum())
        c["sampler_calls"] += ext.sampler_calls
        c["steps_checked"] += ext.steps_checked

    def goal_hits(self, tree: Tree, nodes: np.ndarray) -> int:
        """Offer the cheapest of ``nodes`` ``(K,)`` (tree nodes inside the goal region, from one
        batch) to the incumbent. Returns its index in ``nodes`` if it became the incumbent (it
        is cheaper by more than 1e-9 s), else -1.

        Every goal hit of every tree planner passes here: the one place to refine a hit (e.g.
        connect it to an exact goal state) before it becomes the incumbent."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if not len(nodes):
            return -1
        if self.connector is not None:
            return self._connect_hit(tree, nodes)
        k = int(np.argmin(tree.costs[nodes]))
        node = int(nodes[k])
        return k if self.incumbent.offer(node, float(tree.costs[node]), self.elapsed()) else -1

    def _connect_hit(self, tree: Tree, nodes: np.ndarray) -> int:
        """:meth:`goal_hits` with a goal connector: the cheapest untried hit that could improve on the
        incumbent is optimised to the exact goal (one optimisation per batch: its time counts); if
        that works, the node becomes the incumbent at the connected path's cost."""
        con = self.connector
        for k in np.argsort(tree.costs[nodes], kind="stable"):
            node = int(nodes[k])
            if node in con.tried:
                continue
            if float(tree.costs[node]) >= self.incumbent.cost - 1e-9:
                return -1
            with self.prof("trajopt"):
                path = con.connect(node, *tree.path_to(node))
            self.counters["connect_attempts"] = con.attempts
            self.counters["connected"] = con.connected
            if path is None:
                return -1
            cost = len(path[1]) * tree.dt
            return int(k) if self.incumbent.offer(node, cost, self.elapsed()) else -1
        return -1

    def search_problem(self, problem: Problem) -> Problem:
        """The problem to search: with a goal connector, the same problem with its goal widened to
        the connector's tolerance; else ``problem``."""
        return self.connector.search_problem if self.connector is not None else problem

    def start_in_goal(self, problem: Problem) -> bool:
        """Make the root (node 0) the incumbent, at cost 0, if the start already lies in the goal region."""
        if problem.goal_region.reached(problem.start):
            self.incumbent.offer(0, 0.0, 0.0)
            return True
        return False

    def result(
        self, problem: Problem, planner: str, seed: int, *, tree: Tree | None = None,
        path: tuple[np.ndarray, np.ndarray] | None = None, params: Any = None, extra: dict[str, Any] | None = None,
        anytime: bool = False,
    ) -> PlanResult:
        """The run's :class:`PlanResult` (not yet validated: see ``planners.validate.finalize``).

        The path is ``path`` (states, controls) when given, else the incumbent's tree path when
        there is one; success means there is a path. ``extra`` starts with ``params`` (as a
        dict) when given; ``anytime`` adds ``cost_history``, ``first_time_s``,
        ``first_duration_s`` and ``time_total_s`` (the incumbent's improvement curve, see
        :class:`~planners.incumbent.Incumbent`). The tree's edges are returned for plotting when
        ``params.record_tree`` (every ``params.tree_stride``-th state, at most
        ``params.max_tree_edges`` edges: the fields ``planners.base.check_search_params`` checks).
        """
        elapsed = self.elapsed()
        inc = self.incumbent
        if path is None and tree is not None and inc.found:
            connected = self.connector.paths.get(inc.node) if self.connector is not None else None
            path = connected if connected is not None else tree.path_to(inc.node)
        success = path is not None
        states, controls = path if success else empty_path(problem.robot)
        ex: dict[str, Any] = {}
        if params is not None:
            ex["params"] = asdict(params) if is_dataclass(params) else dict(params)
        ex.update(extra or {})
        if anytime:
            ex.update(cost_history=inc.history, first_time_s=inc.first_time_s, first_duration_s=inc.first_cost,
                      time_total_s=elapsed)
        return PlanResult(
            success=success,
            planner=planner,
            seed=seed,
            time_s=elapsed,
            iterations=self.iterations,
            nodes=len(tree) if tree is not None else 0,
            dt=problem.robot.dt,
            states=states,
            controls=controls,
            reason="" if success else self.reason,
            profile=self.prof.as_dict(),
            counters=self.counters,
            robot=problem.robot.name,
            extra=ex,
            tree_edges=(tree_result_edges(tree, params.tree_stride, params.max_tree_edges)
                        if tree is not None and getattr(params, "record_tree", False) else None),
        )
