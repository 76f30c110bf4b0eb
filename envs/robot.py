"""The robot interface every planner, data and evaluation module programs against.

A robot is a parameter of the pipeline, not a fork of it. :class:`Robot` is a structural
protocol (``typing.Protocol``): :class:`envs.car.Car` (the paper's analytic car) and
:class:`envs.racecar.Racecar` (the MIT racecar stepped by PyBullet) both satisfy it. Each robot
module registers its robot by name in :mod:`envs.registry`, with the pipeline's defaults for it
(:func:`make_robot` builds a registered robot).

Optional: ``step_scalar(x, u) -> x``, one ``dt`` step on plain Python floats (lists), matching
:meth:`Robot.rollout`; the OMPL set-up (``envs.ompl_setup``) uses it for its per-state callbacks
when present (the car has one), else ``rollout`` with N = 1.

Optional: ``casadi_step(x, u)`` and ``casadi_footprint_poses(x)``, one step (the equations of
``rollout`` without angle wrapping or control clipping) and the bodies' poses (a list of ``K``
``(x, y, yaw)`` tuples) on casadi symbols; trajectory optimisation (``planners.trajopt``) needs them.

Conventions shared by every robot:

- a state is a flat float vector ``(state_dim,)`` whose components are named by
  ``state_names``; batched states are ``(N, state_dim)``;
- the components in ``angle_indices`` are angles that wrap (the validator and goal distances
  compare them modulo 2 pi); ``distance_weights`` defines the robot's goal metric (``envs.goal``);
- the first three state components are the planar pose ``(x, y, yaw)`` (m, m, rad; yaw wrapped
  to [-pi, pi)) of the robot's reference point (for the car and the racecar the centre of their one
  body), so generic code may read positions with ``states[..., :2]``; :meth:`Robot.pose` returns
  that slice explicitly;
- the robot's shape is ``K`` rectangles, ``bodies`` (``envs.footprint``), posed by
  :meth:`Robot.footprint_poses`; collision checks go through ``envs.collision.robot_collides``,
  which checks every body. Bodies of one robot do not collide with each other unless the robot
  lists the pair in ``self_collision_pairs`` (optional attribute; default none). ``footprint`` is
  the first body, kept for single-body code (drawings, datasets); it is NOT the whole shape of a
  multi-body robot;
- controls ``(control_dim,)`` lie within ``[control_low, control_high]`` and are held for one
  control period ``dt`` (s);
- :meth:`Robot.rollout` is a pure function of its inputs: the same start states and controls give
  the same states, bit for bit, whatever the batch they travel in. The tree relies on it (an edge
  grown from a node is re-simulated from the start by ``planners.validate``).

What the learned policy needs of a robot (``ditree.policy``): ``policy_features`` (the state
beyond the pose, in the robot's own frame, so the policy is invariant to where the robot is and
where it points; there may be none, ``F = 0``, for a robot whose state is its pose, e.g. a
first-order unicycle) and their names, any number of controls, and whether it has a left/right
mirror.

The mirror is declared, never assumed: ``has_mirror`` says whether the robot is mirror-symmetric,
i.e. driving the mirrored start (``y -> -y``) with the mirrored controls follows the mirrored
trajectory. A robot with ``has_mirror = True`` also provides the mirror map (``mirror_states`` and
the signs of its policy features and controls under the mirror, see :class:`MirrorSymmetric`), used
by the policy's mirror augmentation; the policy's feature and control signs must agree with
``mirror_states``, and every control the mirror negates must have symmetric bounds
(``control_low == -control_high``), or mirrored controls would leave the bounds. A robot with
``has_mirror = False`` (e.g. a unicycle that turns left faster than right) need not define the
mirror members; the policy is trained without mirror augmentation.
:func:`check_policy_robot` enforces all of this.
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
    """The first (for one-body robots: the only) body, for single-body code; collision code uses ``bodies``."""
    bodies: tuple[Footprint, ...]
    """The ``K`` rectangles of the robot's shape, in the order of :meth:`footprint_poses`."""
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

    def footprint_poses(self, states: np.ndarray) -> np.ndarray:
        """Poses ``(..., K, 3)`` = (x, y, yaw) of the centre of each body in :attr:`bodies`
        (numpy), for collision checks and drawings. One-body robots: ``pose(states)[..., None, :]``."""
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
    """Names of the ``F`` columns of :meth:`policy_features` (``F`` may be 0)."""
    has_mirror: bool
    """Whether the robot is left/right mirror-symmetric and provides the :class:`MirrorSymmetric`
    members (see the module docstring)."""
    params: Any
    """Frozen parameter dataclass with ``to_dict()`` / ``from_dict()`` (recorded in checkpoints)."""

    def policy_features(self, states: Any) -> Any:
        """States ``(..., S)`` -> policy features ``(..., F)`` (numpy array or torch tensor, same
        kind and float dtype as ``states``): the state beyond the pose, in the robot's own frame;
        ``(..., 0)`` for a robot without features."""
        ...


