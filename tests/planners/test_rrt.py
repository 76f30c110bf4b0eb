"""The batched kinodynamic RRT: solves, is deterministic, respects the time limit, builds a sound tree."""

import time

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker
from envs.problem import Problem, validation_problem
from envs.world import GridMap
from planners.rrt import KinodynamicRRT, RRTParams, extend
from planners.samplers import SamplerContext, UniformControlSampler, UniformSamplerParams
from planners.validate import finalize


@pytest.fixture(scope="module")
def small():
    return validation_problem("val_maze_small")


def walled_in_problem() -> Problem:
    """The goal cell is free but enclosed by walls: no path exists."""
    grid = np.ones((7, 9), dtype=np.uint8)
    grid[1:6, 1:4] = 0  # the start room
    grid[3, 6] = 0  # the goal cell, walled in
    return Problem.from_cells(GridMap(grid, name="walled"), (3, 2), 0.0, (3, 6), name="walled_in")


@pytest.mark.requires_data
def test_solves_val_maze_small_and_validates(small):
    planner = KinodynamicRRT()
    res = finalize(small, planner.solve(small, time_limit=60.0, seed=0))
    assert res.success and res.validated, res.reason
    assert res.time_s < 60.0
    assert len(res.controls) + 1 == len(res.states)
    assert np.linalg.norm(res.states[-1, :2] - small.goal) <= small.goal_radius
    # the path ends at the first step inside the goal disc
    assert np.linalg.norm(res.states[-2, :2] - small.goal) > small.goal_radius
    assert set(res.profile) >= {"sampling", "propagation", "collision", "nn"}


@pytest.mark.requires_data
def test_same_seed_same_path_other_seed_other_path(small):
    a = KinodynamicRRT().solve(small, 60.0, seed=7)
    b = KinodynamicRRT().solve(small, 60.0, seed=7)
    c = KinodynamicRRT().solve(small, 60.0, seed=8)
    assert a.success and b.success and c.success
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.controls, b.controls)
    assert a.nodes == b.nodes
    assert a.states.shape != c.states.shape or not np.array_equal(a.states, c.states)


def test_unsolvable_problem_returns_failure_within_time_limit():
    problem = walled_in_problem()
    t0 = time.perf_counter()
    res = finalize(problem, KinodynamicRRT().solve(problem, time_limit=1.0, seed=0))
    wall = time.perf_counter() - t0
    assert not res.success and not res.validated
    assert "time limit" in res.reason
    assert res.nodes > 1 and len(res.states) == 0
    assert wall < 1.0 + 0.5


@pytest.mark.requires_data
def test_tree_edges_are_exact_and_collision_free(small):
    planner = KinodynamicRRT(max_iterations=15, batch_size=32)
    res = planner.solve(small, time_limit=30.0, seed=3)
    tree = planner.last_tree
    assert len(tree) == res.counters["accepted"] + 1
    assert res.counters["extensions"] == 15 * 32 or res.success
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    for node in range(1, len(tree)):
        states, controls = tree.edge(node)
        assert 1 <= len(controls) <= planner.sampler.params.max_steps
        np.testing.assert_array_equal(states[0], tree.states[tree.parents[node]])
        np.testing.assert_array_equal(states[-1], tree.states[node])
        np.testing.assert_allclose(small.robot.rollout(states[:1], controls[None])[0], states, atol=1e-12)
        assert not checker.collides(states).any(), f"edge of node {node} collides"
        assert tree.costs[node] == pytest.approx(tree.costs[tree.parents[node]] + len(controls) * small.robot.dt)
    # a path is the concatenation of its edges
    s, u = tree.path_to(len(tree) - 1)
    np.testing.assert_allclose(small.robot.rollout(small.start[None], u[None])[0], s, atol=1e-9)


