"""The policy sampler's warm-up and padded calls: bfloat16 calls on a CPU padded to a few row
counts give every row the controls of an unpadded call, and the planner warms its sampler up."""

from __future__ import annotations

import numpy as np
import pytest

from ditree.planner import DiTreeParams, DiTreePlanner
from ditree.policy import load_policy
from ditree.policy.graphed import graph_capacity
from ditree.sampler import PolicyControlSampler, PolicySamplerParams, pad_rows
from envs.problem import Problem
from envs.world import random_maze
from planners.samplers import SamplerContext


@pytest.fixture(scope="module")
def policy():
    return load_policy(None, device="cpu")


@pytest.fixture(scope="module")
def problem() -> Problem:
    return Problem.from_cells(random_maze(7, 7, 1), start_cell=(1, 1), start_deg=0.0, goal_cell=(5, 5))


def test_pad_rows_repeats_the_last_row():
    a = np.arange(6.0).reshape(3, 2)
    p = pad_rows(a, 8)
    assert p.shape == (8, 2) and np.array_equal(p[:3], a) and np.all(p[3:] == a[-1])


def _controls(sampler, problem, n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.tile(problem.start, (n, 1))
    x[:, :2] = problem.world.sample_free_points(rng, n)
    x[:, 2] = rng.uniform(-np.pi, np.pi, n)
    x[:, 3] = rng.uniform(0.0, 3.0, n)
    targets = problem.world.sample_free_points(rng, n)
    prev = rng.uniform(-0.5, 0.5, (n, 2))
    ctx = SamplerContext(problem=problem, rng=np.random.default_rng(seed))
    return sampler(x, targets, prev, ctx)


@pytest.mark.parametrize("n", [1, 5, 13, 33, 64])
def test_padded_bfloat16_rows_equal_unpadded(policy, problem, n):
    padded = PolicyControlSampler(policy, PolicySamplerParams(precision="bfloat16", epsilon=0.0, device="cpu"))
    plain = PolicyControlSampler(policy, PolicySamplerParams(precision="bfloat16", epsilon=0.0, device="cpu"))
    assert padded.padded and graph_capacity(n) >= n
    plain.padded = False
    for s in (padded, plain):
        s.setup(problem)
    u, v = _controls(padded, problem, n), _controls(plain, problem, n)
    assert u.shape == (n, padded.chunk_len, 2)
    np.testing.assert_array_equal(u, v)


def test_float32_calls_are_not_padded(policy):
    assert not PolicyControlSampler(policy, PolicySamplerParams(precision="float32", device="cpu")).padded


def test_warm_up_runs_the_network_and_leaves_the_sampler_as_it_was(policy, problem):
    s = PolicyControlSampler(policy, PolicySamplerParams(precision="bfloat16", epsilon=0.0, device="cpu"))
    s.setup(problem)
    before = _controls(s, problem, 20)
    calls = s.policy_calls
    assert s.warm_up(64) > 0.0
    assert s.policy_calls == calls  # warm-up calls are not planning calls
    np.testing.assert_array_equal(_controls(s, problem, 20), before)


def test_planner_warms_its_sampler_up_at_construction(policy, monkeypatch):
    asked = []
    real = PolicyControlSampler.warm_up
    monkeypatch.setattr(PolicyControlSampler, "warm_up", lambda self, rows: asked.append(rows) or real(self, rows))
    DiTreePlanner(DiTreeParams(batch_size=24, device="cpu"), policy)
    assert asked == [24]