@runtime_checkable
class MirrorSymmetric(Protocol):
    """What a robot with ``has_mirror = True`` adds to :class:`Robot`: its left/right mirror."""

    policy_feature_mirror_signs: tuple[float, ...]
    """``(F,)`` +1/-1: how each policy feature changes under the left/right mirror."""
    control_mirror_signs: tuple[float, ...]
    """``(C,)`` +1/-1: how each control changes under the left/right mirror; a control with -1 must
    have symmetric bounds."""

    def mirror_states(self, states: np.ndarray) -> np.ndarray:
        """States ``(..., S)`` mirrored about the x axis (``y -> -y``); yaw stays in [-pi, pi)."""
        ...


def make_robot(name: str = "car", params: Any = None) -> Robot:
    """The robot registered under ``name`` (see :func:`envs.registry.make_robot`, the one
    implementation; kept here so that ``from envs.robot import make_robot`` goes on working)."""
    from envs.registry import make_robot as make

    return make(name, params)


def check_robot(robot: object) -> None:
    """Raise ``TypeError`` naming what ``robot`` lacks to satisfy :class:`Robot`."""
    missing = [
        a for a in ("name", "state_dim", "control_dim", "state_names", "control_names", "control_low",
                    "control_high", "footprint", "bodies", "footprint_poses", "dt", "top_speed", "rollout", "pose",
                    "speed", "rest_state", "sample_controls", "angle_indices", "distance_weights")
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
    r: Any = robot
    if not (isinstance(r.bodies, tuple) and r.bodies and all(isinstance(b, Footprint) for b in r.bodies)):
        raise TypeError(f"{type(robot).__name__}: bodies must be a non-empty tuple of Footprint rectangles")
    K = len(r.bodies)
    for pair in getattr(r, "self_collision_pairs", ()):
        if len(pair) != 2 or not all(isinstance(i, int) and 0 <= i < K for i in pair) or pair[0] == pair[1]:
            raise TypeError(f"{type(robot).__name__}: self_collision_pairs entry {pair!r} must name two of its {K} bodies")


POLICY_ATTRS = ("policy_features", "policy_feature_names", "has_mirror", "params", "name", "state_dim",
                "control_dim", "control_low", "control_high")
"""What ``ditree.policy`` reads of every robot."""
MIRROR_ATTRS = ("mirror_states", "policy_feature_mirror_signs", "control_mirror_signs")
"""What it also reads of a robot with ``has_mirror = True``."""


def declares_mirror(robot: object) -> bool:
    """Whether ``robot`` declares a left/right mirror (``robot.has_mirror``; False when absent)."""
    return bool(getattr(robot, "has_mirror", False))


def check_policy_robot(robot: object) -> None:
    """Raise ``TypeError`` naming what ``robot`` lacks for the learned policy (see :data:`POLICY_ATTRS`);
    for a robot that declares a mirror, what it lacks of :data:`MIRROR_ATTRS`, which mirror signs are
    not +1/-1 or disagree in length with its features or controls, and which control the mirror
    negates although its bounds are not symmetric."""
    kind = type(robot).__name__
    missing = [a for a in POLICY_ATTRS if not hasattr(robot, a)]
    if missing:
        raise TypeError(f"{kind} cannot drive a policy: missing {missing}")
    r: Any = robot
    if not isinstance(r.has_mirror, (bool, np.bool_)):
        raise TypeError(f"{kind}: has_mirror must be True or False, got {r.has_mirror!r}")
    if r.control_dim < 1 or np.shape(r.control_low) != (r.control_dim,) or np.shape(r.control_high) != (r.control_dim,):
        raise TypeError(f"{kind}: control_low and control_high must have control_dim = {r.control_dim} >= 1 entries")
    if not r.has_mirror:
        return
    missing = [a for a in MIRROR_ATTRS if not hasattr(robot, a)]
    if missing:
        raise TypeError(f"{kind} declares a mirror (has_mirror = True) but lacks {missing}")
    if len(r.policy_feature_mirror_signs) != len(r.policy_feature_names):
        raise TypeError(f"{kind}: policy_feature_mirror_signs and policy_feature_names differ in length")
    if len(r.control_mirror_signs) != r.control_dim:
        raise TypeError(f"{kind}: control_mirror_signs must have control_dim = {r.control_dim} entries")
    for attr in ("policy_feature_mirror_signs", "control_mirror_signs"):
        if any(v not in (1.0, -1.0) for v in getattr(r, attr)):
            raise TypeError(f"{kind}: {attr} must hold only +1 and -1, got {tuple(getattr(r, attr))}")
    low, high = np.asarray(r.control_low, dtype=float), np.asarray(r.control_high, dtype=float)
    for i, sign in enumerate(r.control_mirror_signs):
        if sign < 0 and not np.isclose(low[i], -high[i], rtol=1e-12, atol=1e-12):
            name = r.control_names[i] if len(getattr(r, "control_names", ())) == r.control_dim else f"#{i}"
            raise TypeError(
                f"{kind}: the mirror negates control {name!r}, but its bounds [{low[i]:g}, {high[i]:g}] are not "
                "symmetric; set has_mirror = False (or make the bounds symmetric)"
            )
