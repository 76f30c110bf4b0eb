"""The parameters of the anytime search (:class:`AnytimeParams`; ``ditree.anytime.DiTreeStarParams``
extends them with the policy sampler's)."""

from __future__ import annotations

from dataclasses import dataclass

from planners.base import check_search_params


@dataclass(frozen=True)
class AnytimeParams:
    """Parameters of :class:`planners.anytime.AnytimeRRT` (see that module's docstring for the two phases).

    ``batch_size``, ``goal_bias``, ``target_goal_prob``: as in :class:`planners.rrt.RRTParams`.
    ``heuristic``: cost-to-go for pruning and informed sampling ("geodesic" or "euclid");
    ``heuristic_scale``: factor on its grid term (see :class:`planners.cost_to_go.CostToGo`).
    ``delta_bn``: best-near radius in xy (m); ``delta_bn_state``: best-near radius (m) in SST's
    state features (:func:`planners.features.state_features`) for the random-control iterations (0 = use xy, the
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
    :class:`planners.aiming.AimedSampler` (0 = off). ``return_first``: stop at the first
    solution (then this is a plain RRT with aiming). ``max_iterations``: 0 = time limit only.
    ``connect_tol``: with a full-state goal tighter than this, search to a goal region of this
    tolerance (the robot's metric) and connect each hit to the exact goal by trajectory optimisation
    (:mod:`planners.connector`; 0 = off, search for the goal region as given). ``polish``: shorten every newly connected path by trajectory optimisation
    (:func:`planners.trajopt.polish`).
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
    connect_tol: float = 0.0
    polish: bool = False
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
