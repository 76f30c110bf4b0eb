"""The planner registry and the plan() API."""

import numpy as np
import pytest

from ditree import available_planners, make_planner, plan, register_planner
from ditree.registry import _REGISTRY, parse_params
from envs.errors import DitreeInputError
from envs.problem import validation_problem
from planners.results import PlanResult
from planners.rrt import KinodynamicRRT


@pytest.fixture(scope="module")
def small():
    return validation_problem("val_maze_small")


def test_shipped_planners_are_registered():
    names = available_planners()
    assert {"rrt", "sst", "ompl-rrt", "ompl-kpiece", "ompl-est"} <= set(names)
    assert all(isinstance(d, str) and d for d in names.values())


@pytest.mark.requires_data
def test_plan_validates_and_fills_names(small):
    res = plan(small, planner="rrt", time_limit=30.0, seed=0)
    assert res.success and res.validated
    assert res.planner == "rrt" and res.seed == 0
    assert res.scenario == "val_maze_small" and res.map == "val_maze_7"
    assert res.lower_bound_s and res.duration_ratio >= 1.0


@pytest.mark.requires_data
def test_plan_params_reach_the_planner(small):
    a = plan(small, "rrt", 30.0, seed=2, batch_size=16, max_steps=30)
    assert a.extra["params"]["batch_size"] == 16
    assert a.success and a.counters["extensions"] % 16 == 0


@pytest.mark.requires_data
def test_failed_validation_is_a_failure(small):
    class Liar:
        """A planner whose 'path' drives straight into a wall."""

        name = "liar"

        def solve(self, problem, time_limit, seed):
            u = np.tile([10.0, 0.0], (125, 1))
            s = problem.robot.rollout(problem.start[None], u[None])[0]
            return PlanResult(success=True, planner=self.name, seed=seed, time_s=0.0, states=s, controls=u)

    register_planner("liar-test", lambda **kw: Liar(), "test planner that returns a colliding path")
    try:
        res = plan(small, "liar-test", 1.0, 0)
    finally:
        _REGISTRY.pop("liar-test")
    assert not res.success and not res.validated and "collides" in res.reason


@pytest.mark.requires_data
def test_unknown_planner_lists_known_ones(small):
    with pytest.raises(DitreeInputError, match=r"unknown planner 'nope'.*rrt.*sst"):
        plan(small, planner="nope")


def test_bad_params_are_input_errors():
    with pytest.raises(DitreeInputError, match="no parameter"):
        make_planner("rrt", speed=3)
    with pytest.raises(DitreeInputError, match="goal_bias"):
        make_planner("rrt", goal_bias=2.0)
    with pytest.raises(DitreeInputError, match="expected int"):
        parse_params("rrt", ["batch_size=many"])


def test_parse_params_types_by_dataclass():
    p = parse_params("sst", ["delta_s=0.3", "return_first=false", "batch_size=8", "max_steps=40"])
    assert p == {"delta_s": 0.3, "return_first": False, "batch_size": 8, "max_steps": 40}
    planner = make_planner("sst", **p)
    assert planner.params.delta_s == 0.3 and planner.sampler_for("car").params.max_steps == 40
    assert isinstance(make_planner("rrt"), KinodynamicRRT)


def test_ompl_planners_construct_lazily():
    planner = make_planner("ompl-kpiece")
    assert type(planner).__name__ == "OmplControlPlanner"


def test_plan_reports_the_planner_set_up_time_beside_the_planning_time(tmp_path):
    from envs.generators import generated_problem
    from planners.results import PlanResult

    res = plan(generated_problem("maze", 1, 9, 9), planner="rrt", time_limit=30.0, seed=0)
    assert res.setup_s is not None and 0.0 <= res.setup_s < 30.0
    again = PlanResult.from_json(res.to_json())
    assert again.setup_s == res.setup_s
    old = res.to_dict()
    del old["setup_s"]  # results written before the field existed still load
    assert PlanResult.from_dict(old).setup_s is None
