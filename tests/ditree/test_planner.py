"""The DiTree planner and the dp baseline, with real policies (tiny random-weight, and shipped)."""

from __future__ import annotations

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
    each policy call 10-100x slower (measured), so use one, as the eval workers do."""
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


def test_random_policy_still_solves_with_epsilon(problem, tiny_policy):
    planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu"), policy=tiny_policy)
    result = finalize(problem, planner.solve(problem, time_limit=60.0, seed=1))
    assert result.success, result.reason
    assert result.validated
    assert result.counters["policy_calls"] > 0
    for phase in ("policy", "crop", "propagation", "collision", "nn"):
        assert phase in result.profile


def test_same_seed_same_path(problem, tiny_policy):
    def run():
        planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu", max_iterations=6), policy=tiny_policy)
        r = planner.solve(problem, time_limit=60.0, seed=7)
        return r, planner.last_tree

    (r1, t1), (r2, t2) = run(), run()
    assert r1.nodes == r2.nodes and r1.success == r2.success
    np.testing.assert_array_equal(t1.states, t2.states)
    np.testing.assert_array_equal(r1.controls, r2.controls)


def test_tree_edges_are_collision_free(problem, tiny_policy):
    planner = DiTreePlanner(DiTreeParams(epsilon=0.3, device="cpu", max_iterations=5), policy=tiny_policy)
    planner.solve(problem, time_limit=60.0, seed=3)
    tree = planner.last_tree
    checker = AnalyticCollisionChecker(problem.world)
    for i in range(1, len(tree)):
        edge_states, _ = tree.edge(i)
        assert not checker.collides(edge_states).any()


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


@pytest.mark.skipif(not SHIPPED, reason="the shipped checkpoint is not in ditree/checkpoints yet")
def test_shipped_checkpoint_solves_val_maze_small(problem):
    planner = make_planner("ditree", device="cpu")
    result = finalize(problem, planner.solve(problem, time_limit=30.0, seed=0))
    assert result.success, result.reason
    assert result.validated
    assert result.time_s < 30.5
