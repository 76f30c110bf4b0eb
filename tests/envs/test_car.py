"""The car model (docs/car.md): batched numpy/torch steps, the scalar step, rollouts, bounds, speed, turning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from envs.car import Car, CarParams, wrap_angle

CAR = Car()
P = CAR.params


def random_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """States spread over the whole state box, a third of them pinned at a bound of v, D or delta."""
    x = np.column_stack(
        [
            rng.uniform(-10, 10, n),
            rng.uniform(-10, 10, n),
            rng.uniform(-math.pi, math.pi, n),
            rng.uniform(P.v_min, P.v_max, n),
            rng.uniform(P.D_min, P.D_max, n),
            rng.uniform(P.delta_min, P.delta_max, n),
        ]
    )
    low = np.array([P.v_min, P.D_min, P.delta_min])
    high = np.array([P.v_max, P.D_max, P.delta_max])
    pin = rng.random((n, 3)) < 0.33
    at_high = rng.random((n, 3)) < 0.5
    x[:, 3:] = np.where(pin, np.where(at_high, high, low), x[:, 3:])
    return x


def random_controls(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Controls up to 1.5x beyond the bounds, some exactly at the bounds."""
    u = rng.uniform(-1.5, 1.5, (*shape, 2)) * CAR.control_high
    at_bound = rng.random(u.shape) < 0.2
    return np.where(at_bound, np.sign(u) * CAR.control_high, u)


def angle_diff(a, b):
    return np.abs(wrap_angle(np.asarray(a) - np.asarray(b)))


def test_batched_step_matches_scalar_step():
    rng = np.random.default_rng(0)
    x, u = random_states(rng, 600), random_controls(rng, (600,))
    batched = CAR.step(x, u)
    scalar = np.array([CAR.step_scalar(list(xi), list(ui)) for xi, ui in zip(x, u)])
    other = [0, 1, 3, 4, 5]
    np.testing.assert_allclose(batched[:, other], scalar[:, other], rtol=0, atol=1e-9)
    assert angle_diff(batched[:, 2], scalar[:, 2]).max() < 1e-9


def test_numpy_and_torch_float64_agree():
    rng = np.random.default_rng(1)
    x, u = random_states(rng, 500), random_controls(rng, (500, 30))
    ref = CAR.rollout(x, u)
    got = CAR.rollout(torch.from_numpy(x), torch.from_numpy(u))
    assert got.dtype == torch.float64
    got = got.numpy()
    np.testing.assert_allclose(got[..., [0, 1, 3, 4, 5]], ref[..., [0, 1, 3, 4, 5]], rtol=0, atol=1e-9)
    assert angle_diff(got[..., 2], ref[..., 2]).max() < 1e-9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_cuda_matches_numpy():
    rng = np.random.default_rng(2)
    x, u = random_states(rng, 500), random_controls(rng, (500, 30))
    ref = CAR.rollout(x, u)
    got = CAR.rollout(torch.from_numpy(x).cuda(), torch.from_numpy(u).cuda())
    assert got.is_cuda
    got = got.cpu().numpy()
    np.testing.assert_allclose(got[..., [0, 1, 3, 4, 5]], ref[..., [0, 1, 3, 4, 5]], rtol=0, atol=1e-9)
    assert angle_diff(got[..., 2], ref[..., 2]).max() < 1e-9


def test_rollout_shape_and_consistency_with_step():
    rng = np.random.default_rng(3)
    N, T = 7, 25
    x0, u = random_states(rng, N), random_controls(rng, (N, T))
    traj = CAR.rollout(x0, u)
    assert traj.shape == (N, T + 1, 6)
    np.testing.assert_array_equal(traj[:, 0], x0)
    for t in range(T):
        np.testing.assert_array_equal(traj[:, t + 1], CAR.step(traj[:, t], u[:, t]))


def test_rollout_rejects_bad_shapes():
    with pytest.raises(ValueError, match="rollout expects"):
        CAR.rollout(np.zeros((3, 6)), np.zeros((3, 2)))


def test_controls_beyond_bounds_are_clipped():
    rng = np.random.default_rng(4)
    x = random_states(rng, 200)
    u = rng.uniform(-100, 100, (200, 2))
    clipped = np.clip(u, CAR.control_low, CAR.control_high)
    np.testing.assert_array_equal(CAR.step(x, u), CAR.step(x, clipped))
    np.testing.assert_array_equal(CAR.clip_controls(u), clipped)
    for xi, ui, ci in zip(x[:20], u[:20], clipped[:20]):
        assert CAR.step_scalar(list(xi), list(ui)) == CAR.step_scalar(list(xi), list(ci))


