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
``target``      (B, 2)       squashed robot-frame target, see :func:`car_frame_target`; (B, 5)
                             for a policy with ``PolicyConfig.target_heading``: then also
                             [cos(dyaw), sin(dyaw), has_heading] (:func:`heading_target`)
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
from envs.goal import StateGoal
from envs.local_map import LocalMapSpec, local_maps
from envs.robot import Robot, check_policy_robot
from envs.world import GridMap

COND_KEYS = ("vel", "prev_control", "target", "local_map")
TARGET_NAMES = ("forward", "left")
"""The ``target`` conditioning's entries (:func:`car_frame_target`)."""
TARGET_HEADING_NAMES = TARGET_NAMES + ("cos_dyaw", "sin_dyaw", "has_heading")
"""The ``target`` conditioning's entries with the goal's heading (:func:`target_features`)."""


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


def heading_target(states, target_yaw):
    """The goal's heading relative to the robot's: ``(B, 3)`` = [cos(dyaw), sin(dyaw), has_heading]
    with ``dyaw = target_yaw - yaw`` (rad; any branch, cos and sin do not care), and zeros for a
    target without a heading (``target_yaw`` NaN).

    ``states (B, >=3)`` (yaw = component 2), ``target_yaw (B,)`` rad, NaN = no heading; numpy
    arrays or torch tensors -> ``(B, 3)`` of the same kind (NaN never reaches the result, so a
    CUDA graph may carry NaN in its input buffer)."""
    if isinstance(states, np.ndarray):
        yaw = np.asarray(target_yaw, dtype=states.dtype)
        has = ~np.isnan(yaw)
        d = np.where(has, yaw, 0.0) - states[:, 2]
        return np.stack([np.where(has, np.cos(d), 0.0), np.where(has, np.sin(d), 0.0), has.astype(states.dtype)], -1)
    yaw = torch.as_tensor(target_yaw, dtype=states.dtype, device=states.device)
    has = ~torch.isnan(yaw)
    zero = torch.zeros_like(yaw)
    d = torch.where(has, yaw, zero) - states[:, 2]
    return torch.stack([torch.where(has, d.cos(), zero), torch.where(has, d.sin(), zero), has.to(states.dtype)], -1)


def goal_heading(region) -> float:
    """The heading (rad) a goal region asks for: a :class:`~envs.goal.StateGoal`'s yaw (state
    component 2), NaN for any other region (a disc, None)."""
    return float(region.state[2]) if isinstance(region, StateGoal) else float("nan")


def target_features(states, targets_xy, scale_m: float = 20.0, target_yaw=None):
    """The ``target`` conditioning: :func:`car_frame_target` ``(B, 2)``, or with ``target_yaw``
    ``(B,)`` (rad, NaN = no heading) given, that followed by :func:`heading_target` ``(B, 5)``."""
    xy = car_frame_target(states, targets_xy, scale_m)
    if target_yaw is None:
        return xy
    h = heading_target(states, target_yaw)
    return np.concatenate([xy, h], -1) if isinstance(xy, np.ndarray) else torch.cat([xy, h], -1)


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
    goal_yaws: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Conditioning of every row of an expert dataset, computed once (vectorised, in chunks).

    ``states`` (N, S) and ``controls`` (N, C) of ``robot`` (None = the car), ``goals`` (E, 2) one
    per episode, ``goal_yaws`` (E,) (rad, NaN = the episode's goal had no heading; None = a policy
    without the goal's heading). Returns ``vel`` (N,F) f32 (the robot's policy features),
    ``prev_control`` (N,C) f32 (zeros at episode starts), ``target`` (N,2) f32 (towards the
    episode's goal; (N,5) with ``goal_yaws``, see :func:`target_features`), ``local_map``
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
    yaws = None
    if goal_yaws is not None:
        goal_yaws = np.asarray(goal_yaws, dtype=np.float64)
        if goal_yaws.shape != (len(np.asarray(episode_ends)),):
            raise DitreeInputError(f"goal_yaws have shape {goal_yaws.shape}, expected ({len(episode_ends)},): one per episode")
        yaws = goal_yaws[ep]
    target = target_features(states, np.asarray(goals, dtype=np.float64)[ep], target_scale_m, yaws).astype(np.float32)
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

