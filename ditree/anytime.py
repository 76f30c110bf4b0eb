"""``ditree-star``: anytime DiTree, which keeps improving its path (time to the goal) until the limit.

The first solution comes from the DiTree search (the policy as the RRT's control sampler, see
docs/policy.md, 'The planner');
then the search goes on with time-to-reach as the cost (:class:`planners.anytime.AnytimeRRT`):
best-near parent selection, informed samples, and pruning of every node whose time from the start
plus an admissible time to the goal cannot beat the incumbent. The policy is what makes the
improvement fast, because it is *aimed* (re-aimed before every 8-step chunk,
:class:`planners.anytime.AimedSampler`):

- at the goal (the paper's DGB) or at the informed sample, for ordinary tree extensions;
- down the grid geodesic to the goal a few cells ahead (the route the expert it imitates drove);
- along the incumbent: from one of its nodes, the policy pursues the incumbent's later waypoints
  with a lookahead of 0.75-2.5 m, i.e. it is asked to reconnect later waypoints from earlier ones
  and drive the rest of the way. Such a shortcut is accepted only if the rollout, checked at every
  0.02 s step like any extension, enters the goal region sooner than the incumbent did; it then
  becomes a branch of the tree (split into nodes that later extensions and shortcuts start from).

Between two policy iterations, ``random_iters`` cheap iterations with random piecewise-constant
controls refine the tree locally (SST's Monte-Carlo propagation with the same best-near selection,
informed samples and pruning): the policy drives like the expert it imitates (2-4 m/s, slowing for
curves), and random controls find the last seconds it leaves (with them the final paths were
shorter on every scenario tried: docs/benchmarks.md, 'ditree-star').

Every improved path is an exact tree path and passes ``planners.validate`` like any result.
``result.extra``: ``cost_history`` = ``[[t_s, duration_s], ...]`` (first solution, then every
improvement; the last is the returned path's), ``first_time_s``, ``first_duration_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ditree.planner import PolicyTreePlanner, policy_sampler_params
from ditree.policy import FlowPolicy
from ditree.sampler import PolicySamplerParams, check_threads
from envs.problem import Problem
from planners.anytime import AnytimeParams, AnytimeRRT
from planners.results import PlanResult


@dataclass(frozen=True)
class DiTreeStarParams(AnytimeParams):
    """Parameters of :class:`DiTreeStarPlanner`: the search's (:class:`planners.anytime.AnytimeParams`,
    with ``random_iters`` 50 and ``aim_distance_m`` 10 m here) plus the policy sampler's.

    Search: ``batch_size``, ``goal_bias``,
    ``target_goal_prob``, ``heuristic``, ``heuristic_scale``, ``delta_bn``, ``delta_bn_state``, ``informed``, ``p_shortcut``,
    ``p_geodesic``, ``p_geodesic_first``, ``initial_dive``, ``random_iters`` (50: random-control
    refinement iterations per policy iteration after the first path), ``dive_steps``, ``lookahead_cells_min/max``, ``lookahead_m_min/max``, ``max_rollout_steps``,
    ``backoff_steps``, ``aim_distance_m`` (10 m: the policy, trained to drive to far goals,
    slows down near its target), ``return_first``, ``max_iterations``. Policy sampler (see
    :class:`ditree.sampler.PolicySamplerParams`): ``n_chunks``, ``epsilon``, ``num_flow_steps``,
    ``device``; ``checkpoint`` (None = the shipped one); ``threads``: torch CPU threads while solving
    (as :class:`ditree.planner.DiTreeParams`).

    ``batch_size`` 32 (the inherited :class:`planners.anytime.AnytimeParams` default, not DiTree's
    64) and ``p_geodesic_first`` 0.75 gave the fastest first solutions on the 15 test scenarios
    among the values tried (docs/benchmarks.md, 'ditree-star').
    """

    random_iters: int = 50
    aim_distance_m: float = 10.0
    n_chunks: int | None = None
    epsilon: float = 0.05
    num_flow_steps: int = 1
    device: str = "auto"
    precision: str = "auto"
    checkpoint: str | None = None
    threads: int | None = 1

    def anytime_params(self) -> AnytimeParams:
        return AnytimeParams(**{f.name: getattr(self, f.name) for f in fields(AnytimeParams)})

    def sampler_params(self, robot: str | None = None) -> PolicySamplerParams:
        """The sampler's parameters for planning with ``robot`` (its ``n_chunks`` if unset)."""
        return policy_sampler_params(self, robot)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sampler_params()
        check_threads(self.threads, "DiTreeStarParams")


class DiTreeStarPlanner(PolicyTreePlanner):
    """Anytime DiTree (see module docstring). ``policy`` defaults to the checkpoint in ``params``."""

    def __init__(self, params: DiTreeStarParams | None = None, policy: FlowPolicy | None = None, *,
                 name: str = "ditree-star") -> None:
        params = params or DiTreeStarParams()
        super().__init__(params, policy, name, lambda sampler, robot: AnytimeRRT(params.anytime_params(), sampler, name=name))

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        result = super().solve(problem, time_limit, seed)
        self.last_incumbent = self._search.last_incumbent
        return result


def make_ditree_star(**params: Any) -> DiTreeStarPlanner:
    """Registry factory: ``make_planner("ditree-star", p_shortcut=0.5, checkpoint="path.pt", ...)``."""
    if params.get("checkpoint") is not None:
        params["checkpoint"] = str(Path(params["checkpoint"]))
    return DiTreeStarPlanner(DiTreeStarParams(**params))
