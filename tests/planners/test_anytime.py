"""The anytime machinery: admissible cost-to-go, aiming, and an anytime RRT whose path only improves,
whose every improved path validates, and which is deterministic with a seed and an iteration cap."""

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker
from envs.problem import validation_problem
from planners.anytime import (
    AIM_GEODESIC,
    AIM_INCUMBENT,
    AimedSampler,
    AnytimeParams,
    AnytimeRRT,
    CostToGo,
    path_nodes,
)
from planners.results import PlanResult
from planners.samplers import SamplerContext, UniformControlSampler
from planners.validate import validate


@pytest.fixture(scope="module")
def small():
    return validation_problem("val_maze_small")


@pytest.fixture(scope="module")
def run(small):
    """One capped anytime run with random controls (the planner, its result)."""
    planner = AnytimeRRT(AnytimeParams(batch_size=64, max_iterations=120))
    return planner, planner.solve(small, time_limit=120.0, seed=0)


@pytest.mark.requires_data
def test_cost_to_go_is_admissible_along_real_paths(small, run):
    planner, res = run
    assert res.success
    ctg = CostToGo(small)
    # every incumbent's states: the time still to drive is at least the bound
    tree = planner.last_tree
    for node in planner.last_incumbent.nodes:
        states, _ = tree.path_to(node)
        remaining = (len(states) - 1 - np.arange(len(states))) * small.robot.dt
        assert (ctg.to_goal(states[:, :2]) <= remaining + 1e-9).all()
    euclid = CostToGo(small, "euclid")
    pts = small.world.sample_free_points(np.random.default_rng(0), 500)
    assert (euclid.to_goal(pts) <= ctg.to_goal(pts) + 1e-12).all()
    assert ctg.to_goal(small.goal[None])[0] == 0.0


@pytest.mark.requires_data
def test_downhill_targets_lead_to_the_goal(small):
    ctg = CostToGo(small)
    pts = small.world.sample_free_points(np.random.default_rng(1), 200)
    row, col = small.world.xy_to_cell(pts).T
    t1 = ctg.downhill(pts, np.full(len(pts), 1))
    r1, c1 = small.world.xy_to_cell(t1).T
    at_goal = (row == small.goal_cell[0]) & (col == small.goal_cell[1])
    # one step down the geodesic: strictly closer to the goal unless already in the goal cell
    assert (ctg.d_goal[r1, c1][~at_goal] < ctg.d_goal[row, col][~at_goal]).all()
    assert not small.world.grid[r1, c1].any()
    far = ctg.downhill(pts, np.full(len(pts), small.world.grid.size))
    np.testing.assert_allclose(far, np.tile(small.goal, (len(pts), 1)))


@pytest.mark.requires_data
def test_aimed_sampler_pursues_the_reference(small):
    ctg = CostToGo(small)
    s = AimedSampler(UniformControlSampler(), max_steps=200)
    s.ctg = ctg
    ref = np.stack([np.linspace(0, 3, 301), np.zeros(301)], axis=1)  # a straight 3 m reference
    s.plan(np.array([AIM_INCUMBENT, AIM_INCUMBENT, AIM_GEODESIC]), np.array([1.0, 0.5, 2.0]),
           np.array([0, 100, 0]), ref)
    states = np.zeros((3, 6))
    states[:, 0] = [1.0, 0.2, 0.0]  # the second row is behind its progress: it must not go back
    tgt = s.targets(states, np.zeros((3, 2)), np.arange(3))
    np.testing.assert_allclose(tgt[0], [2.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(tgt[1], [1.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(tgt[2], ctg.downhill(states[2:, :2], np.array([2]))[0])
    assert s.n_chunks * s.chunk_len >= 200
    ctx = SamplerContext(problem=small, rng=np.random.default_rng(0), rows=np.arange(3))
    s.setup(small)
    assert s(states, np.zeros((3, 2)), np.zeros((3, 2)), ctx).shape == (3, s.chunk_len, 2)
    # aim_distance pushes aimed targets out along their direction, and leaves fixed non-goal ones
    s.aim_distance = 5.0
    s.plan(np.array([AIM_INCUMBENT, 0]), np.array([1.0, 0.0]), np.array([0, 0]), ref)
    pushed = s.targets(states[:2], np.array([[0.0, 0.0], [0.5, 0.0]]), np.arange(2))
    np.testing.assert_allclose(pushed, [[6.0, 0.0], [0.5, 0.0]])


@pytest.mark.requires_data
def test_cost_never_increases_and_every_improved_path_validates(small, run):
    planner, res = run
    hist = np.array(res.extra["cost_history"])
    assert res.success and len(hist) >= 2, "random controls should improve on val_maze_small in 120 iterations"
    assert (np.diff(hist[:, 1]) < 0).all() and (np.diff(hist[:, 0]) >= 0).all()
    assert res.extra["first_duration_s"] == hist[0, 1] and res.extra["first_time_s"] == hist[0, 0]
    assert res.path_duration_s == pytest.approx(hist[-1, 1])
    tree = planner.last_tree
    assert planner.last_incumbent.nodes[-1] == path_nodes(tree, planner.last_incumbent.node)[-1]
    for node, (_, cost) in zip(planner.last_incumbent.nodes, hist):
        states, controls = tree.path_to(node)
        r = PlanResult(success=True, planner="t", seed=0, time_s=0.0, states=states, controls=controls)
        ok, why = validate(small, r)
        assert ok, why
        assert r.path_duration_s == pytest.approx(cost)


@pytest.mark.requires_data
def test_pruning_keeps_only_nodes_that_can_still_win(small, run):
    planner, res = run
    tree = planner.last_tree
    ctg = CostToGo(small)
    best = res.path_duration_s
    on_path = np.zeros(len(tree), bool)
    on_path[path_nodes(tree, planner.last_incumbent.node)] = True
    active = tree.active & ~on_path
    f = tree.costs + ctg.to_goal(tree.states[:, :2])
    assert (f[active] < best).all()
    assert res.counters["deactivated"] > 0 and (~tree.active).any()
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    for node in range(1, len(tree), 7):
        states, _ = tree.edge(node)
        assert not checker.collides(states).any()


@pytest.mark.requires_data
def test_same_seed_same_path(small, run):
    _, a = run
    b = AnytimeRRT(AnytimeParams(batch_size=64, max_iterations=120)).solve(small, time_limit=120.0, seed=0)
    np.testing.assert_array_equal(a.controls, b.controls)
    assert a.nodes == b.nodes and a.counters == b.counters
    assert [c for _, c in a.extra["cost_history"]] == [c for _, c in b.extra["cost_history"]]


def test_params_are_validated():
    with pytest.raises(ValueError, match="p_shortcut"):
        AnytimeParams(p_shortcut=1.5)
    with pytest.raises(ValueError, match="lookahead_m"):
        AnytimeParams(lookahead_m_min=3.0, lookahead_m_max=1.0)
    with pytest.raises(ValueError, match="heuristic"):
        AnytimeParams(heuristic="manhattan")


@pytest.mark.requires_data
def test_random_refinement_iterations_keep_the_guarantees(small):
    planner = AnytimeRRT(AnytimeParams(batch_size=64, max_iterations=80, random_iters=3, delta_bn_state=0.4,
                                       record_tree=False))
    res = planner.solve(small, time_limit=120.0, seed=2)
    hist = np.array(res.extra["cost_history"])
    assert res.success and res.counters["random_iterations"] > 0
    assert (np.diff(hist[:, 1]) < 0).all()
    ok, why = validate(small, res)
    assert ok, why
