"""The DiTree planner and the dp baseline, with real policies (tiny random-weight, and shipped)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ditree.dp import DPParams, PolicyRolloutPlanner
from ditree.planner import DiTreeParams, DiTreePlanner
from ditree.policy import CHECKPOINT_DIR, SHIPPED_NAME, FlowPolicy, PolicyConfig
from ditree.registry import make_planner
from ditree.sampler import PolicyControlSampler, PolicySamplerParams
from envs import AnalyticCollisionChecker, validation_problem
from planners.samplers import SamplerContext
from planners.validate import finalize

SHIPPED = (CHECKPOINT_DIR / f"{SHIPPED_NAME}.pt").is_file()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Planning is timed against a limit here: two torch threads on a busy 2-core machine make
    each policy call many times slower (docs/benchmarks.md), so use one, as the eval workers do."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def problem():
    return validation_problem("val_maze_small")


@pytest.fixture(scope="module")
def tiny_policy():
    """A random-weight policy: the search, not the network, must carry success."""
    torch.manual_seed(0)
    cfg = PolicyConfig(hidden_dim=32, num_blocks=1, map_channels=(4, 8), map_embed_dim=16, cond_dim=32, time_embed_dim=8)
    return FlowPolicy(cfg).eval()


@pytest.mark.requires_data
def test_sampler_chunks_and_epsilon(problem, tiny_policy):
    s = PolicyControlSampler(tiny_policy, PolicySamplerParams(epsilon=1.0, device="cpu"))
    s.setup(problem)
    assert (s.chunk_len, s.n_chunks) == (8, 8)
    rng = np.random.default_rng(0)
    ctx = SamplerContext(problem=problem, rng=rng)
    B = 5
    x = np.tile(problem.start, (B, 1))
    u = s(x, np.tile(problem.goal, (B, 1)), np.zeros((B, 2)), ctx)
    assert u.shape == (B, 8, 2)
    # all-random extensions: one constant control per chunk, no network call
    assert np.all(u == u[:, :1]) and s.policy_calls == 0
    s2 = PolicyControlSampler(tiny_policy, PolicySamplerParams(epsilon=0.0, device="cpu"))
    s2.setup(problem)
    u2 = s2(x, np.tile(problem.goal, (B, 1)), np.zeros((B, 2)), SamplerContext(problem=problem, rng=np.random.default_rng(0)))
    assert s2.policy_calls == 1 and u2.shape == (B, 8, 2)
    assert np.all(np.abs(u2) <= np.array([10.0, 2.0]) + 1e-6)


@pytest.mark.requires_data
def test_random_policy_still_solves_with_epsilon(problem, tiny_policy):
    planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu"), policy=tiny_policy)
    result = finalize(problem, planner.solve(problem, time_limit=60.0, seed=1))
    assert result.success, result.reason
    assert result.validated
    assert result.counters["policy_calls"] > 0
    for phase in ("policy", "crop", "propagation", "collision", "nn"):
        assert phase in result.profile


@pytest.mark.requires_data
def test_same_seed_same_path(problem, tiny_policy):
    def run():
        planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu", max_iterations=6), policy=tiny_policy)
        r = planner.solve(problem, time_limit=60.0, seed=7)
        return r, planner.last_tree

    (r1, t1), (r2, t2) = run(), run()
    assert r1.nodes == r2.nodes and r1.success == r2.success
    np.testing.assert_array_equal(t1.states, t2.states)
    np.testing.assert_array_equal(r1.controls, r2.controls)


@pytest.mark.requires_data
def test_tree_edges_are_collision_free(problem, tiny_policy):
    planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu", max_iterations=5), policy=tiny_policy)
    planner.solve(problem, time_limit=60.0, seed=3)
    tree = planner.last_tree
    checker = AnalyticCollisionChecker(problem.world)
    for i in range(1, len(tree)):
        edge_states, _ = tree.edge(i)
        assert not checker.collides(edge_states).any()


@pytest.mark.requires_data
def test_dp_restarts_and_is_deterministic(problem, tiny_policy):
    planner = PolicyRolloutPlanner(
        DPParams(batch_size=4, max_rollout_s=2.0, device="cpu", max_iterations=40), policy=tiny_policy
    )
    r1 = planner.solve(problem, time_limit=60.0, seed=0)
    assert r1.iterations == 40 and r1.counters["policy_calls"] == 40
    assert r1.counters["restarts"] > 0  # a random policy crashes or times out
    r2 = planner.solve(problem, time_limit=60.0, seed=0)
    assert r1.counters == r2.counters and r1.success == r2.success
    np.testing.assert_array_equal(r1.controls, r2.controls)


@pytest.mark.requires_data
@pytest.mark.skipif(not SHIPPED, reason="the shipped checkpoint is not in ditree/checkpoints yet")
def test_shipped_checkpoint_solves_val_maze_small(problem):
    planner = make_planner("ditree", device="cpu")
    result = finalize(problem, planner.solve(problem, time_limit=30.0, seed=0))
    assert result.success, result.reason
    assert result.validated
    assert result.time_s < 30.5


@pytest.mark.requires_data
def test_pipelined_groups_solve_deterministically(problem, tiny_policy):
    """Two groups taking turns and speculative requests (the GPU overlap schedules) on the CPU:
    the search still solves, validates, and the same seed grows the same tree."""
    def run():
        planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu", pipeline_groups=2, speculate=True),
                                policy=tiny_policy)
        return planner.solve(problem, time_limit=60.0, seed=2), planner

    (r1, p1), (r2, _) = run(), run()
    assert p1._search.params.groups == 2 and p1._search.params.speculate
    assert r1.success, r1.reason
    assert finalize(problem, r1).validated
    np.testing.assert_array_equal(r1.controls, r2.controls)
    assert r1.nodes == r2.nodes
    # one policy call per group and chunk: more calls than chunks run
    assert r1.counters["policy_calls"] > r1.counters["sampler_calls"] / 2


@pytest.mark.requires_data
def test_submit_collect_equals_call_and_keeps_epsilon_per_row(problem, tiny_policy):
    """Asynchronous requests give what a call gives; random rows are chosen once per extension,
    also when the batch's rows arrive in groups."""
    B = 12
    x = np.tile(problem.start, (B, 1))
    goal = np.tile(problem.goal, (B, 1))
    s = PolicyControlSampler(tiny_policy, PolicySamplerParams(epsilon=0.5, device="cpu"))
    s.setup(problem)
    whole = s(x, goal, np.zeros((B, 2)), SamplerContext(problem=problem, rng=np.random.default_rng(3), batch_size=B))
    s.setup(problem)
    ctx = SamplerContext(problem=problem, rng=np.random.default_rng(3), batch_size=B)
    tickets = []
    for rows in (np.arange(6), np.arange(6, 12)):  # both in flight at once
        ctx.rows = rows
        tickets.append(s.submit(x[rows], goal[rows], np.zeros((6, 2)), ctx))
    halves = np.concatenate([s.collect(t) for t in tickets])
    random_rows = s._random_rows[:B].copy()
    assert 0 < random_rows.sum() < B
    np.testing.assert_array_equal(halves[random_rows], halves[random_rows][:, :1].repeat(8, 1))
    ctx.chunk, ctx.rows = 1, np.arange(6, 12)  # a later chunk keeps its rows' choice
    s.submit(x[6:], goal[6:], np.zeros((6, 2)), ctx)
    np.testing.assert_array_equal(s._random_rows[:B], random_rows)
    assert whole.shape == halves.shape == (B, 8, 2)


