"""The robot interface every planner, data and evaluation module programs against.

A robot is a parameter of the pipeline, not a fork of it. :class:`Robot` is a structural
protocol (``typing.Protocol``): :class:`envs.car.Car` (the paper's analytic car) and
:class:`envs.racecar.Racecar` (the MIT racecar stepped by PyBullet) both satisfy it.

Conventions shared by every robot:

- a state is a flat float vector ``(state_dim,)`` whose components are named by
  ``state_names``; batched states are ``(N, state_dim)``;
- the components in ``angle_indices`` are angles that wrap (the validator and goal distances
  compare them modulo 2 pi); ``distance_weights`` defines the robot's goal metric (``envs.goal``);
- the first three state components are the planar pose ``(x, y, yaw)`` (m, m, rad; yaw wrapped
  to [-pi, pi)) of the centre of the robot's ``footprint``, so generic code may read positions
  with ``states[..., :2]``; :meth:`Robot.pose` returns that slice explicitly;
- controls ``(control_dim,)`` lie within ``[control_low, control_high]`` and are held for one
  control period ``dt`` (s);
- :meth:`Robot.rollout` is a pure function of its inputs: the same start states and controls give
  the same states, bit for bit, whatever the batch they travel in. The tree relies on it (an edge
  grown from a node is re-simulated from the start by ``planners.validate``).

What the learned policy needs of a robot (``ditree.policy``): ``policy_features`` (the state
beyond the pose, in the robot's own frame, so the policy is invariant to where the robot is and
where it points), their names, and the left/right mirror map (``mirror_states`` and the signs of
features and controls under the mirror ``y -> -y``) used by the mirror augmentation. A robot is
mirror-symmetric when driving the mirrored start with the mirrored controls follows the mirrored
trajectory; the policy's feature and control signs must agree with ``mirror_states``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.footprint import Footprint


@runtime_checkable
class Robot(Protocol):
    """What the planners, the expert, the policy features and the evaluation need of a robot."""

    name: str
    """Registry name ("car", "racecar"); travels with every result."""
    state_dim: int
    control_dim: int
    state_names: tuple[str, ...]
    control_names: tuple[str, ...]
    control_low: np.ndarray
    """``(control_dim,)`` lower control bounds."""
    control_high: np.ndarray
    footprint: Footprint
    angle_indices: tuple[int, ...]
    """State components that are angles and wrap (always includes 2, the yaw): compared modulo
    2 pi by the validator and by :func:`envs.goal.state_distance`."""
    distance_weights: tuple[float, ...]
    """``(state_dim - 1,)`` weights of the robot's goal metric (:func:`envs.goal.state_distance`):
    the first for the planar position norm (m), then one per state component from index 2 on
    (0 = ignored), applied to absolute (for angles: wrapped) differences."""

    @property
    def dt(self) -> float:
        """Control period (s): one control is held for ``dt``; rollouts return one state per ``dt``."""
        ...

    @property
    def top_speed(self) -> float:
        """An upper bound on the planar speed the robot reaches (m/s), for time lower bounds."""
        ...

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """States ``(N, S)`` and controls ``(N, T, C)`` -> states ``(N, T+1, S)`` (index 0 is ``x0``)."""
        ...

    def pose(self, states: np.ndarray) -> np.ndarray:
        """Planar pose ``(..., 3)`` = (x, y, yaw) of the footprint centre, for collision checks,
        nearest neighbours and local maps."""
        ...

    def speed(self, states: np.ndarray) -> np.ndarray:
        """Signed forward speed ``(...)`` (m/s) along the heading."""
        ...

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        """A state ``(S,)`` at rest at pose ``(x, y, yaw)``."""
        ...

    def sample_controls(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform random controls ``shape + (C,)`` within the bounds."""
        ...

    # ------------------------------------------------------------------ for the policy
    policy_feature_names: tuple[str, ...]
    """Names of the ``F`` columns of :meth:`policy_features`."""
    policy_feature_mirror_signs: tuple[float, ...]
    """``(F,)`` +1/-1: how each policy feature changes under the left/right mirror."""
    control_mirror_signs: tuple[float, ...]
    """``(C,)`` +1/-1: how each control changes under the left/right mirror."""
    params: Any
    """Frozen parameter dataclass with ``to_dict()`` / ``from_dict()`` (recorded in checkpoints)."""

    def policy_features(self, states: Any) -> Any:
        """States ``(..., S)`` -> policy features ``(..., F)`` (numpy array or torch tensor, same
        kind and float dtype as ``states``): the state beyond the pose, in the robot's own frame."""
        ...

    def mirror_states(self, states: np.ndarray) -> np.ndarray:
        """States ``(..., S)`` mirrored about the x axis (``y -> -y``); yaw stays in [-pi, pi)."""
        ...


