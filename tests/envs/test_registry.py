"""The robot registry (envs/registry.py): registration, construction, errors, and the planners
reading their per-robot defaults from it (never another robot's values)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from envs.car import Car, CarParams
from envs.errors import DitreeInputError
from envs.problem import Problem, validation_problem
from envs.registry import (
    PolicyDefaults,
    RobotSpec,
    SearchDefaults,
    make_robot,
    register_robot,
    registered_robots,
    robot_spec,
    unregister_robot,
)
from envs.world import GridMap


class SlowCar(Car):
    """The car under another name (a variant registered with other defaults)."""

    name = "slow_car"


@pytest.fixture
def slow_car():
    spec = register_robot(RobotSpec(name="slow_car", entry_point=SlowCar, params_type=CarParams,
                                    search=SearchDefaults(sst_batch_size=8, delta_bn=0.7, ditree_batch_size=4),
                                    map_cell_size=1.5, goal_tolerance=0.8))
    yield spec
    unregister_robot("slow_car")


def test_builtins_and_their_defaults():
    assert registered_robots()[:2] == ("car", "racecar")
    car, rc = robot_spec("car"), robot_spec("racecar")
    assert (car.map_cell_size, rc.map_cell_size) == (1.0, 2.0)
    assert (car.search.ditree_batch_size, rc.search.ditree_batch_size) == (64, 16)
    assert (car.search.sst_batch_size, rc.search.delta_bn, rc.search.extension.max_steps) == (128, 2.0, 75)
    assert (rc.policy.map_resolution, rc.policy.target_scale_m) == (0.4, 40.0)
    assert (car.checkpoint, rc.checkpoint) == ("car_d4rl_large_distilled", "racecar_d4rl_large")
    assert car.goal_tolerance == rc.goal_tolerance == 0.5
    assert (car.policy.pred_horizon, car.policy.action_horizon) == (64, 8)
    uni = robot_spec("unicycle1_v0")  # 0.1 s steps: 1.6 s predicted and executed per call, 2 calls per extension
    assert (uni.policy.pred_horizon, uni.policy.action_horizon, uni.search.ditree_n_chunks) == (16, 16, 2)
    assert (car.search.ditree_n_chunks, uni.checkpoint, robot_spec("unicycle1_v2").checkpoint) == (
        8, "unicycle1_v0_boxworlds", "unicycle1_v2_boxworlds")
    assert robot_spec("unicycle").checkpoint is None  # the README's example robot (tests/conftest.py) ships none
    with pytest.raises(ValueError, match="ditree_n_chunks"):
        SearchDefaults(ditree_n_chunks=0)
    with pytest.raises(ValueError, match="action_horizon"):
        PolicyDefaults(pred_horizon=4, action_horizon=8)


def test_make_robot_with_parameters():
    assert make_robot("car").params == CarParams()
    assert make_robot("car", CarParams(C2=12.0)).params.C2 == 12.0
    assert make_robot("car", {"C2": 12.0}).params.C2 == 12.0
    with pytest.raises(DitreeInputError, match="bad parameters for robot 'car'"):
        make_robot("car", {"mass": 1.0})
    with pytest.raises(DitreeInputError, match="expected a dict or a CarParams"):
        make_robot("car", [1, 2])


def test_unknown_names_fail_with_one_line():
    with pytest.raises(DitreeInputError) as e:
        make_robot("carr")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("unknown robot 'carr' (did you mean 'car'?); registered robots: car, racecar")
    with pytest.raises(DitreeInputError, match="unknown robot 'zzz'; registered"):
        robot_spec("zzz")


def test_registration_rules(slow_car):
    assert registered_robots()[-1] == "slow_car" and make_robot("slow_car").name == "slow_car"
    register_robot(slow_car)  # the same spec again is harmless (a module imported twice)
    with pytest.raises(DitreeInputError, match="already registered"):
        register_robot(dataclasses.replace(slow_car, map_cell_size=3.0))
    register_robot(dataclasses.replace(slow_car, map_cell_size=3.0), replace=True)
    assert robot_spec("slow_car").map_cell_size == 3.0
    with pytest.raises(ValueError, match="entry_point"):
        RobotSpec(name="x", entry_point="no_colon")
    with pytest.raises(ValueError, match="sst_batch_size"):
        SearchDefaults(sst_batch_size=0)
    with pytest.raises(TypeError, match="RobotSpec"):
        register_robot({"name": "x"})


def test_entry_point_strings_load_lazily():
    spec = RobotSpec(name="car_by_string", entry_point="envs.car:Car", params_type="envs.car:CarParams")
    assert spec.make({"C2": 11.0}).params.C2 == 11.0
    with pytest.raises(DitreeInputError, match="cannot load entry point 'envs.car:Nope'"):
        RobotSpec(name="x", entry_point="envs.car:Nope").make()


def test_planners_read_the_registered_defaults(slow_car):
    from ditree.planner import robot_batch_size
    from planners.anytime import feature_weights
    from planners.sst import SST, SSTParams

    assert SSTParams().resolved("slow_car").batch_size == 8 and SSTParams().resolved("slow_car").delta_bn == 0.7
    assert SSTParams(delta_bn=2.5).resolved("slow_car").delta_bn == 2.5  # set values stay
    assert robot_batch_size(None, "slow_car") == 4 and robot_batch_size(32, "slow_car") == 32
    assert feature_weights(make_robot("racecar")) == (0.5, 0.2)
    # maps load at the robot's cell size with its goal tolerance
    p = validation_problem("val_maze_small", robot=make_robot("slow_car"))
    assert p.world.cell_size == 1.5 and p.goal_radius == 0.8
    # a solve uses them: SST's batch is the registered one
    r = SST(max_iterations=3).solve(p, 10.0, 0)
    assert r.extra["params"]["batch_size"] == 8


def test_an_unregistered_robot_never_gets_the_cars_values():
    from planners.sst import SST

    class Ghost(Car):
        name = "ghost"

    world = GridMap(np.array([[1] * 5, [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1] * 5]), 1.0, name="room")
    problem = Problem.from_cells(world, (1, 1), 0.0, (2, 3), robot=Ghost(), name="room")
    with pytest.raises(DitreeInputError, match="unknown robot 'ghost'"):
        SST().solve(problem, 1.0, 0)
