"""DiTree follows the problem's robot: without a checkpoint it plans the racecar with the
checkpoint shipped for the racecar (and the racecar's batch size), the car with the car's."""

from __future__ import annotations

import numpy as np
import pytest

from ditree.registry import make_planner
from envs import validation_problem
from envs.problem import Problem
from envs.racecar import Racecar
from envs.registry import robot_spec
from envs.world import GridMap
from planners.validate import finalize

ROOM = np.array([[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=np.uint8)


@pytest.mark.requires_data
def test_one_planner_uses_each_robots_shipped_checkpoint():
    planner = make_planner("ditree", record_tree=False)
    racecar = Racecar()
    try:
        rc_problem = Problem.from_cells(GridMap(ROOM.copy(), 2.0, name="room"), start_cell=(2, 1), start_deg=0.0,
                                        goal_cell=(1, 3), robot=racecar, goal_radius=0.6, name="room")
        r = finalize(rc_problem, planner.solve(rc_problem, 60.0, 0))
    finally:
        racecar.close()
    assert r.success and r.validated, r.reason
    assert r.robot == "racecar" and r.extra["checkpoint"] == "racecar_d4rl_large"
    assert r.extra["params"]["batch_size"] == robot_spec("racecar").search.ditree_batch_size == 16
    assert r.counters["policy_calls"] > 0
    car_problem = validation_problem("val_maze_small")
    car = finalize(car_problem, planner.solve(car_problem, 30.0, 0))
    assert car.success and car.validated and car.extra["checkpoint"] == "car_d4rl_large_distilled"
    assert car.extra["params"]["batch_size"] == robot_spec("car").search.ditree_batch_size == 64
