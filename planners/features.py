"""SST's state metric: features ``[x, y, w_yaw cos(yaw), w_yaw sin(yaw), w_v v]`` (m) of any robot's
states, weighted by the robot's registered SST weights."""

from __future__ import annotations

import numpy as np

from envs.registry import robot_spec


def pose_speed_features(pose: np.ndarray, speed: np.ndarray, w_yaw: float = 0.25, w_v: float = 0.1) -> np.ndarray:
    """SST's metric features ``(N, 5)`` = ``[x, y, w_yaw cos(yaw), w_yaw sin(yaw), w_v v]`` (m) of
    poses ``(N, 3)`` and planar speeds ``(N,)`` (m/s) (the weights of :class:`planners.sst.SSTParams`)."""
    return np.stack([pose[:, 0], pose[:, 1], w_yaw * np.cos(pose[:, 2]), w_yaw * np.sin(pose[:, 2]),
                     w_v * speed], axis=1)


def feature_weights(robot) -> tuple[float, float]:
    """``(w_yaw, w_v)`` of :func:`pose_speed_features` for ``robot``: its registered SST weights
    (``envs.registry.SearchDefaults``)."""
    d = robot_spec(robot.name).search
    return d.w_yaw, d.w_v


def state_features(states: np.ndarray, robot) -> np.ndarray:
    """:func:`pose_speed_features` of any robot's states ``(N, state_dim)``, with the robot's weights."""
    return pose_speed_features(robot.pose(states), robot.speed(states), *feature_weights(robot))
