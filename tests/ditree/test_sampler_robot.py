"""The policy sampler for any robot: racecar states (24-D) in, racecar controls out, epsilon-random
controls from the problem robot's bounds, and a policy for another robot refused at setup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ditree.policy import FlowPolicy, PolicyConfig
from ditree.sampler import PolicyControlSampler, PolicySamplerParams
from envs.errors import DitreeInputError
from envs.problem import Problem
from envs.racecar import Racecar, RacecarParams
from envs.world import GridMap
from planners.samplers import SamplerContext

SMALL = {"hidden_dim": 32, "num_blocks": 1, "map_channels": (4, 8), "map_embed_dim": 16, "cond_dim": 32,
         "time_embed_dim": 8}


@pytest.fixture(scope="module")
def racecar():
    rc = Racecar()
    yield rc
    rc.close()


@pytest.fixture(scope="module")
def problem(racecar) -> Problem:
    grid = np.ones((4, 5), dtype=np.uint8)
    grid[1:3, 1:4] = 0
    return Problem.from_cells(GridMap(grid, 2.0), start_cell=(2, 1), start_deg=0.0, goal_cell=(1, 3), robot=racecar)


@pytest.fixture(scope="module")
def policy(racecar) -> FlowPolicy:
    """A random-weight racecar policy (5 features, 0.4 m crops)."""
    torch.manual_seed(0)
    return FlowPolicy(PolicyConfig(vel_dim=5, map_resolution=0.4, target_scale_m=40.0, **SMALL), racecar).eval()


def _call(sampler, problem, B, seed):
    x = np.tile(problem.start, (B, 1))
    ctx = SamplerContext(problem=problem, rng=np.random.default_rng(seed))
    return sampler(x, np.tile(problem.goal, (B, 1)), np.zeros((B, 2)), ctx)


def test_random_extensions_use_the_robot_bounds(problem, policy, racecar):
    s = PolicyControlSampler(policy, PolicySamplerParams(epsilon=1.0, device="cpu"))
    s.setup(problem)
    u = _call(s, problem, 256, 0)
    assert u.shape == (256, 8, 2) and s.policy_calls == 0 and np.all(u == u[:, :1])
    lo, hi = racecar.control_low, racecar.control_high
    assert (u >= lo).all() and (u <= hi).all()
    # uniform over the whole box: wheel speeds reach into reverse and near the top
    assert u[:, 0, 0].min() < lo[0] + 5 and u[:, 0, 0].max() > hi[0] - 5 and (u[:, 0, 0] < 0).any()


def test_policy_extensions_take_racecar_states_and_are_seeded(problem, policy, racecar):
    s = PolicyControlSampler(policy, PolicySamplerParams(epsilon=0.0, device="cpu"))
    s.setup(problem)
    u = _call(s, problem, 6, 1)
    assert u.shape == (6, 8, 2) and s.policy_calls == 1
    assert (u >= racecar.control_low - 1e-5).all() and (u <= racecar.control_high + 1e-5).all()
    np.testing.assert_array_equal(_call(s, problem, 6, 1), u)
    assert not np.array_equal(_call(s, problem, 6, 2), u)


def test_policy_for_other_robot_or_parameters_is_refused(problem):
    car_policy = FlowPolicy(PolicyConfig(**SMALL))
    with pytest.raises(DitreeInputError, match="trained for robot 'car'.*problem's robot is 'racecar'"):
        PolicyControlSampler(car_policy, PolicySamplerParams(device="cpu")).setup(problem)
    other = FlowPolicy(PolicyConfig(vel_dim=5, **SMALL), Racecar(RacecarParams(steer_max=0.4)))
    with pytest.raises(DitreeInputError, match="racecar parameters"):
        PolicyControlSampler(other, PolicySamplerParams(device="cpu")).setup(problem)
