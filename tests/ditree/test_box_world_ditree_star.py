"""ditree-star on a BoxWorld with a tiny random-weight policy for dynobench's car with trailer: the
policy's crops come from the box world (exact point tests, envs.local_map) and the path validates."""

from __future__ import annotations

import numpy as np
import torch

from ditree.anytime import DiTreeStarParams, DiTreeStarPlanner
from ditree.policy import FlowPolicy, PolicyConfig
from envs.box_world import BoxWorld
from envs.goal import DiscGoal
from envs.problem import Problem
from envs.registry import make_robot
from planners.validate import validate

WORLD = BoxWorld((0.0, 0.0, 4.0, 3.0), np.array([[2.0, 1.9, 0.2, 2.2], [3.2, 0.6, 0.6, 0.3]]),
                 np.array([[1.0, 0.8, 0.3]]), "tiny")
CAP = {"epsilon": 0.3, "device": "cpu", "precision": "float32", "max_iterations": 60, "record_tree": False,
       "aim_distance_m": 0.0, "random_iters": 2}


def test_ditree_star_with_a_policy_plans_in_a_box_world():
    robot = make_robot("car1_v0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is faster on a shared machine
    try:
        torch.manual_seed(0)
        cfg = PolicyConfig(hidden_dim=32, num_blocks=1, map_channels=(4, 8), map_embed_dim=16, cond_dim=32,
                           time_embed_dim=8, vel_dim=len(robot.policy_feature_names), control_dim=robot.control_dim)
        policy = FlowPolicy(cfg, robot).eval()
        problem = Problem(robot, WORLD, robot.rest_state(0.6, 2.2, 0.0), DiscGoal(np.array([3.3, 2.2]), 0.2),
                          name="tiny")
        res = DiTreeStarPlanner(DiTreeStarParams(**CAP), policy=policy).solve(problem, time_limit=60.0, seed=1)
    finally:
        torch.set_num_threads(threads)
    assert res.success and res.counters["policy_calls"] > 0
    ok, why = validate(problem, res)
    assert ok, why


def test_learned_planners_connect_a_goal_state_by_trajectory_optimisation():
    """ditree and ditree-star with connect_tol: the policy searches the loose region, the optimiser
    ends the path at the exact goal state (a tiny random-weight policy; the connector is the point)."""
    from ditree.planner import DiTreeParams, DiTreePlanner
    from envs.goal import StateGoal

    robot = make_robot("unicycle1_v0")
    torch.manual_seed(0)
    cfg = PolicyConfig(hidden_dim=32, num_blocks=1, map_channels=(4, 8), map_embed_dim=16, cond_dim=32,
                       time_embed_dim=8, vel_dim=len(robot.policy_feature_names), control_dim=robot.control_dim)
    policy = FlowPolicy(cfg, robot).eval()
    goal = StateGoal.for_robot(robot, robot.rest_state(3.3, 2.3, np.pi / 2), 0.03)
    problem = Problem(robot, WORLD, robot.rest_state(0.6, 2.2, 0.0), goal, name="tiny")
    planners = [
        DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu", precision="float32", max_iterations=200,
                                   record_tree=False, connect_tol=0.3), policy=policy),
        DiTreeStarPlanner(DiTreeStarParams(**{**CAP, "max_iterations": 200}, connect_tol=0.3, return_first=True),
                          policy=policy),
    ]
    for planner in planners:
        res = planner.solve(problem, time_limit=60.0, seed=2)
        assert res.success and res.counters["connected"] >= 1, (planner.name, res.reason)
        ok, why = validate(problem, res)
        assert ok, (planner.name, why)
        assert goal.distance(res.states[-1]) <= 0.01 + 1e-9
