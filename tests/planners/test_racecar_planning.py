"""RRT and SST plan for the PyBullet racecar through the same code as for the car, and every path
they return is re-simulated in PyBullet from the start and found collision-free and at the goal."""

from __future__ import annotations

import numpy as np
import pytest

from envs.problem import Problem
from envs.racecar import Racecar
from envs.world import GridMap
from planners.rrt import KinodynamicRRT
from planners.samplers import UniformControlSampler
from planners.sst import SST
from planners.validate import finalize, validate

# an L-shaped corridor two cells wide at 2 m per cell
GRID = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [1, 0, 0, 0, 0, 1],
        [1, 0, 0, 0, 0, 1],
        [1, 1, 1, 0, 0, 1],
        [1, 1, 1, 0, 0, 1],
        [1, 1, 1, 1, 1, 1],
    ]
)


@pytest.fixture(scope="module")
def problem() -> Problem:
    world = GridMap(GRID, cell_size=2.0, name="ell")
    return Problem.from_cells(world, (1, 1), 0.0, (4, 3), robot=Racecar(), name="ell")


def test_rrt_plans_and_validates_in_physics(problem):
    res = finalize(problem, KinodynamicRRT(batch_size=16).solve(problem, time_limit=60.0, seed=0))
    assert res.success and res.validated, res.reason
    assert res.robot == "racecar" and res.states.shape[1] == 24 and res.controls.shape[1] == 2
    assert np.linalg.norm(res.states[-1, :2] - problem.goal) <= problem.goal_radius
    # tampering with one control breaks the PyBullet re-simulation
    bad = type(res).from_json(res.to_json())
    i = len(bad.controls) // 2
    bad.controls[i, 0] = 0.0 if bad.controls[i, 0] > 10.0 else 50.0
    ok, reason = validate(problem, bad)
    assert not ok and "re-simulation" in reason


def test_sst_grows_a_checked_tree(problem):
    """SST runs on the racecar (its speed feature from ``robot.speed``). The racecar accelerates
    slowly from rest, so SST needs extensions longer than the car's (0.5-1.5 s) to leave the root's
    witness disc; a few iterations only (see scripts/bench_racecar.py for solving)."""
    sampler = UniformControlSampler(min_steps=25, max_steps=75, min_hold=10, max_hold=40)
    sst = SST(batch_size=16, max_iterations=4, sampler=sampler)
    res = finalize(problem, sst.solve(problem, time_limit=60.0, seed=0))
    assert res.iterations == 4 and res.nodes > 1 and res.robot == "racecar"
    assert sst.last_tree.states.shape[1] == 24


def test_same_seed_same_path(problem):
    a = KinodynamicRRT(batch_size=16, max_iterations=3).solve(problem, 60.0, seed=3)
    b = KinodynamicRRT(batch_size=16, max_iterations=3).solve(problem, 60.0, seed=3)
    assert a.nodes == b.nodes and np.array_equal(a.states, b.states)
