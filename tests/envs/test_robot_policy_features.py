"""What the learned policy reads of a robot: policy features, mirror maps and parameter round trips,
for every registered robot, the car and the PyBullet racecar in depth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from envs.car import Car, CarParams
from envs.errors import DitreeInputError
from envs.racecar import POLICY_FEATURE_NAMES, Racecar, RacecarParams
from envs.registry import make_robot, registered_robots
from envs.robot import check_policy_robot


@pytest.fixture(scope="module")
def racecar() -> Racecar:
    r = Racecar()
    yield r
    r.close()


def _moving_racecar_states(rc: Racecar) -> np.ndarray:
    """Two racecar states in motion (driving and turning), from real physics."""
    x0 = np.stack([rc.rest_state(0.0, 0.0, 0.3), rc.rest_state(1.0, -2.0, -2.0)])
    u = np.tile([[40.0, 0.3]], (2, 30, 1))
    u[1, :, 1] = -0.4
    return rc.rollout(x0, u)[:, -1]


@pytest.mark.parametrize("name", registered_robots())
def test_policy_interface_is_complete_and_consistent(name):
    robot = make_robot(name)
    check_policy_robot(robot)
    F = len(robot.policy_feature_names)
    # a robot declares a mirror only where its control bounds allow one (unicycle1_v2 turns left faster)
    symmetric = all(lo == -hi for lo, hi, s in zip(robot.control_low, robot.control_high, robot.control_mirror_signs)
                    if s < 0)
    assert robot.has_mirror is symmetric
    assert len(robot.policy_feature_mirror_signs) == F and len(robot.control_mirror_signs) == robot.control_dim
    assert set(robot.policy_feature_mirror_signs) <= {1.0, -1.0} and set(robot.control_mirror_signs) <= {1.0, -1.0}
    x = np.stack([robot.rest_state(0.5, -1.0, 0.7)] * 3)
    f = robot.policy_features(x)
    assert f.shape == (3, F) and np.isfinite(f).all()
    ft = robot.policy_features(torch.as_tensor(x, dtype=torch.float32))
    assert isinstance(ft, torch.Tensor) and ft.dtype == torch.float32
    np.testing.assert_allclose(ft.numpy(), f, atol=1e-6)
    # make_robot rebuilds a robot from its recorded parameters
    again = make_robot(name, robot.params.to_dict())
    assert type(again) is type(robot) and again.params == robot.params


def test_car_features_are_the_state_beyond_the_pose_and_bounds_are_the_rate_bounds():
    car = Car()
    x = np.array([[1.0, 2.0, 0.3, 2.5, 0.7, -0.2]], dtype=np.float32)
    np.testing.assert_array_equal(car.policy_features(x), x[:, 3:6])
    assert car.policy_feature_names == ("v", "D", "delta")
    assert car.policy_feature_mirror_signs == (1.0, 1.0, -1.0) and car.control_mirror_signs == (1.0, -1.0)
    p = car.params
    np.testing.assert_array_equal(car.control_low, [-p.dD_max, -p.ddelta_max])
    np.testing.assert_array_equal(car.control_high, [p.dD_max, p.ddelta_max])


def test_racecar_features_are_body_frame_and_rotation_invariant(racecar):
    x = _moving_racecar_states(racecar)
    f = racecar.policy_features(x)
    assert racecar.policy_feature_names == POLICY_FEATURE_NAMES
    # forward speed is the speed along the heading; the hinges turned towards the commanded steer
    np.testing.assert_allclose(f[:, 0], racecar.speed(x), atol=1e-12)
    assert (f[:, 0] > 0.5).all() and f[0, 3] > 0.15 and f[1, 3] < -0.2
    assert f[0, 2] > 0 > f[1, 2]  # turning left / right
    np.testing.assert_allclose(f[:, 4], x[:, 18:20].mean(1))
    # rotate the whole scene about z: pose, linear and angular velocity rotate; features do not change
    th = 1.1
    c, s = math.cos(th), math.sin(th)
    R = np.array([[c, -s], [s, c]])
    y = x.copy()
    y[:, :2] = x[:, :2] @ R.T + [3.0, -4.0]
    y[:, 2] = (x[:, 2] + th + np.pi) % (2 * np.pi) - np.pi
    y[:, 6:8] = x[:, 6:8] @ R.T
    y[:, 9:11] = x[:, 9:11] @ R.T
    np.testing.assert_allclose(racecar.policy_features(y), f, atol=1e-9)


def test_racecar_params_round_trip_and_errors():
    p = RacecarParams(steer_max=0.4, max_world=8)
    d = p.to_dict()
    assert RacecarParams.from_dict(d) == p and isinstance(RacecarParams.from_dict(d).max_world, int)
    with pytest.raises(ValueError, match="unknown RacecarParams fields"):
        RacecarParams.from_dict({**d, "mass": 1.0})
    with pytest.raises(DitreeInputError, match="racecar.*max_world"):
        make_robot("racecar", {**d, "max_world": 3})
    with pytest.raises(DitreeInputError, match="car.*unknown CarParams"):
        make_robot("car", {"mass": 1.0})
    assert make_robot("car", CarParams(C2=12.0).to_dict()).params.C2 == 12.0
    with pytest.raises(TypeError, match="cannot drive a policy"):
        check_policy_robot(object())


def test_car_mirror_rollout_is_the_mirrored_rollout():
    car = Car()
    rng = np.random.default_rng(3)
    x0 = np.array([[0.3, -0.7, 2.9, 1.5, 0.5, 0.1], [-1.0, 2.0, -0.4, 0.0, 0.0, -0.3]])
    u = car.sample_controls(rng, (2, 80))
    sig = np.array(car.control_mirror_signs)
    a = car.rollout(x0, u)
    b = car.rollout(car.mirror_states(x0), u * sig)
    np.testing.assert_allclose(b, car.mirror_states(a), atol=1e-9)
    np.testing.assert_allclose(car.policy_features(b), car.policy_features(a) * car.policy_feature_mirror_signs, atol=1e-9)
    np.testing.assert_allclose(car.mirror_states(car.mirror_states(a)), a, atol=1e-12)
    # torch gives the same mirror
    np.testing.assert_allclose(car.mirror_states(torch.as_tensor(a)).numpy(), car.mirror_states(a))


def test_racecar_mirror_rollout_is_the_mirrored_rollout(racecar):
    """PyBullet's physics is not exactly mirror-symmetric (driving straight from rest drifts ~1 cm
    to the right over 1 s), so compare with a tolerance: tight after one control period, loose after
    40 (0.8 s of random controls), and far below the error of not mirroring the steering."""
    rng = np.random.default_rng(0)
    x1 = _moving_racecar_states(racecar)
    u = racecar.sample_controls(rng, (2, 40))
    sig = np.array(racecar.control_mirror_signs)
    a = racecar.rollout(x1, u)
    b = racecar.rollout(racecar.mirror_states(x1), u * sig)
    m = racecar.mirror_states(a)
    one = racecar.policy_features(m[:, 1]) - racecar.policy_features(b[:, 1])
    assert np.abs(one[:, :4]).max() < 2e-3 and np.abs(m[:, 1, :3] - b[:, 1, :3]).max() < 1e-4
    pose_err = np.abs(m[..., :2] - b[..., :2]).max()
    yaw_err = np.abs((m[..., 2] - b[..., 2] + np.pi) % (2 * np.pi) - np.pi).max()
    assert pose_err < 0.1 and yaw_err < 0.15, (pose_err, yaw_err)
    fa = racecar.policy_features(a) * racecar.policy_feature_mirror_signs
    fb = racecar.policy_features(b)
    np.testing.assert_allclose(fb[..., 3], fa[..., 3], atol=0.01)  # steering hinge angle
    np.testing.assert_allclose(fb[..., 0], fa[..., 0], atol=0.3)  # forward speed (yaw rate is jumpy under random steering)
    wrong = racecar.rollout(racecar.mirror_states(x1), u)  # steering not mirrored
    assert np.abs(m[..., :2] - wrong[..., :2]).max() > 5 * pose_err
    np.testing.assert_allclose(racecar.mirror_states(m), a, atol=1e-12)
