"""Robots and worlds: the DiTree car, occupancy-grid maps, scenarios, collision checking, OMPL spaces.

``envs`` imports neither ``planners`` nor ``ditree``.
"""

from envs.box_world import BoxWorld
from envs.car import Car, CarParams, wrap_angle
from envs.collision import (
    AnalyticCollisionChecker,
    CollisionChecker,
    RolloutCheck,
    checked_rollout,
    make_checker,
    robot_collides,
)
from envs.errors import DataDirError, DitreeInputError, MapFormatError, ScenarioError
from envs.footprint import CAR_FOOTPRINT, Footprint
from envs.generators import generate, generated_problem, random_start_goal
from envs.goal import DiscGoal, GoalRegion, StateGoal, goal_from_dict, state_distance
from envs.local_map import LocalMapSpec, TorchLocalMapper, local_maps, local_maps_torch
from envs.problem import (
    Problem,
    Scenario,
    load_problem,
    load_scenarios,
    problem_from_scenario,
    suite_problem,
    test_problem,
    validation_problem,
)
from envs.suites import data_dir, suite_dir, suite_map
from envs.world import GridMap, World, random_maze

__all__ = [
    "CAR_FOOTPRINT",
    "AnalyticCollisionChecker",
    "BoxWorld",
    "Car",
    "CarParams",
    "CollisionChecker",
    "DataDirError",
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
    "World",
    "checked_rollout",
    "data_dir",
    "generate",
    "generated_problem",
    "goal_from_dict",
    "load_problem",
    "load_scenarios",
    "local_maps",
    "local_maps_torch",
    "make_checker",
    "problem_from_scenario",
    "random_maze",
    "random_start_goal",
    "robot_collides",
    "state_distance",
    "suite_dir",
    "suite_map",
    "suite_problem",
    "test_problem",
    "validation_problem",
    "wrap_angle",
]