class RecordingChunkSampler(UniformControlSampler):
    """A chunked (closed-loop style) uniform sampler that records what the core hands it."""

    def __init__(self):
        super().__init__(UniformSamplerParams(min_steps=40, max_steps=40, min_hold=4, max_hold=8, n_chunks=5))
        self.calls = []

    def __call__(self, states, targets, prev_controls, context):
        self.calls.append((context.chunk, states.copy(), prev_controls.copy()))
        return super().__call__(states, targets, prev_controls, context)


@pytest.mark.requires_data
@pytest.mark.parametrize("mode", ["drop", "truncate", "prefix"])
def test_chunked_extension_loop(small, mode):
    rng = np.random.default_rng(0)
    sampler = RecordingChunkSampler()
    sampler.setup(small)
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    B = 64
    x0 = np.tile(small.start, (B, 1))
    ctx = SamplerContext(problem=small, rng=rng)
    lengths = np.full(B, 40)
    lengths[:8] = 13  # per-extension lengths: these stop inside chunk 1
    ext = extend(small, checker, sampler, x0, np.zeros((B, 2)), np.zeros((B, 2)), lengths, ctx, on_collision=mode)
    # one batched call per chunk, only for the survivors, with the states they reached
    assert [c[0] for c in sampler.calls] == list(range(len(sampler.calls)))
    assert len(sampler.calls[0][1]) == B
    for k in range(1, len(sampler.calls)):
        assert len(sampler.calls[k][1]) <= len(sampler.calls[k - 1][1])
    first = ext.states[:, 1:9]
    hit_wall = checker.collides(first.reshape(-1, 6)).reshape(B, 8).any(1)
    in_goal = (np.linalg.norm(first[..., :2] - small.goal, axis=-1) <= small.goal_radius).any(1)
    assert len(sampler.calls[1][1]) == int(((lengths > 8) & ~hit_wall & ~in_goal).sum())
    for b in range(B):
        L = ext.length[b]
        assert 0 <= L <= lengths[b]
        if L:
            assert not checker.collides(ext.states[b, 1 : L + 1]).any()
            np.testing.assert_allclose(small.robot.rollout(x0[b : b + 1], ext.controls[b : b + 1, :L])[0],
                                       ext.states[b, : L + 1], atol=1e-12)
        if ext.collided[b]:
            if mode == "drop":
                assert L == 0
            elif mode == "truncate":
                assert L % sampler.chunk_len == 0
            else:  # the whole collision-free prefix: the very next step collides
                nxt = small.robot.rollout(ext.states[b : b + 1, L], ext.controls[b : b + 1, L : L + 1])[0, 1]
                assert checker.collides(nxt[None])[0]
        elif ext.goal_step[b] < 0:
            assert L == lengths[b]
    assert ext.collided.any(), "some random extensions should hit a wall in this maze"
    # the chunk-1 call received exactly the states reached at step 8 by the survivors
    if len(sampler.calls) > 1:
        reached = {tuple(np.round(s, 12)) for s in ext.states[:, 8]}
        assert all(tuple(np.round(s, 12)) in reached for s in sampler.calls[1][1])


def test_params_are_validated():
    with pytest.raises(ValueError, match="goal_bias"):
        RRTParams(goal_bias=1.5)
    with pytest.raises(ValueError, match="on_collision"):
        RRTParams(on_collision="bounce")
    with pytest.raises(ValueError, match="max_steps"):
        UniformSamplerParams(min_steps=20, max_steps=10)


@pytest.mark.requires_data
def test_uniform_sampler_is_piecewise_constant_within_bounds(small):
    s = UniformControlSampler(min_steps=10, max_steps=50, min_hold=5, max_hold=25)
    s.setup(small)
    ctx = SamplerContext(problem=small, rng=np.random.default_rng(1))
    u = s(np.zeros((100, 6)), np.zeros((100, 2)), np.zeros((100, 2)), ctx)
    assert u.shape == (100, 50, 2)
    assert (u >= small.robot.control_low).all() and (u <= small.robot.control_high).all()
    changes = (np.abs(np.diff(u, axis=1)).sum(-1) > 0).sum(1)
    assert changes.max() <= 50 // 5 and changes.min() >= 1  # pieces held 5..25 steps
    lengths = s.sample_lengths(1000, ctx)
    assert lengths.min() == 10 and lengths.max() == 50