def test_pipeline_groups_are_validated():
    with pytest.raises(ValueError, match="pipeline_groups"):
        DiTreeParams(pipeline_groups=9)
    assert DiTreeParams(device="cpu").rrt_params().groups == 1
    assert not DiTreeParams(device="cpu").rrt_params().speculate
    assert DiTreeParams(device="cpu", speculate=True).rrt_params().speculate
    assert DiTreeParams(device="cpu", pipeline_groups=3).rrt_params().groups == 3


@pytest.mark.requires_data
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_graph_calls_equal_eager_calls(problem):
    """A replayed CUDA graph computes what the eager policy computes, for any rows up to its capacity."""
    from ditree.policy import load_policy

    policy = load_policy(device="cuda")
    rng = np.random.default_rng(0)
    graphed = PolicyControlSampler(policy, PolicySamplerParams(device="cuda", cuda_graph=True, epsilon=0.0))
    eager_ = PolicyControlSampler(policy, PolicySamplerParams(device="cuda", cuda_graph=False, epsilon=0.0))
    for s in (graphed, eager_):
        s.setup(problem)
    for B in (64, 17, 3, 40):
        x = np.tile(problem.start, (B, 1))
        x[:, :2] += rng.normal(0, 0.5, (B, 2))
        x[:, 2] += rng.normal(0, 1.0, B)
        x[:, 3] = rng.uniform(0, 3, B)
        goal = problem.world.sample_free_points(rng, B)
        prev = rng.uniform(-1, 1, (B, 2))
        a = graphed(x, goal, prev, SamplerContext(problem=problem, rng=np.random.default_rng(B)))
        b = eager_(x, goal, prev, SamplerContext(problem=problem, rng=np.random.default_rng(B)))
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert graphed.seconds["capture"] > 0 and len(graphed._graphs) == 1
    # a second problem in the same world reuses the recorded graph
    graphed.setup(validation_problem("val_maze_small"))
    graphed(x, goal, prev, SamplerContext(problem=problem, rng=np.random.default_rng(0)))
    assert graphed.seconds["capture"] == 0


