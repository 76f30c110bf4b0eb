"""Mirror augmentation (docs/policy.md, 'Mirror augmentation'): reflect the world about the x axis.

The car's dynamics are symmetric under ``y -> -y``: with ``yaw -> -yaw``, ``delta -> -delta``
and ``ddelta -> -ddelta`` (x, v, D and dD unchanged) a mirrored start driven by mirrored controls
follows the mirrored trajectory exactly. The occupancy grid flips upside down (row 0 is the top,
+y), and in the car's own frame left and right swap: the egocentric crop flips along its last
axis (columns run from left to right, see :mod:`envs.local_map`).

Every function returns new arrays and works on numpy arrays or torch tensors of any leading shape.

Other robots: the same mirror, with the robot's own state map and signs
(``robot.mirror_states``, ``robot.policy_feature_mirror_signs``, ``robot.control_mirror_signs``,
see :mod:`envs.robot`); :func:`mirror_sample` and :func:`mirror_controls` take the robot, and
``mirror_states``/``mirror_controls`` without one are the car's. Only a robot that declares a
mirror (``robot.has_mirror``) can be mirrored: for any other these functions raise
:class:`MirrorError` (training does not mirror such a robot, see ``ditree.policy.train``).
"""

from __future__ import annotations

import numpy as np

from envs.errors import DitreeInputError
from envs.robot import declares_mirror

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

#: state components negated by the mirror: y, yaw, delta
STATE_SIGNS = (1.0, -1.0, -1.0, 1.0, 1.0, -1.0)
#: control components negated by the mirror: ddelta
CONTROL_SIGNS = (1.0, -1.0)
#: a target with the goal's heading [forward, left, cos(dyaw), sin(dyaw), has_heading]: left and sin(dyaw) negated
TARGET_HEADING_SIGNS = (1.0, -1.0, 1.0, -1.0, 1.0)


class MirrorError(DitreeInputError):
    """Mirroring was asked of a robot that declares no mirror (``has_mirror`` False or absent)."""


def _require_mirror(robot) -> None:
    if robot is not None and not declares_mirror(robot):
        raise MirrorError(f"robot {getattr(robot, 'name', type(robot).__name__)!r} declares no left/right mirror "
                          "(has_mirror is not True): its samples cannot be mirrored")


def _signed(a, signs):
    if isinstance(a, np.ndarray):
        return a * np.asarray(signs, dtype=a.dtype)
    return a * torch.as_tensor(signs, dtype=a.dtype, device=a.device)


def mirror_states(states, robot=None):
    """States ``(..., 6)`` = [x, y, yaw, v, D, delta] -> [x, -y, -yaw, v, D, -delta]; with a
    ``robot``, its own ``mirror_states`` (states ``(..., robot.state_dim)``).

    The mirrored yaw of -pi is +pi, outside the model's [-pi, pi) wrap; it is wrapped back so that
    mirrored states are canonical."""
    if robot is not None:
        _require_mirror(robot)
        return robot.mirror_states(states)
    out = _signed(states, STATE_SIGNS)
    yaw = out[..., 2]
    out[..., 2] = (yaw + np.pi) % (2 * np.pi) - np.pi
    return out


def mirror_controls(controls, robot=None):
    """Controls ``(..., 2)`` = [dD, ddelta] -> [dD, -ddelta]; with a ``robot``, its
    ``control_mirror_signs`` (racecar: [wheel_speed, -steer])."""
    _require_mirror(robot)
    return _signed(controls, CONTROL_SIGNS if robot is None else robot.control_mirror_signs)


def mirror_goals(goals):
    """Goal points ``(..., 2)`` = [x, y] -> [x, -y]."""
    return _signed(goals, (1.0, -1.0))


def mirror_grid(grid):
    """An occupancy grid ``(H, W)`` (row 0 at the top, +y) mirrored about the x axis: flipped upside
    down. A :class:`~envs.world.GridMap` centred on the origin stays centred."""
    if isinstance(grid, np.ndarray):
        return np.ascontiguousarray(np.flipud(grid))
    return torch.flip(grid, dims=(-2,))


def mirror_local_map(local_map):
    """Egocentric crops ``(..., S, S)`` mirrored left/right: flipped along the last axis."""
    if isinstance(local_map, np.ndarray):
        return np.ascontiguousarray(local_map[..., ::-1])
    return torch.flip(local_map, dims=(-1,))


def _sign_last(a, signs, key: str):
    if a.shape[-1] != len(signs):
        raise ValueError(f"mirror_sample: {key!r} needs a last axis of size {len(signs)}, got shape {tuple(a.shape)}")
    return _signed(a, signs)


#: how :func:`mirror_sample` treats each policy-input key (all in the robot's own frame; the car's shown)
SAMPLE_KEYS = {
    "vel": "(B, F) policy features, times robot.policy_feature_mirror_signs (car [v, D, delta]: delta negated)",
    "prev_control": "(B, C) last control, times robot.control_mirror_signs (car [dD, ddelta]: ddelta negated)",
    "target": "(B, 2) target in the robot frame [forward, left]: left negated; (B, 5) with the goal's heading "
              "[forward, left, cos(dyaw), sin(dyaw), has_heading]: left and sin(dyaw) negated",
    "local_map": "(B, S, S) egocentric crop: flipped along the last axis",
    "actions": "(B, H, C) control chunk, times robot.control_mirror_signs",
}


def mirror_sample(sample: dict, robot=None) -> dict:
    """Mirror a batch of policy training samples in the robot's frame (see :data:`SAMPLE_KEYS`);
    ``robot`` gives the feature and control signs (None = the car); it must declare a mirror
    (:class:`MirrorError` otherwise).

    Unknown keys pass through unchanged (the same objects). Returns a new dict.
    """
    _require_mirror(robot)
    if robot is None:
        fsig, csig = (1.0, 1.0, -1.0), CONTROL_SIGNS
    else:
        fsig, csig = tuple(robot.policy_feature_mirror_signs), tuple(robot.control_mirror_signs)
    out = dict(sample)
    if "vel" in sample:
        out["vel"] = _sign_last(sample["vel"], fsig, "vel")
    if "prev_control" in sample:
        out["prev_control"] = _sign_last(sample["prev_control"], csig, "prev_control")
    if "target" in sample:
        width = sample["target"].shape[-1]
        out["target"] = _sign_last(sample["target"], TARGET_HEADING_SIGNS if width == 5 else (1.0, -1.0), "target")
    if "local_map" in sample:
        out["local_map"] = mirror_local_map(sample["local_map"])
    if "actions" in sample:
        out["actions"] = _sign_last(sample["actions"], csig, "actions")
    return out
