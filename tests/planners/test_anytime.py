"""The anytime machinery: admissible cost-to-go, aiming, and an anytime RRT whose path only improves,
whose every improved path validates, and which is deterministic with a seed and an iteration cap."""

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker
from envs.problem import validation_problem
from planners.anytime import (
    AIM_FIXED,
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


class GoalRowsInner(UniformControlSampler):
    """An inner sampler that records the targets and the goal mask ``AimedSampler`` hands it."""

    def __init__(self, exact_goal_targets: bool = False, **overrides):
        super().__init__(**overrides)
        self.exact_goal_targets = exact_goal_targets
        self.calls = []

    def __call__(self, states, targets, prev_controls, context):
        rows = context.rows if context.rows is not None else np.arange(len(targets))
        mask = None if context.goal_rows is None else np.asarray(context.goal_rows)[rows].copy()
        self.calls.append((np.array(targets, copy=True), mask, context))
        return super().__call__(states, targets, prev_controls, context)


@pytest.mark.requires_data
@pytest.mark.parametrize("exact", [False, True])
def test_aimed_sampler_keeps_the_goal_mask_with_the_targets_it_hands_on(small, exact):
    """Rows re-aimed at the goal become goal rows, rows re-aimed elsewhere or pushed out stop being
    goal rows, fixed rows keep theirs: a fixed target equal to the goal that the planner did not
    mark stays unmarked (and is not pushed as a goal target would be)."""
    inner = GoalRowsInner(exact)
    s = AimedSampler(inner, max_steps=200, aim_distance=1.0)
    s.ctg = CostToGo(small)
    s.setup(small)
    goal = small.goal
    ref = np.stack([np.linspace(0, 3, 301), np.zeros(301)], axis=1)
    #       0: fixed goal  1: fixed, = goal   2: fixed goal, near  3: geodesic to the goal
    #       4: geodesic 1 cell (was the goal) 5: incumbent past the reference's end
    mode = np.array([AIM_FIXED, AIM_FIXED, AIM_FIXED, AIM_GEODESIC, AIM_GEODESIC, AIM_INCUMBENT])
    look = np.array([0.0, 0.0, 0.0, small.world.grid.size, 1.0, 5.0])
    batch_rows = np.array([6, 1, 3, 0, 7, 4])  # this call's rows within a batch of 8
    B = 8
    plan_mode, plan_look = np.zeros(B, np.int64), np.zeros(B)
    plan_mode[batch_rows], plan_look[batch_rows] = mode, look
    progress = np.zeros(B, np.int64)
    progress[4] = 300
    s.plan(plan_mode, plan_look, progress, ref)
    states = np.tile(small.start, (6, 1))
    states[[1, 2], :2] = goal + [0.3, 0.0]  # near the goal: within aim_distance
    targets = np.array([goal, goal, goal, goal + 1.0, goal, goal])
    goal_rows = np.zeros(B, dtype=bool)
    goal_rows[batch_rows] = [True, False, True, False, True, False]
    goal_rows[2] = True  # a row of the batch outside this call
    before = goal_rows.copy()
    ctx = SamplerContext(problem=small, rng=np.random.default_rng(0), rows=batch_rows, batch_size=B, goal_rows=goal_rows)
    s(states, targets, np.zeros((6, 2)), ctx)
    handed, mask, inner_ctx = inner.calls[-1]
    np.testing.assert_array_equal(goal_rows, before)  # the caller's mask is left alone
    assert inner_ctx is not ctx and inner_ctx.rng is ctx.rng and inner_ctx.rows is batch_rows
    assert inner_ctx.goal_rows.shape == (B,) and inner_ctx.goal_rows[2] and not inner_ctx.goal_rows[5]
    want = [True, False, exact, True, False, True]
    np.testing.assert_array_equal(mask, want)
    assert (handed[mask] == goal).all()
    np.testing.assert_array_equal(handed[1], goal)  # equal to the goal, but unmarked: left as it is
    assert exact == bool(np.all(handed[2] == goal))  # a near goal target is pushed out unless the inner is exact
    if not exact:
        np.testing.assert_allclose(np.linalg.norm(handed[2] - states[2, :2]), 1.0)
    assert not np.all(handed[4] == goal)
    # what aim returns is what the inner got
    s.plan(plan_mode, plan_look, progress, ref)
    out, at_goal = s.aim(states, targets, batch_rows, goal_rows[batch_rows])
    np.testing.assert_array_equal(out, handed)
    np.testing.assert_array_equal(at_goal, want)
    # no mask from the caller: a target equal to the goal is the goal (row 1 is now a goal row)
    s.plan(plan_mode, plan_look, progress, ref)
    s(states, targets, np.zeros((6, 2)), SamplerContext(problem=small, rng=np.random.default_rng(0), rows=batch_rows,
                                                          batch_size=B))
    _, mask, _ = inner.calls[-1]
    np.testing.assert_array_equal(mask, [True, exact, exact, True, False, True])


@pytest.mark.requires_data
def test_anytime_hands_its_sampler_the_goal_rows_of_its_targets(small):
    """A capped anytime run, aimed rows, shortcuts and goal-bias rows included: at every call the
    inner sampler's mask marks exactly the targets that are the goal."""
    inner = GoalRowsInner(min_steps=10, max_steps=40, n_chunks=4)
    planner = AnytimeRRT(AnytimeParams(batch_size=32, max_iterations=40, return_first=False, aim_distance_m=2.0,
                                       goal_bias=0.2, target_goal_prob=0.5, p_shortcut=0.5, random_iters=0,
                                       record_tree=False), sampler=inner)
    planner.solve(small, 120.0, seed=0)
    assert inner.calls
    for targets, mask, _ in inner.calls:
        assert mask is not None and mask.shape == (len(targets),)
        assert (targets[mask] == small.goal).all()
        assert int(mask.sum()) == int(np.all(targets == small.goal, axis=1).sum())
    marked = sum(int(m.sum()) for _, m, _ in inner.calls)
    assert 0 < marked < sum(len(m) for _, m, _ in inner.calls)


@pytest.mark.requires_data
def test_random_iterations_draw_the_planned_robots_registered_extensions(small):
    """The cheap random-control iterations use the robot's ``SearchDefaults.extension`` (as SST does), not
    the car's defaults: with the car's registration changed for the test, the planner follows it."""
    import dataclasses

    from envs.registry import ExtensionDefaults, register_robot, robot_spec

    car = robot_spec(small.robot.name)
    mine = ExtensionDefaults(min_steps=7, max_steps=9, min_hold=2, max_hold=4, levels=3)
    register_robot(dataclasses.replace(car, search=dataclasses.replace(car.search, extension=mine)), replace=True)
    try:
        planner = AnytimeRRT(max_iterations=2)
        planner.solve(small, 30.0, seed=0)
        got = planner.random_sampler.inner.params
        assert (got.min_steps, got.max_steps, got.min_hold, got.max_hold, got.levels) == (7, 9, 2, 4, 3)
    finally:
        register_robot(car, replace=True)
    assert robot_spec(small.robot.name) == car