@pytest.mark.requires_data
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_graph_recording_failure_falls_back_to_eager(problem, monkeypatch):
    """A driver that cannot record a graph costs a warning, not the plan: calls run eagerly, same controls."""
    import ditree.sampler as sampler_module
    from ditree.policy import load_policy

    def refuse(*args, **kwargs):
        raise RuntimeError("CUDA graphs unsupported here")

    policy = load_policy(device="cuda")
    eager_ = PolicyControlSampler(policy, PolicySamplerParams(device="cuda", cuda_graph=False, epsilon=0.0))
    monkeypatch.setattr(sampler_module, "GraphedPolicyCall", refuse)
    failing = PolicyControlSampler(policy, PolicySamplerParams(device="cuda", cuda_graph=True, epsilon=0.0))
    for s in (failing, eager_):
        s.setup(problem)
    B = 8
    x = np.tile(problem.start, (B, 1))
    goal = np.tile(problem.goal[:2], (B, 1))
    prev = np.zeros((B, 2))
    with pytest.warns(RuntimeWarning, match="CUDA graph failed"):
        a = failing(x, goal, prev, SamplerContext(problem=problem, rng=np.random.default_rng(1)))
    b = eager_(x, goal, prev, SamplerContext(problem=problem, rng=np.random.default_rng(1)))
    np.testing.assert_allclose(a, b, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once; later calls go straight to the eager path
        failing(x, goal, prev, SamplerContext(problem=problem, rng=np.random.default_rng(2)))
    assert sorted(failing._free_slots) == list(range(failing.max_in_flight))  # the refused slot came back


def test_torch_threads_sets_and_restores_the_thread_count():
    import torch

    from ditree.sampler import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="torch_threads.threads must be an int >= 1"), torch_threads(0):
        pass
    with pytest.raises(ValueError, match="DiTreeParams.threads must be an int >= 1 or None, got 0"):
        DiTreeParams(threads=0)
