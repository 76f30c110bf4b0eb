"""A two-body robot (a kinematic car pulling a trailer) for the multi-body footprint tests; the
fixture ``trailer_car`` (tests/conftest.py) hands one out."""

from __future__ import annotations

import math

import numpy as np

from envs.footprint import Footprint


class TrailerCar:
    """A kinematic car pulling one trailer, shaped like dynobench's ``car1_v0``; test-only.

    State ``(x, y, yaw, yaw_trailer)``: the car box 0.5 x 0.25 m centred at ``(x, y)`` heading
    ``yaw``; the trailer box 0.3 x 0.25 m centred ``hitch`` metres behind ``(x, y)`` along
    ``yaw_trailer``. Controls ``(v, steer)`` (m/s, rad), Euler steps of ``dt`` = 0.1 s.
    """

    name = "trailer_car"
    state_dim = 4
    control_dim = 2
    state_names = ("x", "y", "yaw", "yaw_trailer")
    angle_indices, distance_weights = (2, 3), (1.0, 0.5, 0.5)
    control_names = ("v", "steer")
    dt = 0.1
    top_speed = 0.5
    wheelbase = 0.25
    params = None

    def __init__(self, hitch: float = 0.5, self_collision_pairs: tuple[tuple[int, int], ...] = ()) -> None:
        self.hitch = hitch
        self.bodies = (Footprint(0.5, 0.25), Footprint(0.3, 0.25))
        self.footprint = self.bodies[0]
        self.self_collision_pairs = tuple(self_collision_pairs)
        self.control_low = np.array([-0.1, -math.pi / 3])
        self.control_high = np.array([0.5, math.pi / 3])

    def footprint_poses(self, states: np.ndarray) -> np.ndarray:
        s = np.asarray(states, dtype=float)
        trailer = np.stack(
            [s[..., 0] - self.hitch * np.cos(s[..., 3]), s[..., 1] - self.hitch * np.sin(s[..., 3]), s[..., 3]], -1
        )
        return np.stack([s[..., :3], trailer], -2)

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        x = np.array(x0, dtype=float)
        out = [x.copy()]
        for t in range(controls.shape[1]):
            v, phi = controls[:, t, 0], controls[:, t, 1]
            yaw, yaw_t = x[:, 2], x[:, 3]
            x = np.stack(
                [
                    x[:, 0] + v * np.cos(yaw) * self.dt,
                    x[:, 1] + v * np.sin(yaw) * self.dt,
                    yaw + v / self.wheelbase * np.tan(phi) * self.dt,
                    yaw_t + v / self.hitch * np.sin(yaw - yaw_t) * self.dt,
                ],
                -1,
            )
            x[:, 2:] = (x[:, 2:] + np.pi) % (2 * np.pi) - np.pi
            out.append(x.copy())
        return np.stack(out, 1)

    def pose(self, states: np.ndarray) -> np.ndarray:
        return states[..., :3]

    def speed(self, states: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(states)[:-1])

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        return np.array([x, y, yaw, yaw])

    def sample_controls(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(self.control_low, self.control_high, (*shape, self.control_dim))
