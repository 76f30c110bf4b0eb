"""Mirror augmentation: an exact symmetry of the car, the world and the policy's inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ditree.data.augment import (
    mirror_controls,
    mirror_goals,
    mirror_grid,
    mirror_local_map,
    mirror_sample,
    mirror_states,
)
from ditree.data.expert import ExpertRunner
from envs.car import Car, wrap_angle
from envs.collision import AnalyticCollisionChecker
from envs.generators import maze
from envs.local_map import local_maps
from envs.world import GridMap


@pytest.fixture(scope="module")
def world() -> GridMap:
    return maze(9, 13, seed=0)  # 1 m corridors, like the training map


@pytest.fixture(scope="module")
def episodes(world):
    return ExpertRunner(world).run_batch(np.random.default_rng(5), 6).episodes


def _random_states(rng, n):
    return np.c_[rng.uniform(-5, 5, (n, 2)), rng.uniform(-np.pi, np.pi, n), rng.uniform(0, 4, n),
                 rng.uniform(-1, 1.5, n), rng.uniform(-0.4, 0.4, n)]


def test_mirroring_twice_is_the_identity():
    rng = np.random.default_rng(0)
    x = _random_states(rng, 50)
    u = rng.uniform(-2, 2, (50, 2))
    np.testing.assert_allclose(mirror_states(mirror_states(x)), x, atol=1e-12)
    np.testing.assert_array_equal(mirror_controls(mirror_controls(u)), u)
    np.testing.assert_array_equal(mirror_goals(mirror_goals(u)), u)
    g = (rng.random((9, 12)) < 0.3).astype(np.uint8)
    np.testing.assert_array_equal(mirror_grid(mirror_grid(g)), g)
    sample = {"vel": torch.randn(4, 3), "prev_control": torch.randn(4, 2), "target": torch.randn(4, 2),
              "local_map": torch.randn(4, 20, 20), "actions": torch.randn(4, 64, 2), "other": torch.randn(4, 7)}
    twice = mirror_sample(mirror_sample(sample))
    for k, v in sample.items():
        assert torch.equal(twice[k], v), k


def test_mirror_changes_exactly_the_documented_components():
    x = np.array([[1.0, 2.0, 0.5, 3.0, 0.7, 0.2]])
    np.testing.assert_allclose(mirror_states(x), [[1.0, -2.0, -0.5, 3.0, 0.7, -0.2]])
    np.testing.assert_allclose(mirror_controls(np.array([[4.0, -1.5]])), [[4.0, 1.5]])
    np.testing.assert_allclose(mirror_goals(np.array([[4.0, -1.5]])), [[4.0, 1.5]])
    assert mirror_states(np.array([[0, 0, -np.pi, 0, 0, 0]]))[0, 2] == pytest.approx(-np.pi)  # stays in [-pi, pi)
    sample = {"vel": torch.tensor([[2.0, 0.5, 0.25]]), "prev_control": torch.tensor([[1.0, -1.0]]),
              "target": torch.tensor([[0.5, 0.75]]), "local_map": torch.arange(4.0).reshape(1, 2, 2),
              "actions": torch.tensor([[[1.0, 2.0], [3.0, -4.0]]]), "keep": "me"}
    m = mirror_sample(sample)
    assert m["vel"].tolist() == [[2.0, 0.5, -0.25]]
    assert m["prev_control"].tolist() == [[1.0, 1.0]]
    assert m["target"].tolist() == [[0.5, -0.75]]
    assert m["local_map"].tolist() == [[[1.0, 0.0], [3.0, 2.0]]]
    assert m["actions"].tolist() == [[[1.0, -2.0], [3.0, 4.0]]]
    assert m["keep"] is sample["keep"]
    assert sample["vel"].tolist() == [[2.0, 0.5, 0.25]]  # inputs untouched


def test_mirrored_episode_resimulates_to_the_mirrored_trajectory(world, episodes):
    car = Car()
    mworld = GridMap(mirror_grid(world.grid), world.cell_size, "mirrored")
    checker = AnalyticCollisionChecker(mworld, car.footprint)
    assert episodes
    for ep in episodes:
        states = np.concatenate([ep.states, ep.final_state[None]])
        m0 = mirror_states(states[:1])
        sim = car.rollout(m0, mirror_controls(ep.controls)[None])[0]
        want = mirror_states(states)
        np.testing.assert_allclose(np.delete(sim, 2, axis=1), np.delete(want, 2, axis=1), atol=1e-9)
        assert np.abs(wrap_angle(sim[:, 2] - want[:, 2])).max() < 1e-9
        assert not checker.collides(sim).any()  # still collision-free in the mirrored world
        assert np.hypot(*(sim[-1, :2] - mirror_goals(ep.goal))) <= 0.5 + 1e-9


def test_local_map_of_mirrored_pose_in_mirrored_world_is_the_flipped_crop(world):
    rng = np.random.default_rng(1)
    poses = _random_states(rng, 200)
    mworld = GridMap(mirror_grid(world.grid), world.cell_size, "mirrored")
    crops = local_maps(world, poses)
    mirrored = local_maps(mworld, mirror_states(poses))
    np.testing.assert_array_equal(mirrored, mirror_local_map(crops))
    assert (crops != mirror_local_map(crops)).any()  # the test is not vacuous


def test_mirror_sample_equals_features_of_the_mirrored_situation(world):
    """Build car-frame features from a state and goal, and from their mirror images in the mirrored
    world: the second must equal ``mirror_sample`` of the first."""
    rng = np.random.default_rng(2)
    x = _random_states(rng, 64)
    goal = rng.uniform(-4, 4, (64, 2))
    u_prev = rng.uniform(-2, 2, (64, 2))
    actions = rng.uniform(-2, 2, (64, 8, 2))
    mworld = GridMap(mirror_grid(world.grid), world.cell_size, "mirrored")

    def features(w, x, goal, u_prev, actions):
        d = goal - x[:, :2]
        c, s = np.cos(x[:, 2]), np.sin(x[:, 2])
        target = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], -1)
        return {"vel": x[:, 3:6], "prev_control": u_prev, "target": target, "local_map": local_maps(w, x),
                "actions": actions}

    base = features(world, x, goal, u_prev, actions)
    want = features(mworld, mirror_states(x), mirror_goals(goal), mirror_controls(u_prev), mirror_controls(actions))
    got = mirror_sample(base)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-9, err_msg=k)
