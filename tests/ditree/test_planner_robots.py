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


def test_the_shipped_unicycle_policy_plans_a_held_out_generated_problem_with_its_robots_extension():
    """unicycle1_v0's checkpoint: 2 calls of 16 executed steps per extension (its registered defaults),
    the goal's heading given to goal-aimed rows, a validated path to a full-state goal."""
    from ditree.api import plan
    from ditree.eval.heldout import heldout_seed
    from ditree.planner import DiTreeParams
    from envs.box_generators import box_problem
    from envs.registry import make_robot

    robot = make_robot("unicycle1_v0")
    assert DiTreeParams().sampler_params("unicycle1_v0").n_chunks == 2
    assert DiTreeParams().sampler_params("car").n_chunks == DiTreeParams(n_chunks=3).sampler_params("unicycle1_v0").n_chunks + 5
    problem = box_problem("corridor", heldout_seed(3), robot)
    res = plan(problem, "ditree", time_limit=20.0, seed=0)
    assert res.success and res.validated, res.reason
    assert res.counters["policy_calls"] > 0 and problem.goal_region.reached(res.states[-1:])[0]
