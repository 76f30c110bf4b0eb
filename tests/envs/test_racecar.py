"""The PyBullet racecar: state round trip, purity (same inputs, same states, any batch), motion."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker, checked_rollout
from envs.problem import validation_problem
from envs.racecar import RACECAR_FOOTPRINT, STATE_NAMES, Racecar, RacecarParams, euler_from_quat, quat_from_euler


@pytest.fixture(scope="module")
def car() -> Racecar:
    r = Racecar()
    yield r
    r.close()


def test_layout_and_rest_state(car):
    assert len(STATE_NAMES) == car.state_dim == 24 and car.state_names[:3] == ("x", "y", "yaw")
    s = car.rest_state(1.0, -2.0, 3.5)
    assert s.shape == (24,)
    assert s[0] == 1.0 and s[1] == -2.0 and -np.pi <= s[2] < np.pi and np.isclose(s[2], 3.5 - 2 * np.pi)
    assert abs(s[3]) < 0.01 and np.all(s[6:12] == 0) and np.all(s[18:24] == 0)
    # at rest it stays put (within 5 mm over 1 s: the settled contact still creeps a little)
    x = car.rollout(s[None], np.zeros((1, 50, 2)))
    assert np.abs(x[0, -1, :2] - s[:2]).max() < 5e-3


def test_quaternion_round_trip():
    rng = np.random.default_rng(0)
    r, p, y = rng.uniform(-0.5, 0.5, 50), rng.uniform(-0.5, 0.5, 50), rng.uniform(-np.pi, np.pi, 50)
    r2, p2, y2 = euler_from_quat(quat_from_euler(r, p, y))
    np.testing.assert_allclose(np.stack([r2, p2, y2]), np.stack([r, p, y]), atol=1e-12)


def test_rollout_is_pure_across_batches_slots_and_splits(car):
    rng = np.random.default_rng(1)
    x0 = np.stack([car.rest_state(0, 0, a) for a in (0.0, 1.0, -2.0, 0.5, 3.0)])
    u = car.sample_controls(rng, (5, 30))
    a = car.rollout(x0, u)
    assert a.shape == (5, 31, 24) and np.array_equal(a[:, 0], x0)
    assert np.array_equal(car.rollout(x0, u), a)  # repeat
    singles = np.concatenate([car.rollout(x0[i : i + 1], u[i : i + 1]) for i in range(5)])
    assert np.array_equal(singles, a)  # alone vs batched (worlds of 4 and 1 bodies)
    perm = np.array([3, 0, 4, 1, 2])
    assert np.array_equal(car.rollout(x0[perm], u[perm]), a[perm])  # other slots
    resumed = car.rollout(a[:, 12], u[:, 12:])
    assert np.array_equal(resumed, a[:, 12:])  # branching from a node = continuing
    other = Racecar()  # a fresh instance (fresh worlds) agrees too
    assert np.array_equal(other.rollout(x0[:2], u[:2]), a[:2])
    other.close()


def test_it_drives_and_steers(car):
    s = car.rest_state(0, 0, 0)
    straight = car.rollout(s[None], np.tile([[40.0, 0.0]], (1, 50, 1)))[0]
    assert straight[-1, 0] > 0.5 and abs(straight[-1, 1]) < 0.05  # forward along +x
    assert car.speed(straight[-1:])[0] > 0.5
    assert car.speed(straight).max() < car.top_speed
    left = car.rollout(s[None], np.tile([[40.0, 0.4]], (1, 50, 1)))[0]
    assert left[-1, 1] > 0.1 and left[-1, 2] > 0.3  # turns left
    back = car.rollout(s[None], np.tile([[-20.0, 0.0]], (1, 50, 1)))[0]
    assert back[-1, 0] < -0.1  # reverses
    clipped = car.rollout(s[None], np.tile([[1e3, 9.0]], (1, 10, 1)))
    assert np.array_equal(clipped, car.rollout(s[None], np.tile([[60.0, 0.5]], (1, 10, 1))))


@pytest.mark.requires_data
def test_collision_with_maze_walls(car):
    prob = validation_problem("val_maze_small", robot=car)
    assert prob.world.cell_size == 2.0 and prob.robot.footprint == RACECAR_FOOTPRINT
    checker = AnalyticCollisionChecker(prob.world, car.footprint)
    x0 = np.repeat(prob.start[None], 2, 0)
    u = np.zeros((2, 150, 2))
    u[0, :, 0] = -20.0  # reverse into the wall 0.77 m behind the start
    chk = checked_rollout(car, checker, x0, u)
    assert chk.first_collision[0] > 0 and chk.first_collision[1] == -1


def test_pickle_and_params():
    r = Racecar(RacecarParams(substeps=2))
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.params == r.params and r2._worlds == {}
    with pytest.raises(ValueError, match="max_world"):
        RacecarParams(max_world=12)
    with pytest.raises(ValueError, match="rollout expects"):
        r.rollout(np.zeros((1, 6)), np.zeros((1, 3, 2)))
    r.close()


@pytest.mark.requires_data
def test_a_path_split_at_nodes_with_other_work_between_re_simulates_bit_for_bit():
    """Regression: a DiTree path (val_maze_large, seed 1, found with the first racecar checkpoint)
    whose edge from node 512 was simulated in a slot that had held another trajectory. Before
    contact manifolds were freed at every reset, the whole re-simulation differed from the
    split one by 2.3e-5 at state 513 (a leftover manifold's position and warm-start impulse) and
    by metres at the end; now both are identical."""
    controls = np.load(Path(__file__).parent / "data" / "racecar_split_controls.npy")[None]
    rc = Racecar()
    try:
        x0 = validation_problem("val_maze_large", robot=rc).start[None]
        whole = rc.rollout(x0, controls)[0]
        rng = np.random.default_rng(0)
        x, split = x0, [x0[0]]
        for c in range(0, controls.shape[1], 64):
            rc.rollout(rc.rest_state(1.0, 1.0, 0.0)[None], rc.sample_controls(rng, (1, 5)))  # other work in the slot
            part = rc.rollout(x, controls[:, c : c + 64])
            split += list(part[0, 1:])
            x = part[:, -1]
    finally:
        rc.close()
    np.testing.assert_array_equal(np.array(split), whole)
