"""ditree-star (anytime DiTree) with a tiny random-weight policy: the search, not the network,
must carry it. Its path only improves, every improved path validates, same seed + iteration cap =
same path, and it plans through the registry and the public API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ditree.anytime import DiTreeStarParams, DiTreeStarPlanner
from ditree.api import plan
from ditree.policy import FlowPolicy, PolicyConfig, save_policy
from ditree.registry import available_planners
from envs import validation_problem
from planners.results import PlanResult
from planners.validate import validate

# aim_distance_m=0: a random-weight policy does not slow down near its target (the shipped one does)
# precision float32: the iteration cap was calibrated with float32 (bfloat16 draws another random tree)
CAP = {"epsilon": 0.3, "device": "cpu", "precision": "float32", "max_iterations": 45, "record_tree": False, "aim_distance_m": 0.0,
       "random_iters": 2}


@pytest.fixture(scope="module")
def problem():
    return validation_problem("val_maze_small")


@pytest.fixture(scope="module")
def tiny_policy():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on a shared 2-core machine make tiny networks far slower
    torch.manual_seed(0)
    cfg = PolicyConfig(hidden_dim=32, num_blocks=1, map_channels=(4, 8), map_embed_dim=16, cond_dim=32, time_embed_dim=8)
    yield FlowPolicy(cfg).eval()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(problem, tiny_policy):
    planner = DiTreeStarPlanner(DiTreeStarParams(**CAP), policy=tiny_policy)
    return planner, planner.solve(problem, time_limit=120.0, seed=1)


@pytest.mark.requires_data
def test_improves_and_every_improved_path_validates(problem, run):
    planner, res = run
    hist = np.array(res.extra["cost_history"])
    assert res.success and len(hist) >= 2, f"expected a first path and an improvement, got {hist.tolist()}"
    assert (np.diff(hist[:, 1]) < 0).all() and (np.diff(hist[:, 0]) >= 0).all()
    assert (res.extra["first_time_s"], res.extra["first_duration_s"]) == tuple(hist[0])
    assert res.path_duration_s == pytest.approx(hist[-1, 1]) and res.path_duration_s < hist[0, 1]
    assert res.counters["policy_calls"] > 0 and res.counters["shortcut_rows"] > 0
    for node, (_, cost) in zip(planner.last_incumbent.nodes, hist):
        states, controls = planner.last_tree.path_to(node)
        r = PlanResult(success=True, planner="ditree-star", seed=1, time_s=0.0, states=states, controls=controls)
        ok, why = validate(problem, r)
        assert ok, why
        assert r.path_duration_s == pytest.approx(cost)


@pytest.mark.requires_data
def test_same_seed_same_path(problem, tiny_policy, run):
    _, a = run
    b = DiTreeStarPlanner(DiTreeStarParams(**CAP), policy=tiny_policy).solve(problem, time_limit=120.0, seed=1)
    np.testing.assert_array_equal(a.controls, b.controls)
    assert a.nodes == b.nodes and a.iterations == b.iterations
    assert [c for _, c in a.extra["cost_history"]] == [c for _, c in b.extra["cost_history"]]


@pytest.mark.requires_data
def test_registered_and_planned_through_the_api(problem, tiny_policy, tmp_path):
    assert "ditree-star" in available_planners()
    save_policy(tiny_policy, tmp_path / "tiny")
    res = plan(problem, "ditree-star", time_limit=60.0, seed=1, checkpoint=str(tmp_path / "tiny"), **CAP)
    assert res.success and res.validated, res.reason
    assert res.duration_ratio is not None and res.duration_ratio >= 1.0
    assert res.extra["cost_history"][-1][1] == pytest.approx(res.path_duration_s)
    assert {"policy", "crop", "propagation", "collision"} <= set(res.profile)


def test_params_are_validated():
    with pytest.raises(ValueError, match="delta_bn"):
        DiTreeStarParams(delta_bn=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        DiTreeStarParams(epsilon=2.0)