@pytest.mark.requires_data
def test_nearest_structure_does_not_change_the_search(small):
    # both structures are exact, so the same seed grows the same tree
    a = KinodynamicRRT(nn="logkd", max_iterations=30).solve(small, 30.0, seed=5)
    b = KinodynamicRRT(nn="grid", max_iterations=30).solve(small, 30.0, seed=5)
    assert a.nodes == b.nodes and a.success == b.success
    np.testing.assert_array_equal(a.states, b.states)


class SteeringAsyncSampler:
    """An asynchronous, deterministic sampler: each row's controls depend only on its own state
    and target (steer towards the target), and it logs the order of submits and collects."""

    name = "steer"
    chunk_len, n_chunks, max_in_flight = 8, 5, 4

    def __init__(self):
        self.log, self.in_flight = [], 0

    def setup(self, problem):
        pass

    def sample_lengths(self, n, context):
        return np.full(n, 40)

    def submit(self, states, targets, prev_controls, context):
        self.in_flight += 1
        assert self.in_flight <= self.max_in_flight
        self.log.append(("submit", context.chunk, tuple(context.rows)))
        heading = np.arctan2(targets[:, 1] - states[:, 1], targets[:, 0] - states[:, 0])
        err = np.angle(np.exp(1j * (heading - states[:, 2])))
        u = np.stack([np.full(len(states), 2.0), np.clip(3.0 * err - 2.0 * states[:, 4], -4, 4)], -1)
        return np.repeat(u[:, None], self.chunk_len, axis=1), context.chunk

    def collect(self, ticket):
        self.in_flight -= 1
        self.log.append(("collect", ticket[1]))
        return ticket[0]

    def __call__(self, states, targets, prev_controls, context):
        return self.collect(self.submit(states, targets, prev_controls, context))


@pytest.mark.requires_data
@pytest.mark.parametrize(("groups", "speculate"), [(2, False), (3, False), (1, True), (2, True)])
def test_pipelined_extension_equals_whole_batch(small, groups, speculate):
    rng = np.random.default_rng(4)
    B = 48
    x0 = np.tile(small.start, (B, 1))
    x0[:, :2] += rng.normal(0, 0.3, (B, 2))
    targets = small.world.sample_free_points(rng, B)
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    runs = {}
    for g, spec in ((1, False), (groups, speculate)):
        sampler = SteeringAsyncSampler()
        ctx = SamplerContext(problem=small, rng=np.random.default_rng(0))
        runs[g, spec] = (extend(small, checker, sampler, x0, targets, np.zeros((B, 2)), np.full(B, 40), ctx, groups=g,
                                speculate=spec), sampler.log)
    (one, log1), (many, log_g) = runs[1, False], runs[groups, speculate]
    for field in ("states", "controls", "length", "goal_step", "collided"):
        np.testing.assert_array_equal(getattr(one, field), getattr(many, field))
    assert one.collided.any() and (one.length > 0).any()
    assert many.steps_checked == one.steps_checked
    # one request per group and chunk, and the groups' requests really overlap: every group
    # submits its first chunk before any is collected
    assert log_g[:groups] == [("submit", 0, tuple(r)) for r in np.array_split(np.arange(B), groups)]
    assert [e[0] for e in log1[:2]] == ["submit", "collect"]
    assert many.sampler_calls == sum(e[0] == "submit" for e in log_g) >= one.sampler_calls
    rows_asked = lambda log: sum(len(e[2]) for e in log if e[0] == "submit")
    if speculate:  # requests went out before the checks: they include rows the checks then ended
        assert rows_asked(log_g) > rows_asked(log1)
    else:
        assert rows_asked(log_g) == rows_asked(log1) and many.sampler_calls > one.sampler_calls


