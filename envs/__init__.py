"""Robots and worlds: the DiTree car, occupancy-grid maps, scenarios, collision checking, OMPL spaces.

``envs`` imports neither ``planners`` nor ``ditree``.
"""

from envs.car import Car, CarParams, wrap_angle
from envs.collision import (
    AnalyticCollisionChecker,
    CollisionChecker,
    RolloutCheck,
    checked_rollout,
    make_checker,
    robot_collides,
)
from envs.errors import DitreeInputError, MapFormatError, ScenarioError
from envs.footprint import CAR_FOOTPRINT, Footprint
from envs.goal import DiscGoal, GoalRegion, StateGoal, goal_from_dict, state_distance
from envs.local_map import LocalMapSpec, TorchLocalMapper, local_maps, local_maps_torch
from envs.problem import (
    MAPS_DIR,
    TEST_SCENARIOS,
    VALIDATION_SCENARIOS,
    Problem,
    Scenario,
    load_problem,
    load_scenarios,
    problem_from_scenario,
    test_problem,
    validation_problem,
)
from envs.world import GridMap, random_maze

__all__ = [
    "CAR_FOOTPRINT",
    "MAPS_DIR",
    "TEST_SCENARIOS",
    "VALIDATION_SCENARIOS",
    "AnalyticCollisionChecker",
    "Car",
    "CarParams",
    "CollisionChecker",
    "DiscGoal",
    "DitreeInputError",
    "Footprint",
    "GoalRegion",
    "GridMap",
    "LocalMapSpec",
    "MapFormatError",
    "Problem",
    "RolloutCheck",
    "Scenario",
    "ScenarioError",
    "StateGoal",
    "TorchLocalMapper",
    "checked_rollout",
    "goal_from_dict",
    "load_problem",
    "load_scenarios",
    "local_maps",
    "local_maps_torch",
    "make_checker",
    "problem_from_scenario",
    "random_maze",
    "robot_collides",
    "state_distance",
    "test_problem",
    "validation_problem",
    "wrap_angle",
]
