"""The DiTree planner: the batched kinodynamic RRT core with the flow-matching policy as its
control sampler (docs/policy.md, 'The planner').

Per iteration, for a batch of B extensions at once:

1. B random targets uniform over the free area (the goal with probability ``goal_bias`` = 0.15);
2. the nearest tree node of each in xy;
3. the policy's target is the goal with probability ``target_goal_prob`` = 0.85 (the paper's
   "DGB"), else the random target;
4. a 64-step extension = 8 closed-loop policy calls of 8 executed controls, each call batched over
   every extension still alive, the local map re-cropped before each, the footprint and the goal
   checked at every 0.02 s step;
5. on collision the extension is dropped (or truncated to its last collision-free chunk boundary,
   ``on_collision="truncate"``); the search stops when an extension enters the goal region.

Everything generic lives in ``planners.rrt``; this module only wires the learned sampler in and
splits its time into ``crop`` and ``policy`` in the result's profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ditree.policy import FlowPolicy, load_policy
from ditree.sampler import PolicyControlSampler, PolicySamplerParams, check_threads, resolve_device, torch_threads
from envs.problem import Problem
from envs.registry import SearchDefaults, robot_spec
from planners.results import PlanResult
from planners.rrt import KinodynamicRRT, RRTParams


def robot_batch_size(batch_size: int | None, robot: str) -> int:
    """``batch_size``, or, when it is None, the registered ``ditree_batch_size`` of the robot named
    ``robot`` (``envs.registry.SearchDefaults``: the car 64, the racecar 16)."""
    return int(batch_size) if batch_size is not None else robot_spec(robot).search.ditree_batch_size


@dataclass(frozen=True)
class DiTreeParams:
    """Parameters of the DiTree planner; defaults are the paper's where it gives them.

    ``batch_size``: extensions grown together per iteration (one policy call per chunk for all of
    them; see below); ``goal_bias``: probability that the random target is the goal (0.15); ``target_goal_prob``:
    probability that the policy aims at the goal rather than the random target (0.85);
    ``on_collision``: "drop" (the paper) or "truncate"; ``collision_backend``: checker used during
    search ("analytic"; every returned path is re-checked with PyBullet); ``checkpoint``: policy
    checkpoint path (None = the shipped one); ``connect_tol``: search a full-state goal to this
    tolerance and connect it exactly by trajectory optimisation (:mod:`planners.connector`; 0 = off);
    ``threads``: torch CPU threads while solving (None = leave
    torch's setting; see :func:`ditree.sampler.torch_threads`). Sampler settings (``precision``, ``cuda_graph``, ...):
    see :class:`PolicySamplerParams`.

    Overlapping the policy with the CPU (``planners.rrt.extend``), both off by default:
    ``pipeline_groups`` splits each batch into this many groups whose policy calls run while the
    other groups are rolled out and checked; ``speculate`` asks for each chunk's successor before
    the chunk's collision check, so that the call runs during the check. Neither paid on an H100
    with CUDA graphs (docs/benchmarks.md, 'Overlapping the policy with the CPU'): with graphed calls
    the GPU work per call is small next to the CPU's rollouts and checks, so the CPU is the bound.
    On a CPU a call computes before it returns, so there is nothing to overlap.

    ``batch_size`` None (the default) takes the planned robot's registered ``ditree_batch_size``
    (``envs.registry.SearchDefaults``): 64 for the car (the best mean and tail time to solution on
    the validation scenarios, on a CPU and on a GPU), 16 for the racecar, whose physics dominates its
    time, so smaller batches reach the goal sooner (docs/benchmarks.md, 'DiTree batch size').
    """

    batch_size: int | None = None
    goal_bias: float = 0.15
    target_goal_prob: float = 0.85
    on_collision: str = "drop"
    collision_backend: str = "analytic"
    record_tree: bool = True
    max_iterations: int = 0
    n_chunks: int | None = None
    epsilon: float = 0.05
    num_flow_steps: int = 1
    device: str = "auto"
    execute_steps: int = 0
    precision: str = "auto"
    cuda_graph: bool = True
    pipeline_groups: int = 1
    speculate: bool = False
    checkpoint: str | None = None
    threads: int | None = 1
    connect_tol: float = 0.0

    def rrt_params(self, robot: str = "car") -> RRTParams:
        """The tree search's parameters for planning with ``robot`` (its batch size if unset)."""
        return RRTParams(
            batch_size=robot_batch_size(self.batch_size, robot), goal_bias=self.goal_bias, target_goal_prob=self.target_goal_prob,
            collision_backend=self.collision_backend, on_collision=self.on_collision,
            record_tree=self.record_tree, max_iterations=self.max_iterations, groups=self.pipeline_groups,
            speculate=self.speculate, connect_tol=self.connect_tol,
        )

    def sampler_params(self, robot: str | None = None) -> PolicySamplerParams:
        """The sampler's parameters for planning with ``robot`` (its ``n_chunks`` if unset)."""
        return policy_sampler_params(self, robot)

    def __post_init__(self) -> None:
        if not 1 <= self.pipeline_groups <= PolicyControlSampler.max_in_flight:
            raise ValueError(f"DiTreeParams.pipeline_groups must lie in 1..{PolicyControlSampler.max_in_flight}, "
                             f"got {self.pipeline_groups}")
        self.rrt_params()  # validates the shared fields with RRTParams' messages
        self.sampler_params()
        check_threads(self.threads, "DiTreeParams")


def policy_sampler_params(p: Any, robot: str | None = None) -> PolicySamplerParams:
    """The :class:`PolicySamplerParams` fields of a planner's parameter dataclass; an unset
    ``n_chunks`` (None) is the registered ``ditree_n_chunks`` of the robot named ``robot``
    (``envs.registry.SearchDefaults``; 8 when no robot is named)."""
    n_chunks = p.n_chunks if p.n_chunks is not None else (
        robot_spec(robot).search.ditree_n_chunks if robot is not None else SearchDefaults().ditree_n_chunks)
    return PolicySamplerParams(
        n_chunks=n_chunks, epsilon=p.epsilon, num_flow_steps=p.num_flow_steps, device=p.device,
        execute_steps=getattr(p, "execute_steps", 0), precision=getattr(p, "precision", "auto"),
        cuda_graph=getattr(p, "cuda_graph", True),
    )


def record_policy_stats(result: PlanResult, sampler: PolicyControlSampler, policy: FlowPolicy,
                        checkpoint: str | None) -> PlanResult:
    """Split the sampler's time into crop and policy (phases stay disjoint) and count policy calls."""
    s = sampler.seconds
    result.profile["sampling"] = max(0.0, result.profile.get("sampling", 0.0) - s["crop"] - s["policy"])
    result.profile["crop"] = s["crop"]
    result.profile["policy"] = s["policy"]
    if s.get("capture"):
        result.profile["capture"] = s["capture"]
        result.profile["policy"] = max(0.0, s["policy"] - s["capture"])
    result.counters["policy_calls"] = sampler.policy_calls
    result.extra["checkpoint"] = policy.metadata.get("name") or (
        Path(policy.source).stem if policy.source else str(checkpoint or "shipped"))
    result.extra["device"] = str(policy.device)
    result.extra["precision"] = str(sampler.dtype).removeprefix("torch.")
    return result


class PolicyTreePlanner:
    """A tree search (any Planner built by ``make_search(sampler, robot_name)``) whose control sampler is the
    policy; loads the policy from ``params.checkpoint`` unless one is given and adds the policy's
    time split and call count to every result. DiTree and anytime DiTree are this with their search.

    With neither a policy nor ``params.checkpoint``, the planner uses the checkpoint shipped for the
    problem's robot (the car's until it meets another robot; each robot's policy is loaded once).
    Each policy's sampler is warmed up when it is loaded (:meth:`PolicyControlSampler.warm_up`), so
    that its one-off network set-up counts in ``ditree.api.plan``'s ``setup_s``, not in a plan's
    ``time_s``."""

    def __init__(self, params: Any, policy: FlowPolicy | None, name: str, make_search) -> None:
        self.params = params
        self.name = name
        self._make_search = make_search
        self._follow_robot = policy is None and params.checkpoint is None
        self._by_robot: dict[str, tuple[FlowPolicy, PolicyControlSampler, Any]] = {}
        with torch_threads(getattr(params, "threads", 1)):  # loading too: under load, two threads wait on each other
            if policy is None:
                policy = load_policy(params.checkpoint, device=resolve_device(params.device))
            self._use(policy)

    def _use(self, policy: FlowPolicy) -> None:
        if policy.robot.name not in self._by_robot:
            sampler = PolicyControlSampler(policy, self.params.sampler_params(policy.robot.name))
            search = self._make_search(sampler, policy.robot.name)
            sampler.warm_up(search.params.batch_size)  # the first plan's network set-up, now
            self._by_robot[policy.robot.name] = (policy, sampler, search)
        self.policy, self.sampler, self._search = self._by_robot[policy.robot.name]

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        robot = problem.robot.name
        with torch_threads(getattr(self.params, "threads", 1)):
            if self._follow_robot and robot != self.policy.robot.name:
                if robot in self._by_robot:
                    self._use(self._by_robot[robot][0])
                else:
                    self._use(load_policy(robot=robot, device=resolve_device(self.params.device)))
            result = self._search.solve(problem, time_limit, seed)
        self.last_tree = self._search.last_tree
        return record_policy_stats(result, self.sampler, self.policy, self.params.checkpoint)


class DiTreePlanner(PolicyTreePlanner):
    """DiTree (see module docstring). ``policy`` defaults to the checkpoint in ``params``."""

    def __init__(self, params: DiTreeParams | None = None, policy: FlowPolicy | None = None, *,
                 name: str = "ditree") -> None:
        params = params or DiTreeParams()
        super().__init__(
            params, policy, name, lambda sampler, robot: KinodynamicRRT(params.rrt_params(robot), sampler, name=name)
        )


def make_ditree(**params: Any) -> DiTreePlanner:
    """Registry factory: ``make_planner("ditree", batch_size=64, checkpoint="path.pt", ...)``."""
    if params.get("checkpoint") is not None:
        params["checkpoint"] = str(Path(params["checkpoint"]))
    return DiTreePlanner(DiTreeParams(**params))

