"""Our Python planners inside OMPL's SimpleSetup and Benchmark (planners/ompl_adapter.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from ompl import base as ob
from ompl import tools as ot
from ompl import util as ou

from envs.collision import AnalyticCollisionChecker, checked_rollout
from envs.ompl_setup import make_setup, ompl_seed, quiet_ompl
from envs.problem import Problem, validation_problem
from envs.world import GridMap
from planners.ompl_adapter import EXACT_CHECK_SETTINGS, OmplPlannerAdapter
from planners.results import PlanResult


class RandomShooting:
    """A small real planner that knows nothing of OMPL: batches of piecewise-constant random control
    sequences rolled out from the start (every 0.02 s step checked) until one enters the goal disc."""

    name = "shooting"

    def __init__(self, batch: int = 256, pieces: int = 15, hold: int = 10) -> None:
        self.batch, self.pieces, self.hold = batch, pieces, hold

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        checker = AnalyticCollisionChecker(problem.world)
        x0 = np.tile(problem.start, (self.batch, 1))
        it = 0
        while time.perf_counter() - t0 < time_limit:
            it += 1
            u = np.repeat(problem.robot.sample_controls(rng, (self.batch, self.pieces)), self.hold, axis=1)
            rc = checked_rollout(problem.robot, checker, x0, u, problem.goal, problem.goal_radius)
            hits = np.nonzero(rc.first_goal >= 0)[0]
            if len(hits):
                i, t = hits[0], rc.first_goal[hits[0]]
                return PlanResult(
                    True,
                    self.name,
                    seed,
                    time.perf_counter() - t0,
                    iterations=it,
                    nodes=1,
                    states=rc.states[i, : t + 1],
                    controls=u[i, :t],
                )
        return PlanResult(False, self.name, seed, time.perf_counter() - t0, iterations=it, reason="time limit reached")


def _open_problem() -> Problem:
    grid = np.ones((6, 8), np.uint8)
    grid[1:5, 1:7] = 0
    return Problem.from_cells(GridMap(grid, 1.0, "open"), (3, 1), 0.0, (2, 4), name="open")


def _walled_goal_problem() -> Problem:
    grid = np.ones((5, 7), np.uint8)
    grid[1:4, 1:4] = 0
    grid[2, 5] = 0
    return Problem.from_cells(GridMap(grid, 1.0, "walled_goal"), (2, 2), 0.0, (2, 5), name="walled_goal")


def _solution_arrays(car, problem):
    path = car.ss.getSolutionPath()
    controls = car.path_controls(path)
    check = checked_rollout(
        problem.robot,
        AnalyticCollisionChecker(problem.world),
        problem.start[None],
        controls[None],
        problem.goal,
        problem.goal_radius,
    )
    return path, controls, check


def test_random_shooting_runs_inside_simple_setup():
    problem = _open_problem()
    car = make_setup(problem, EXACT_CHECK_SETTINGS)
    adapter = OmplPlannerAdapter(car, RandomShooting(), time_limit=10.0, seed=7)
    car.ss.setPlanner(adapter)
    with quiet_ompl():
        status = car.ss.solve(10.0)
    assert status.getStatus() == ob.PlannerStatus.EXACT_SOLUTION
    assert car.ss.haveExactSolutionPath()
    result = adapter.last_result
    assert result.success and result.seed == 7
    path, controls, check = _solution_arrays(car, problem)
    # runs of identical controls were merged: one OMPL control per 10-step piece (the last may be cut)
    assert path.getControlCount() == int(np.ceil(len(result.controls) / 10))
    np.testing.assert_array_equal(controls, result.controls)
    np.testing.assert_allclose(check.states[0], result.states, atol=1e-12)
    assert check.first_collision[0] == -1 and check.first_goal[0] == len(controls)
    # with propagation step = dt, OMPL's own check re-propagates every 0.02 s step of the path
    assert path.check()
    assert car.pdef.getSolutionCount() == 1


def test_seeds_follow_the_solve_count_or_ompl_rng():
    problem = _open_problem()
    car = make_setup(problem, EXACT_CHECK_SETTINGS)
    adapter = OmplPlannerAdapter(car, RandomShooting(), time_limit=5.0, seed=3)
    car.ss.setPlanner(adapter)
    with quiet_ompl():
        for _ in range(2):
            car.ss.clear()
            car.ss.solve(5.0)
    assert [r.seed for r in adapter.results] == [3, 4]

    drawn = []
    for _ in range(2):  # seed=None: drawn from OMPL's RNG, reproducible with ou.RNG.setSeed
        with quiet_ompl():
            ou.RNG.setSeed(ompl_seed(11))
            car = make_setup(problem, EXACT_CHECK_SETTINGS)
            adapter = OmplPlannerAdapter(car, RandomShooting(), time_limit=5.0)
            car.ss.setPlanner(adapter)
            car.ss.solve(5.0)
        drawn.append(adapter.last_result.seed)
    assert drawn[0] == drawn[1]


def test_failure_is_reported_as_timeout_within_the_time_limit():
    problem = _walled_goal_problem()
    car = make_setup(problem, EXACT_CHECK_SETTINGS)
    adapter = OmplPlannerAdapter(car, RandomShooting(), time_limit=0.5, seed=0)
    car.ss.setPlanner(adapter)
    t0 = time.perf_counter()
    with quiet_ompl():
        status = car.ss.solve(0.5)
    assert time.perf_counter() - t0 < 1.0
    assert status.getStatus() == ob.PlannerStatus.TIMEOUT
    assert not car.ss.haveSolutionPath()
    assert not adapter.last_result.success and adapter.last_result.reason == "time limit reached"


def test_arguments_are_validated_and_inexact_check_is_warned():
    problem = _open_problem()
    car = make_setup(problem)  # propagation step 0.1 s
    with pytest.raises(ValueError, match="time_limit"):
        OmplPlannerAdapter(car, RandomShooting(), time_limit=0)
    with pytest.raises(ValueError, match="seed"):
        OmplPlannerAdapter(car, RandomShooting(), time_limit=1.0, seed=-2)
    adapter = OmplPlannerAdapter(car, RandomShooting(), time_limit=1.0)
    assert adapter.getName() == "shooting"
    with pytest.warns(UserWarning, match="EXACT_CHECK_SETTINGS"):
        adapter.setup()
    exact = OmplPlannerAdapter(make_setup(problem, EXACT_CHECK_SETTINGS), RandomShooting(), time_limit=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact.setup()


# ---------------------------------------------------------------- the batched RRT of planners/rrt.py
@pytest.fixture(scope="module")
def rrt():
    return pytest.importorskip("planners.rrt", reason="planners/rrt.py (KinodynamicRRT) is not written yet")


@pytest.fixture(scope="module")
def maze():
    return validation_problem("val_maze_small")


@pytest.mark.requires_data
def test_kinodynamic_rrt_inside_simple_setup(rrt, maze):
    car = make_setup(maze, EXACT_CHECK_SETTINGS)
    adapter = OmplPlannerAdapter(car, rrt.KinodynamicRRT(), time_limit=60.0, seed=0)
    car.ss.setPlanner(adapter)
    with quiet_ompl():
        status = car.ss.solve(60.0)
    assert status.getStatus() == ob.PlannerStatus.EXACT_SOLUTION, adapter.last_result.reason
    path, controls, check = _solution_arrays(car, maze)
    assert path.check()
    np.testing.assert_array_equal(controls, adapter.last_result.controls)
    assert check.first_collision[0] == -1
    assert np.linalg.norm(check.states[0, -1, :2] - maze.goal) <= maze.goal_radius


@pytest.mark.requires_data
def test_kinodynamic_rrt_in_ompl_benchmark_to_sqlite(rrt, maze, tmp_path):
    with quiet_ompl():
        ou.RNG.setSeed(ompl_seed(0))
        car = make_setup(maze, EXACT_CHECK_SETTINGS)
        bench = ot.Benchmark(car.ss, "val_maze_small")
        adapter = OmplPlannerAdapter(car, rrt.KinodynamicRRT(), time_limit=30.0)
        bench.addPlanner(adapter)
        bench.benchmark(
            ot.Request(
                maxTime=30.0, maxMem=4096.0, runCount=2, displayProgress=False, saveConsoleOutput=False, simplify=False
            )
        )
        log = tmp_path / "val_maze_small.log"
        assert bench.saveResultsToFile(str(log))
    assert len(adapter.results) == 2 and all(r.success for r in adapter.results)
    assert adapter.results[0].seed != adapter.results[1].seed
    text = log.read_text()
    assert "Experiment val_maze_small" in text and "2 runs per planner" in text
    # the wheel ships OMPL's ompl_benchmark_statistics (module ompl.ompl_benchmark_statistics)
    db = tmp_path / "bench.db"
    subprocess.run(
        [sys.executable, "-m", "ompl.ompl_benchmark_statistics", "-d", str(db), str(log)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with sqlite3.connect(db) as con:
        names = [n for (n,) in con.execute("select name from plannerConfigs")]
        runs = con.execute("select solved, correct_solution, time from runs").fetchall()
    assert names == ["control_rrt"]
    assert len(runs) == 2
    assert all(solved == 1 and correct == 1 and 0 < t <= 30.5 for solved, correct, t in runs)


def test_kinodynamic_rrt_inside_simple_setup_reaches_a_goal_state(rrt, maze):
    import math

    from envs.goal import StateGoal

    goal = StateGoal.for_robot(maze.robot, maze.robot.rest_state(*maze.goal, math.pi / 2), 0.5)
    problem = maze.with_goal(goal)
    car = make_setup(problem, EXACT_CHECK_SETTINGS)
    adapter = OmplPlannerAdapter(car, rrt.KinodynamicRRT(), time_limit=60.0, seed=1)
    car.ss.setPlanner(adapter)
    with quiet_ompl():
        status = car.ss.solve(60.0)
    assert status.getStatus() == ob.PlannerStatus.EXACT_SOLUTION, adapter.last_result.reason
    # the wrapped planner was handed the state goal (not a disc), and OMPL agrees the path reaches it
    path = car.ss.getSolutionPath()
    end = car.to_array(path.getState(path.getStateCount() - 1))
    assert goal.reached(end) and car.goal.isSatisfied(path.getState(path.getStateCount() - 1))
    assert car.goal.distanceGoal(path.getState(path.getStateCount() - 1)) == pytest.approx(float(goal.distance(end)))
    assert path.check()
