"""SST: solves, is deterministic, prunes soundly, and improves its cost when run anytime."""

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker
from envs.problem import validation_problem
from planners.sst import SST, SSTParams
from planners.validate import finalize


@pytest.fixture(scope="module")
def small():
    return validation_problem("val_maze_small")


@pytest.mark.requires_data
def test_solves_val_maze_small_and_validates(small):
    res = finalize(small, SST().solve(small, time_limit=60.0, seed=0))
    assert res.success and res.validated, res.reason
    hist = res.extra["cost_history"]
    assert len(hist) == 1 and hist[0][1] == pytest.approx(res.path_duration_s)


@pytest.mark.requires_data
def test_same_seed_same_path(small):
    a = SST().solve(small, 60.0, seed=4)
    b = SST().solve(small, 60.0, seed=4)
    assert a.success and b.success
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.controls, b.controls)
    assert a.nodes == b.nodes and a.counters == b.counters


@pytest.mark.requires_data
def test_pruned_tree_is_sound(small):
    planner = SST(max_iterations=60)
    planner.solve(small, 30.0, seed=1)
    tree = planner.last_tree
    alive = ~tree.removed
    assert tree.removed.any(), "witness pruning should remove dominated leaves"
    assert alive[tree.parents[alive][1:]].all(), "a kept node's parent was removed"
    assert not (tree.active & tree.removed).any()
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    for node in np.flatnonzero(alive)[1:]:
        states, _ = tree.edge(int(node))
        assert not checker.collides(states).any()
    # dominated nodes were deactivated: fewer active nodes than nodes ever added
    assert tree.active.sum() < len(tree)


@pytest.mark.requires_data
def test_anytime_improves_cost(small):
    res = finalize(small, SST(return_first=False).solve(small, time_limit=4.0, seed=0))
    assert res.success and res.validated
    hist = np.array(res.extra["cost_history"])
    assert len(hist) >= 2, "SST should find a cheaper path within 4 s"
    assert (np.diff(hist[:, 1]) < 0).all() and (np.diff(hist[:, 0]) >= 0).all()
    assert res.path_duration_s == pytest.approx(hist[-1, 1])
    assert 3.5 < res.time_s < 4.5


def test_params_are_validated():
    with pytest.raises(ValueError, match="delta_bn"):
        SSTParams(delta_bn=0.0)
    with pytest.raises(ValueError, match="w_v"):
        SSTParams(w_v=-1.0)


# ----------------------------------------------------------------------------- per-robot defaults
@pytest.mark.requires_data
def test_car_defaults_and_results_are_unchanged(small):
    """Unset radii resolve to the car's published values, and a default SST plans exactly as one
    given those values and the car's sampler explicitly."""
    from planners.samplers import UniformControlSampler

    p = SSTParams().resolved("car")
    assert (p.delta_bn, p.delta_s, p.w_yaw, p.w_v) == (1.0, 0.4, 0.25, 0.1)
    assert SSTParams(delta_s=0.3).resolved("racecar").delta_s == 0.3  # a given value wins
    a = SST(max_iterations=15).solve(small, 60.0, seed=2)
    b = SST(SSTParams(delta_bn=1.0, delta_s=0.4, w_yaw=0.25, w_v=0.1, max_iterations=15),
            UniformControlSampler()).solve(small, 60.0, seed=2)
    assert a.nodes == b.nodes and a.counters == b.counters
    np.testing.assert_array_equal(a.states, b.states)
    assert a.extra["params"] == b.extra["params"] and a.extra["params"]["delta_bn"] == 1.0


def test_sst_solves_a_racecar_room_quickly():
    """With the racecar's defaults (wider radii, longer extensions) SST leaves the root and solves
    a small room at 2 m per cell; the path re-simulates in PyBullet."""
    from envs.problem import Problem
    from envs.racecar import RACECAR_CELL_SIZE, Racecar
    from envs.world import GridMap

    grid = np.ones((5, 5), dtype=np.uint8)
    grid[1:4, 1:4] = 0
    world = GridMap(grid, cell_size=RACECAR_CELL_SIZE, name="room")
    problem = Problem.from_cells(world, (3, 1), 90.0, (1, 3), robot=Racecar(), name="room")
    planner = SST(batch_size=16)
    res = finalize(problem, planner.solve(problem, time_limit=60.0, seed=0))
    assert res.success and res.validated, res.reason
    assert res.extra["params"]["delta_bn"] == 2.0 and res.iterations <= 20
    assert planner.sampler_for("racecar").params.min_steps == 25


# ----------------------------------------------------------------------------- sampler overrides, prefixes
def test_sampler_overrides_replace_only_the_given_fields_of_the_robots_extensions():
    """``make_planner("sst", bound_prob=...)`` keeps the planned robot's registered extension lengths
    (the racecar's are not the car's) and changes only what was given; a sampler and overrides
    together are refused."""
    from ditree.registry import make_planner
    from planners.samplers import UniformControlSampler
    from planners.sst import robot_sampler_params

    sst = make_planner("sst", bound_prob=0.25, on_collision="prefix")
    got = sst.sampler_for("racecar").params
    want = robot_sampler_params("racecar")
    assert (got.min_steps, got.max_steps, got.min_hold, got.max_hold) == (want.min_steps, want.max_steps, want.min_hold,
                                                                          want.max_hold)
    assert want.min_steps != robot_sampler_params("car").min_steps  # the test means something
    assert got.bound_prob == 0.25 and sst.params.on_collision == "prefix"
    with pytest.raises(ValueError, match="not both"):
        SST(sampler=UniformControlSampler(), sampler_overrides={"bound_prob": 0.5})
    with pytest.raises(ValueError, match="on_collision"):
        SSTParams(on_collision="bounce")