ROBOTS = ("car", "racecar")
"""Names accepted by :func:`make_robot`."""


def make_robot(name: str = "car", params: dict[str, Any] | None = None) -> Robot:
    """The robot registered under ``name``, with its default parameters or with ``params`` (a dict
    as written by its parameter dataclass's ``to_dict``, e.g. from a checkpoint or a dataset).

    Raises :class:`envs.errors.DitreeInputError` naming the known robots for an unknown name, and
    naming the robot and the problem for bad parameters.
    """
    from envs.errors import DitreeInputError

    if name == "car":
        from envs.car import Car as cls
        from envs.car import CarParams as pcls
    elif name == "racecar":
        from envs.racecar import Racecar as cls
        from envs.racecar import RacecarParams as pcls
    else:
        raise DitreeInputError(f"unknown robot {name!r}; known robots: {', '.join(ROBOTS)}")
    if params is None:
        return cls()
    try:
        return cls(pcls.from_dict(params))
    except (TypeError, ValueError) as e:
        raise DitreeInputError(f"bad parameters for robot {name!r}: {e}") from e


def check_robot(robot: object) -> None:
    """Raise ``TypeError`` naming what ``robot`` lacks to satisfy :class:`Robot`."""
    missing = [
        a for a in ("name", "state_dim", "control_dim", "state_names", "control_names", "control_low",
                    "control_high", "footprint", "dt", "top_speed", "rollout", "pose", "speed", "rest_state",
                    "sample_controls", "angle_indices", "distance_weights")
        if not hasattr(robot, a)
    ]
    if missing:
        raise TypeError(f"{type(robot).__name__} is not a Robot: missing {missing}")
    r: Any = robot
    if len(r.distance_weights) != r.state_dim - 1:
        raise TypeError(f"{type(robot).__name__}: distance_weights must have state_dim - 1 = {r.state_dim - 1} entries "
                        f"(position norm, then components 2..), got {len(r.distance_weights)}")
    if 2 not in r.angle_indices or any(not 2 <= i < r.state_dim for i in r.angle_indices):
        raise TypeError(f"{type(robot).__name__}: angle_indices must include 2 (yaw) and lie in 2..{r.state_dim - 1}, "
                        f"got {tuple(r.angle_indices)}")
    if len(robot.state_names) != robot.state_dim or len(robot.control_names) != robot.control_dim:  # type: ignore[attr-defined]
        raise TypeError(f"{type(robot).__name__}: state_names/control_names do not match state_dim/control_dim")
    if tuple(robot.state_names[:3]) != ("x", "y", "yaw"):  # type: ignore[attr-defined]
        raise TypeError(f"{type(robot).__name__}: the first three state components must be x, y, yaw")


POLICY_ATTRS = ("policy_features", "policy_feature_names", "policy_feature_mirror_signs", "control_mirror_signs",
                "mirror_states", "params", "name", "state_dim", "control_dim", "control_low", "control_high")
"""What ``ditree.policy`` reads of a robot."""


def check_policy_robot(robot: object) -> None:
    """Raise ``TypeError`` naming what ``robot`` lacks for the learned policy (see :data:`POLICY_ATTRS`),
    or which mirror signs disagree in length with its features or controls."""
    missing = [a for a in POLICY_ATTRS if not hasattr(robot, a)]
    if missing:
        raise TypeError(f"{type(robot).__name__} cannot drive a policy: missing {missing}")
    r: Any = robot
    if len(r.policy_feature_mirror_signs) != len(r.policy_feature_names):
        raise TypeError(f"{type(robot).__name__}: policy_feature_mirror_signs and policy_feature_names differ in length")
    if len(r.control_mirror_signs) != r.control_dim:
        raise TypeError(f"{type(robot).__name__}: control_mirror_signs must have control_dim = {r.control_dim} entries")
