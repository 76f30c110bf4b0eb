"""The search-loop scaffold the tree planners share: deadline, iteration cap, goal hits, and a result
whose fields agree with the loop and the tree."""

import time

import numpy as np
import pytest

from envs.problem import Problem
from envs.world import GridMap
from planners.anytime import AnytimeRRT
from planners.rrt import KinodynamicRRT, RRTParams
from planners.search import EXTENSION_COUNTERS, SearchLoop
from planners.sst import SST
from planners.tree import Tree


def walled_in_problem() -> Problem:
    """The goal cell is free but enclosed by walls: no path exists."""
    grid = np.ones((7, 9), dtype=np.uint8)
    grid[1:6, 1:4] = 0  # the start room
    grid[3, 6] = 0  # the goal cell, walled in
    return Problem.from_cells(GridMap(grid, name="walled"), (3, 2), 0.0, (3, 6), name="walled_in")


def open_problem(start_cell=(3, 2), goal_cell=(3, 6)) -> Problem:
    grid = np.ones((7, 9), dtype=np.uint8)
    grid[1:6, 1:8] = 0
    return Problem.from_cells(GridMap(grid, name="open"), start_cell, 0.0, goal_cell, name="open")


PLANNERS = {
    "rrt": lambda **kw: KinodynamicRRT(batch_size=16, **kw),
    "sst": lambda **kw: SST(batch_size=16, **kw),
    "anytime": lambda **kw: AnytimeRRT(batch_size=16, **kw),
}


def test_running_counts_iterations_up_to_the_cap():
    loop = SearchLoop(60.0, max_iterations=3)
    assert [loop.running() for _ in range(5)] == [True, True, True, False, False]
    assert loop.iterations == 3 and loop.reason == "iteration limit 3 reached"


def test_running_stops_at_the_deadline():
    loop = SearchLoop(0.05)
    n = 0
    while loop.running():
        n += 1
        time.sleep(0.005)
    assert loop.elapsed() >= 0.05
    assert loop.iterations == n and 1 <= n <= 11
    assert loop.reason == "time limit 0.05 s reached"


def test_stop_ends_the_loop_without_a_reason_or_an_iteration():
    loop = SearchLoop(60.0, max_iterations=1)
    assert not loop.running(stop=True)
    assert loop.iterations == 0 and loop.reason == ""
    assert list(loop.counters) == list(EXTENSION_COUNTERS)
    assert list(SearchLoop(1.0, extra_counters=("pruned",)).counters) == [*EXTENSION_COUNTERS, "pruned"]


def test_goal_hits_keep_the_cheapest_and_the_result_replays_it():
    problem = open_problem()
    robot = problem.robot
    tree = Tree.for_problem(problem)
    controls = np.tile([[1.0, 0.1]], (3, 40, 1))
    states = robot.rollout(np.tile(problem.start, (3, 1)), controls)  # (3, 41, 6)
    ids = tree.add(np.zeros(3, dtype=np.int64), states, controls, np.array([30, 10, 20]))
    loop = SearchLoop(60.0)
    assert loop.goal_hits(tree, ids[[0, 2, 1]]) == 2  # the 10-step edge is the cheapest
    assert loop.incumbent.node == ids[1] and loop.incumbent.cost == pytest.approx(10 * robot.dt)
    assert loop.goal_hits(tree, ids[[0, 2]]) == -1  # costlier: not taken
    assert loop.goal_hits(tree, ids[:0]) == -1
    res = loop.result(problem, "test", 5, tree=tree, params=RRTParams(tree_stride=3), extra={"k": 1}, anytime=True)
    np.testing.assert_array_equal(res.controls, controls[1, :10])
    np.testing.assert_array_equal(res.states, states[1, :11])
    assert res.success and res.reason == "" and res.seed == 5 and res.planner == "test"
    assert res.nodes == len(tree) == 4 and res.iterations == 0 and res.robot == robot.name
    assert res.extra["k"] == 1 and res.extra["first_duration_s"] == pytest.approx(10 * robot.dt)
    assert len(res.extra["cost_history"]) == 1 and res.extra["time_total_s"] == pytest.approx(res.time_s, abs=1e-3)
    assert res.extra["params"]["tree_stride"] == 3 and len(res.tree_edges) == 3
    assert len(res.tree_edges[1]) == 1 + 10 // 3 + 1  # the parent, every 3rd state, the end
    assert loop.result(problem, "test", 5, tree=tree, params=RRTParams(record_tree=False)).tree_edges is None


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_tree_planners_respect_the_iteration_cap(name):
    problem = walled_in_problem()
    planner = PLANNERS[name](max_iterations=4)
    res = planner.solve(problem, time_limit=60.0, seed=0)
    assert not res.success and res.reason == "iteration limit 4 reached"
    assert res.iterations == 4 and res.nodes == len(planner.last_tree)
    assert res.states.shape == (0, problem.robot.state_dim)
    assert res.counters["accepted"] == res.nodes - 1  # pruned nodes stay in the tree, marked removed
    assert 0 < res.counters["extensions"] <= 4 * 16 and res.counters["sampler_calls"] > 0
    assert res.counters["steps_checked"] > 0 and "setup" in res.profile


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_tree_planners_respect_the_deadline(name):
    problem = walled_in_problem()
    t0 = time.perf_counter()
    res = PLANNERS[name]().solve(problem, time_limit=0.3, seed=0)
    assert time.perf_counter() - t0 < 0.3 + 0.5
    assert not res.success and res.reason == "time limit 0.3 s reached"
    assert res.iterations >= 1 and 0.3 <= res.time_s < 0.8


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_a_start_inside_the_goal_is_solved_without_iterations(name):
    problem = open_problem(goal_cell=(3, 2))
    res = PLANNERS[name]().solve(problem, time_limit=5.0, seed=0)
    assert res.success and res.iterations == 0 and res.reason == ""
    np.testing.assert_array_equal(res.states, problem.start[None])
    assert res.controls.shape == (0, problem.robot.control_dim)