def test_long_random_rollouts_respect_the_state_bounds():
    rng = np.random.default_rng(5)
    # sticky random controls (held for 50 steps) push D and delta into their bounds and brake hard
    u = np.repeat(random_controls(rng, (64, 12)), 50, axis=1)
    traj = CAR.rollout(random_states(rng, 64), u)
    v, D, delta = traj[..., 3], traj[..., 4], traj[..., 5]
    assert v.min() >= 0.0
    assert P.D_min <= D.min() and D.max() <= P.D_max
    assert P.delta_min <= delta.min() and delta.max() <= P.delta_max
    assert (D == P.D_min).any() and (D == P.D_max).any()  # the bounds were actually reached
    assert (v == 0.0).any()  # braking stopped some cars without reversing
    assert np.all((traj[..., 2] >= -math.pi) & (traj[..., 2] < math.pi))


def straight_run(D: float, seconds: float) -> np.ndarray:
    """Drive straight from rest with the throttle command held at ``D`` (zero control rates)."""
    steps = round(seconds / P.dt)
    x = CAR.rest_state(0.0, 0.0, 0.0)
    x[4] = D
    return CAR.rollout(x[None], np.zeros((1, steps, 2)))[0]


def test_top_speed():
    # the paper's "top speed is about 3.7-4.0 m/s" is the equilibrium at throttle D = 1 (docs/car.md, "Bounds")
    v1 = straight_run(1.0, 20.0)[:, 3]
    assert 3.7 <= v1[-1] <= 4.0
    assert abs(v1[-1] - v1[-50]) < 1e-4  # settled
    # D's upper bound 1.5 allows a little more; CarParams.top_speed must bound every reachable speed
    v15 = straight_run(P.D_max, 20.0)[:, 3]
    assert 4.0 < v15.max() <= P.top_speed
    traj = straight_run(P.D_max, 20.0)
    np.testing.assert_allclose(traj[:, 1], 0.0, atol=0)  # straight along +x
    assert np.all(np.diff(traj[:, 0]) >= 0)


def test_turn_radius_at_full_lock():
    # curvature C2 * delta: radius 1 / (15.5 * 0.4) = 0.161 m at full lock; at low speed the
    # Euler polygon matches the circle closely
    x0 = CAR.rest_state(0.0, 0.0, 0.0)
    x0[3], x0[5] = 0.3, P.delta_max
    x0[4] = 0.011 * math.tanh(1.5) / (0.28 - 0.05 * 0.3) + 0.006 * 0.09 / (0.28 - 0.05 * 0.3)  # hold speed
    traj = CAR.rollout(x0[None], np.zeros((1, 200, 2)))[0]
    assert np.all(traj[:, 5] == P.delta_max)
    v = traj[:-1, 3]
    dyaw = wrap_angle(np.diff(traj[:, 2]))
    ds = np.linalg.norm(np.diff(traj[:, :2], axis=0), axis=1)
    np.testing.assert_allclose(dyaw / ds, P.C2 * P.delta_max, rtol=1e-9)  # curvature = C2 * delta
    np.testing.assert_allclose(ds, v * P.dt, rtol=1e-12)
    # the positions lie on a circle of radius 1 / (C2 * delta) ~ 0.16 m (Euler: within a few mm)
    R = 1.0 / (P.C2 * P.delta_max)
    assert 0.15 < R < 0.17
    # least-squares circle through the positions: x^2 + y^2 = 2 a x + 2 b y + c
    xy = traj[:, :2]
    A = np.column_stack([2 * xy, np.ones(len(xy))])
    (a, b, _), *_ = np.linalg.lstsq(A, (xy**2).sum(axis=1), rcond=None)
    radius = np.linalg.norm(xy - [a, b], axis=1)
    assert abs(radius.mean() - R) < 0.005 and radius.std() < 0.005


def test_wrap_angle_range():
    a = np.array([-math.pi, math.pi, 3 * math.pi, -3 * math.pi + 1e-3, 0.0, 7.0])
    w = wrap_angle(a)
    assert np.all((w >= -math.pi) & (w < math.pi))
    np.testing.assert_allclose(np.cos(w), np.cos(a), atol=1e-12)
    np.testing.assert_allclose(np.sin(w), np.sin(a), atol=1e-12)


def test_params_validation_and_round_trip():
    with pytest.raises(ValueError, match="dt"):
        CarParams(dt=0.0)
    with pytest.raises(ValueError, match="D_min"):
        CarParams(D_min=2.0)
    with pytest.raises(ValueError, match="unknown CarParams"):
        CarParams.from_dict({"mass": 1.0})
    assert CarParams.from_dict(P.to_dict()) == P


def test_sample_controls_are_seeded_and_in_bounds():
    a = CAR.sample_controls(np.random.default_rng(9), (100, 8))
    b = CAR.sample_controls(np.random.default_rng(9), (100, 8))
    assert a.shape == (100, 8, 2)
    np.testing.assert_array_equal(a, b)
    assert np.all((a >= CAR.control_low) & (a <= CAR.control_high))