def test_bound_prob_puts_pieces_at_the_bounds_and_zero_draws_exactly_as_before(small):
    from planners.samplers import SamplerContext, UniformControlSampler, UniformSamplerParams

    lo, hi = small.robot.control_low, small.robot.control_high
    x = np.tile(small.start, (400, 1))

    def draw(**kw):
        s = UniformControlSampler(UniformSamplerParams(**kw))
        s.setup(small)
        return s(x, np.zeros((400, 2)), np.zeros((400, 2)), SamplerContext(problem=small, rng=np.random.default_rng(7)))

    at_bound = np.isclose(draw(bound_prob=1.0), lo) | np.isclose(draw(bound_prob=1.0), hi)
    assert at_bound.all()
    some = draw(bound_prob=0.4)
    share = (np.isclose(some, lo) | np.isclose(some, hi)).mean()
    assert 0.3 < share < 0.5, share
    # bound_prob = 0 consumes the random stream exactly as the plain uniform sampler always did
    plain = draw()
    rng = np.random.default_rng(7)
    K = -(-25 // 3)
    values = rng.uniform(lo, hi, size=(400, K, len(lo)))
    assert np.isin(plain, values).all()
    with pytest.raises(ValueError, match="bound_prob"):
        UniformSamplerParams(bound_prob=1.5)


def test_levels_draw_each_component_from_an_even_lattice_between_its_bounds(small):
    """``levels=3`` gives only the lower bound, the middle and the upper bound of each component, all
    three; ``levels`` with ``bound_prob`` or below 2 is refused, in the robot's defaults too."""
    from envs.registry import ExtensionDefaults
    from planners.samplers import SamplerContext, UniformControlSampler, UniformSamplerParams

    lo, hi = small.robot.control_low, small.robot.control_high
    s = UniformControlSampler(UniformSamplerParams(levels=3))
    s.setup(small)
    u = s(np.tile(small.start, (300, 1)), np.zeros((300, 2)), np.zeros((300, 2)),
          SamplerContext(problem=small, rng=np.random.default_rng(3)))
    for j in range(len(lo)):
        lattice = np.array([lo[j], 0.5 * (lo[j] + hi[j]), hi[j]])
        on = np.isclose(u[..., j, None], lattice).any(-1)
        assert on.all()
        assert all(np.isclose(u[..., j], v).any() for v in lattice)  # every level is drawn
    with pytest.raises(ValueError, match="not both"):
        UniformSamplerParams(levels=3, bound_prob=0.5)
    # zero (straight, hold) replaces the interior level nearest to it, never a bound
    from planners.samplers import control_lattice

    np.testing.assert_allclose(control_lattice([0.25, -0.25], [0.5, 0.5], 3), [[0.25, 0.375, 0.5], [-0.25, 0.0, 0.5]])
    np.testing.assert_allclose(control_lattice([-0.1], [1.0], 3), [[-0.1, 0.0, 1.0]])
    np.testing.assert_allclose(control_lattice([-0.5], [0.5], 5), [[-0.5, -0.25, 0.0, 0.25, 0.5]])
    np.testing.assert_allclose(control_lattice([-0.2], [0.6], 2), [[-0.2, 0.6]])
    for bad in (1, -2, 2.5):
        with pytest.raises(ValueError, match="levels"):
            UniformSamplerParams(levels=bad)
        with pytest.raises(ValueError, match="levels"):
            ExtensionDefaults(levels=bad)


@pytest.mark.requires_data
def test_prefix_extensions_keep_more_of_the_tree(small):
    """Keeping the collision-free prefix of colliding extensions (OMPL's propagateWhileValid) accepts
    more extensions than dropping them, and every tree edge stays collision-free."""
    drop = SST(max_iterations=20).solve(small, 60.0, seed=3)
    pre = SST(max_iterations=20, on_collision="prefix")
    res = pre.solve(small, 60.0, seed=3)
    assert res.counters["accepted"] + res.counters["dominated"] > drop.counters["accepted"] + drop.counters["dominated"]
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    tree = pre.last_tree
    assert not checker.collides(tree.states).any()
    assert not checker.collides(tree._edge_states.view).any()



@pytest.mark.requires_data
def test_sst_marks_the_rows_whose_target_is_the_goal(small):
    """SST's sampler ignores targets, but its goal-biased rows are marked (``context.goal_rows``) like the RRT's."""
    from planners.samplers import UniformControlSampler

    calls = []

    class Recorder(UniformControlSampler):
        def __call__(self, states, targets, prev_controls, context):
            assert context.goal_rows is not None, "SST did not set context.goal_rows"
            calls.append((np.array(targets, copy=True), np.asarray(context.goal_rows)[context.rows].copy()))
            return super().__call__(states, targets, prev_controls, context)

    SST(SSTParams(batch_size=64, goal_bias=0.3, max_iterations=3), sampler=Recorder()).solve(small, 60.0, seed=1)
    assert calls
    for targets, mask in calls:
        assert mask.dtype == bool and mask.shape == (len(targets),)
        assert (targets[mask] == small.goal).all()
        assert int(mask.sum()) == int(np.all(targets == small.goal, axis=1).sum())
    marked = sum(int(m.sum()) for _, m in calls)
    assert 0 < marked < sum(len(m) for _, m in calls)
