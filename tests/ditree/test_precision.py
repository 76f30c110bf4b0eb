"""Planning-time precision of the policy network: a bfloat16 copy samples what the float32 policy
samples (to bfloat16's resolution), leaves the original untouched, and bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ditree.planner import DiTreeParams
from ditree.policy import load_policy
from ditree.sampler import PolicyControlSampler, PolicySamplerParams, resolve_precision
from envs import validation_problem
from envs.local_map import TorchLocalMapper


@pytest.fixture(scope="module")
def policy():
    return load_policy(None, device="cpu")


@pytest.mark.requires_data
def test_bfloat16_copy_samples_like_float32(policy):
    problem = validation_problem("val_maze_large")
    rng = np.random.default_rng(0)
    B = 64
    states = np.tile(problem.start, (B, 1))
    states[:, :2] += rng.normal(0.0, 0.3, (B, 2))
    states[:, 3] = rng.uniform(0.0, 3.0, B)
    targets = problem.world.sample_free_points(rng, B)
    prev = np.zeros((B, 2))
    noise = torch.from_numpy(rng.standard_normal((B, 64, 2)).astype(np.float32))
    mapper = TorchLocalMapper(problem.world, policy.local_map_spec)
    low = policy.inference_copy(torch.bfloat16)
    assert low.dtype == torch.bfloat16 and policy.dtype == torch.float32
    u32 = policy.act(states, prev, targets, mapper, noise=noise)
    u16 = low.act(states, prev, targets, mapper, noise=noise)
    assert u16.dtype == np.float32 and u16.shape == u32.shape
    assert np.all(u16 >= policy.control_low.numpy() - 1e-6) and np.all(u16 <= policy.control_high.numpy() + 1e-6)
    spread = u32.std(axis=(0, 1))
    err = np.abs(u16 - u32).mean(axis=(0, 1))
    assert np.all(err < 0.03 * spread), (err, spread)
    assert not np.array_equal(u16, u32)  # it really ran in bfloat16


def test_sampler_precision_setting(policy):
    assert PolicyControlSampler(policy, PolicySamplerParams(precision="float32")).dtype == torch.float32
    s = PolicyControlSampler(policy, PolicySamplerParams(precision="bfloat16"))
    assert s.dtype == torch.bfloat16 and policy.dtype == torch.float32
    assert resolve_precision("auto", torch.device("cuda")) == torch.float32
    with pytest.raises(ValueError, match="precision"):
        PolicySamplerParams(precision="float16")
    with pytest.raises(ValueError, match="precision"):
        DiTreeParams(precision="half")
