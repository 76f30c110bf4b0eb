"""Conditioning features of the policy (docs/policy.md, 'Policy inputs'), all in the robot's own frame.

A conditioning batch is a dict of raw (not yet standardised) float32 arrays or tensors with the
same keys as the training samples of ``ditree.data.augment``:

=============== ============ ===========================================================
key             shape        meaning
=============== ============ ===========================================================
``vel``         (B, F)       the robot's ``policy_features`` (the state beyond the pose, in
                             its own frame): car F = 3 [v (m/s), D (1), delta (rad)];
                             racecar F = 5 (``envs.racecar.POLICY_FEATURE_NAMES``); F = 0
                             for a robot whose state is its pose (first-order unicycle)
``prev_control`` (B, C)      last executed control (car [dD, ddelta]; any C >= 1); zeros at
                             the tree root
``target``      (B, 2)       squashed robot-frame target, see :func:`car_frame_target`
``local_map``   (B, S, S)    egocentric crop, walls +1, free -1 (``envs.local_map``)
=============== ============ ===========================================================

Training samples add ``actions`` (B, pred_horizon, C): the expert controls applied at the
sample's state and after it.
"""

from __future__ import annotations

import numpy as np
import torch

from envs.car import Car, CarParams
from envs.errors import DitreeInputError
from envs.local_map import LocalMapSpec, local_maps
from envs.robot import Robot, check_policy_robot
from envs.world import GridMap

COND_KEYS = ("vel", "prev_control", "target", "local_map")


def as_robot(robot: Robot | CarParams | None) -> Robot:
    """The robot a policy works for: a :class:`~envs.robot.Robot` as is, ``CarParams`` as a car
    with them (the interface before robots were a parameter), None as the default car.

    Raises ``TypeError`` naming what an object lacks to drive a policy."""
    if robot is None:
        return Car()
    if isinstance(robot, CarParams):
        return Car(robot)
    check_policy_robot(robot)
    return robot


def car_frame_target(states, targets_xy, scale_m: float = 20.0):
    """Squashed target relative to the car, in the car frame.

    With ``r = R(-yaw) (target_xy - xy)`` (x forward, y left, metres) and ``d = |r|``::

        feature = (r / d) * tanh(d / scale_m)          (feature = 0 when d = 0)

    so the direction is exact and the magnitude saturates smoothly towards 1 beyond ~2*scale_m
    (tanh(1) = 0.76 at d = scale_m). ``states (B, >=3)``, ``targets_xy (B, 2)`` as numpy arrays or
    torch tensors -> ``(B, 2)`` of the same kind. Invariant to any rigid motion applied to both
    the car pose and the target.
    """
    xp = np if isinstance(states, np.ndarray) else torch
    dx = targets_xy[:, 0] - states[:, 0]
    dy = targets_xy[:, 1] - states[:, 1]
    c, s = xp.cos(states[:, 2]), xp.sin(states[:, 2])
    fx = c * dx + s * dy
    fy = -s * dx + c * dy
    d = xp.sqrt(fx * fx + fy * fy)
    d_safe = np.maximum(d, 1e-9) if xp is np else d.clamp_min(1e-9)
    gain = xp.tanh(d / scale_m) / d_safe
    return xp.stack([fx * gain, fy * gain], -1)


def chunk_rows(rows: torch.Tensor, last_rows: torch.Tensor, horizon: int) -> torch.Tensor:
    """Row indices ``(B, horizon)`` of the action chunk starting at ``rows`` (B,), repeating the
    episode's last control (``last_rows``) past the end of the episode (edge padding)."""
    steps = torch.arange(horizon, device=rows.device)
    return torch.minimum(rows[:, None] + steps, last_rows[:, None])


def episode_rows(episode_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``episode_ends`` (E,) exclusive end rows -> per row: episode index (N,), first row of
    its episode (N,), last row of its episode (N,)."""
    ends = np.asarray(episode_ends, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    lengths = ends - starts
    if np.any(lengths < 1):
        bad = int(np.argmin(lengths))
        raise ValueError(f"episode_ends must be strictly increasing; episode {bad} is empty")
    ep = np.repeat(np.arange(len(ends)), lengths)
    return ep, starts[ep], ends[ep] - 1


def precompute_features(
    states: np.ndarray,
    controls: np.ndarray,
    episode_ends: np.ndarray,
    goals: np.ndarray,
    world: GridMap,
    spec: LocalMapSpec | None = None,
    target_scale_m: float = 20.0,
    chunk: int = 32768,
    robot: Robot | None = None,
) -> dict[str, np.ndarray]:
    """Conditioning of every row of an expert dataset, computed once (vectorised, in chunks).

    ``states`` (N, S) and ``controls`` (N, C) of ``robot`` (None = the car), ``goals`` (E, 2) one
    per episode. Returns ``vel`` (N,F) f32 (the robot's policy features), ``prev_control`` (N,C)
    f32 (zeros at episode starts), ``target`` (N,2) f32 (towards the episode's goal), ``local_map``
    (N,S,S) int8 (+1 wall / -1 free, int8 to keep 400 k crops at 160 MB), ``episode`` (N,) and
    ``last_row`` (N,) int64.
    """
    spec = spec or LocalMapSpec()
    robot = as_robot(robot)
    states = np.asarray(states, dtype=np.float64)
    controls = np.asarray(controls, dtype=np.float32)
    if states.ndim != 2 or states.shape[1] != robot.state_dim:
        raise DitreeInputError(
            f"states have shape {states.shape}, but robot {robot.name!r} has {robot.state_dim}-D states"
        )
    if controls.shape != (states.shape[0], robot.control_dim):
        raise DitreeInputError(
            f"controls have shape {controls.shape}, expected {(states.shape[0], robot.control_dim)} for robot {robot.name!r}"
        )
    ep, first, last = episode_rows(episode_ends)
    if ep.shape[0] != states.shape[0]:
        raise ValueError(f"episode_ends[-1] = {int(episode_ends[-1])} but there are {states.shape[0]} rows")
    prev = np.zeros_like(controls)
    prev[1:] = controls[:-1]
    prev[np.arange(len(states)) == first] = 0.0
    target = car_frame_target(states, np.asarray(goals, dtype=np.float64)[ep], target_scale_m).astype(np.float32)
    maps = np.empty((len(states), spec.size, spec.size), dtype=np.int8)
    for i in range(0, len(states), chunk):
        maps[i : i + chunk] = local_maps(world, states[i : i + chunk, :3], spec)
    vel = np.asarray(robot.policy_features(states), dtype=np.float32)
    F = len(robot.policy_feature_names)
    if vel.shape != (len(states), F):
        raise DitreeInputError(
            f"robot {robot.name!r}: policy_features gave shape {vel.shape} for {len(states)} states, expected "
            f"{(len(states), F)} ({list(robot.policy_feature_names)})"
        )
    return {
        "vel": vel,
        "prev_control": prev,
        "target": target,
        "local_map": maps,
        "episode": ep,
        "last_row": last,
    }

