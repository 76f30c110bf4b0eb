"""A first-order unicycle registered as "unicycle": state [x, y, yaw], controls [v, w]."""

from dataclasses import asdict, dataclass

import numpy as np

from envs import Footprint
from envs.registry import RobotSpec, register_robot


@dataclass(frozen=True)
class UnicycleParams:
    dt: float = 0.1  # s per control
    v_max: float = 0.5  # m/s, forward and backward
    w_max: float = 0.5  # rad/s

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UnicycleParams":
        return cls(**d)


class Unicycle:
    name = "unicycle"
    state_dim, control_dim = 3, 2
    state_names, control_names = ("x", "y", "yaw"), ("v", "w")
    angle_indices = (2,)  # yaw wraps
    distance_weights = (1.0, 0.5)  # goal metric: |dp| + 0.5 |dyaw|
    footprint = Footprint(length=0.5, width=0.25)
    bodies = (footprint,)  # one rectangle; a trailer would be a second body
    policy_feature_names = ()  # no state beyond the pose
    has_mirror = True  # symmetric bounds: mirrored demonstrations are valid ones (y -> -y negates yaw and w)
    policy_feature_mirror_signs, control_mirror_signs = (), (1.0, -1.0)

    def __init__(self, params: UnicycleParams | None = None) -> None:
        self.params = params or UnicycleParams()
        self.dt, self.top_speed = self.params.dt, self.params.v_max
        self.control_high = np.array([self.params.v_max, self.params.w_max])
        self.control_low = -self.control_high

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """States (N, 3) and controls (N, T, 2) -> states (N, T+1, 3)."""
        u = np.clip(controls, self.control_low, self.control_high)
        out = np.empty((len(x0), u.shape[1] + 1, 3))
        out[:, 0] = x0
        for t in range(u.shape[1]):
            x, y, yaw = out[:, t].T
            v, w = u[:, t].T
            out[:, t + 1] = np.stack([x + self.dt * v * np.cos(yaw), y + self.dt * v * np.sin(yaw),
                                      (yaw + self.dt * w + np.pi) % (2 * np.pi) - np.pi], axis=-1)
        return out

    def pose(self, states):
        return states[..., :3]

    def footprint_poses(self, states):
        return states[..., None, :3]  # (..., 1, 3)

    def speed(self, states):
        return np.zeros(states.shape[:-1])  # first order: the state holds no speed

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        return np.array([x, y, (yaw + np.pi) % (2 * np.pi) - np.pi])

    def sample_controls(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        return rng.uniform(self.control_low, self.control_high, size=(*shape, 2))

    def policy_features(self, states):
        return states[..., 3:]  # nothing beyond the pose

    def mirror_states(self, states: np.ndarray) -> np.ndarray:
        out = states * np.array([1.0, -1.0, -1.0])
        out[..., 2] = (out[..., 2] + np.pi) % (2 * np.pi) - np.pi
        return out


register_robot(RobotSpec(name="unicycle", entry_point=Unicycle, params_type=UnicycleParams,
                         description="first-order unicycle (an example of a user's robot)"))