def test_every_body_of_a_two_body_robot_is_checked_along_the_tree(trailer_car):
    from envs.collision import robot_collides

    # a wall splits the room; the car with its trailer must drive around it
    grid = np.zeros((7, 9), dtype=np.uint8)
    grid[0] = grid[-1] = 1
    grid[:, 0] = grid[:, -1] = 1
    grid[1:4, 4] = 1
    problem = Problem.from_cells(GridMap(grid, name="split"), (2, 2), 0.0, (2, 6), robot=trailer_car)
    planner = KinodynamicRRT(max_iterations=200, batch_size=32)
    res = finalize(problem, planner.solve(problem, time_limit=30.0, seed=0))
    assert res.success and res.validated, res.reason
    tree = planner.last_tree
    checker = AnalyticCollisionChecker(problem.world, trailer_car.bodies)
    trailer_alone = AnalyticCollisionChecker(problem.world, trailer_car.bodies[1])
    for node in range(1, len(tree)):
        states, _ = tree.edge(node)
        assert not robot_collides(trailer_car, checker, states).any(), f"edge of node {node} collides"
        assert not trailer_alone.collides(trailer_car.footprint_poses(states)[:, 1]).any()


class GoalRowsRecorder(UniformControlSampler):
    """A chunked uniform sampler that records each call's targets and the planner's goal mask for
    the call's rows (``context.goal_rows[context.rows]``; None when the planner set none)."""

    def __init__(self):
        super().__init__(UniformSamplerParams(min_steps=10, max_steps=40, min_hold=4, max_hold=8, n_chunks=4))
        self.calls = []

    def __call__(self, states, targets, prev_controls, context):
        mask = None if context.goal_rows is None else np.asarray(context.goal_rows)[context.rows].copy()
        self.calls.append((np.array(targets, copy=True), mask, context.chunk))
        return super().__call__(states, targets, prev_controls, context)


def assert_goal_rows_follow_targets(calls, goal) -> int:
    """Every call's mask marks exactly the rows whose target is the goal; returns how many it marked."""
    marked = 0
    for targets, mask, _ in calls:
        assert mask is not None, "the planner did not set context.goal_rows"
        assert mask.dtype == bool and mask.shape == (len(targets),)
        assert (targets[mask] == goal).all()
        assert int(mask.sum()) == int(np.all(targets == goal, axis=1).sum())
        marked += int(mask.sum())
    return marked


@pytest.mark.requires_data
@pytest.mark.parametrize(("goal_bias", "target_goal_prob", "groups"), [(0.3, 0.0, 1), (0.0, 0.5, 1), (0.2, 0.4, 3)])
def test_rrt_marks_the_rows_it_aims_at_the_goal(small, goal_bias, target_goal_prob, groups):
    sampler = GoalRowsRecorder()
    KinodynamicRRT(batch_size=32, goal_bias=goal_bias, target_goal_prob=target_goal_prob, max_iterations=3,
                   groups=groups, record_tree=False, sampler=sampler).solve(small, 60.0, seed=3)
    marked = assert_goal_rows_follow_targets(sampler.calls, small.goal)
    rows = sum(len(t) for t, _, _ in sampler.calls)
    assert 0 < marked < rows
    assert any(chunk > 0 for _, _, chunk in sampler.calls)  # later chunks index the mask by context.rows


@pytest.mark.requires_data
def test_extend_rejects_a_goal_mask_of_another_batch(small):
    checker = AnalyticCollisionChecker(small.world, small.robot.footprint)
    ctx = SamplerContext(problem=small, rng=np.random.default_rng(0), goal_rows=np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match="goal_rows"):
        extend(small, checker, UniformControlSampler(), np.tile(small.start, (4, 1)), np.zeros((4, 2)),
               np.zeros((4, 2)), np.full(4, 10), ctx)
