"""The MIT racecar of ``pybullet_data`` (``racecar/racecar.urdf``), propagated by PyBullet physics.

A second robot for the same pipeline (see :mod:`envs.robot`): its motion comes from a physics
engine (wheel-ground contact and friction, suspension-free chassis, steering servos), not from a
formula. Rear-wheel drive (both rear wheels under one velocity motor), steered front wheels
(position-controlled hinges), passive front wheels.

Control ``u = [wheel_speed, steer]``: target angular speed of the rear wheels (rad/s, in
``[wheel_speed_min, wheel_speed_max]``; negative reverses) and target steering angle of both
front hinges (rad, + = left, in ``[-steer_max, steer_max]``), held for one control period ``dt``
= 0.02 s, i.e. ``substeps`` = 4 physics steps of 5 ms.

State, 24-D (``STATE_NAMES``):

======= ========================== ======================================================
index   name                       meaning
======= ========================== ======================================================
0, 1    x, y                       centre of the footprint (m): base link origin plus
                                   ``CENTRE_OFFSET`` = 0.177 m along the heading
2       yaw                        heading (rad), wrapped to [-pi, pi)
3       z                          height of the base link origin (m)
4, 5    roll, pitch                base orientation (rad; yaw-pitch-roll, PyBullet's Euler
                                   convention)
6-8     vx, vy, vz                 base linear velocity, world frame (m/s)
9-11    wx, wy, wz                 base angular velocity, world frame (rad/s)
12-17   q_*                        joint positions (rad): left/right rear wheel, left
                                   steering hinge, left front wheel, right steering hinge,
                                   right front wheel (URDF joints 2..7)
18-23   qd_*                       the same joints' velocities (rad/s)
======= ========================== ======================================================

This is the full dynamic state of the multibody, so a rollout can branch from any tree node.

**Purity.** :meth:`Racecar.rollout` is a pure function of (state vector, controls): at every
control period each body is reset from its state vector (``resetBasePositionAndOrientation``,
``resetBaseVelocity``, ``resetJointStatesMultiDof``: far cheaper than ``saveState``), and the
contact breaking threshold is 1e-6 m so that no persistent contact manifold (hidden state that
survives a reset) carries over from one period to the next (every period also lifts the bodies
clear of the ground and recomputes contacts before the reset, which frees any manifold left over,
with its warm-start impulses). The solver always runs its full ``solver_iterations`` (residual
threshold 0), so a body's result does not depend on the other bodies solved with it. Measured: the
same start and controls give the same states bit for bit, whether run whole, split at a node and
resumed from the node's state, alone or in a batch, in any slot (``tests/envs/test_racecar.py``).

**Batching.** One world (one ``p.DIRECT`` client, always addressed by ``physicsClientId``) holds
``k`` racecars at the same place on one ground plane; collision filtering lets each collide with
the plane only, never with one another, and one ``stepSimulation`` steps them all. A batch of N
rows is split into powers of two (at most ``max_world``) and each piece runs in a world of exactly
that size (created on first use), so no body is simulated in vain.

**Collision** with the maze walls is not simulated: the walls are checked with the same
footprint checkers as the car's (``envs.collision``), on the pose ``states[..., :3]``, at every
control period. The footprint ``RACECAR_FOOTPRINT`` (0.46 m x 0.30 m, wheels included) is about
1.5 times the car's, and its turning radius at full lock is about 0.6 m: plan in the paper's
mazes with the cell size scaled to 2 m (``GridMap.with_cell_size(2.0)``, ``cell_size=2.0`` in
``envs.problem``), see :data:`RACECAR_CELL_SIZE`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from envs.footprint import Footprint
from envs.registry import ExtensionDefaults, OmplDefaults, PolicyDefaults, RobotSpec, SearchDefaults, register_robot
from envs.robot_math import ParamsDict

STATE_NAMES = (
    "x", "y", "yaw", "z", "roll", "pitch", "vx", "vy", "vz", "wx", "wy", "wz",
    "q_rear_left", "q_rear_right", "q_steer_left", "q_front_left", "q_steer_right", "q_front_right",
    "qd_rear_left", "qd_rear_right", "qd_steer_left", "qd_front_left", "qd_steer_right", "qd_front_right",
)  # fmt: skip
CONTROL_NAMES = ("wheel_speed", "steer")
POLICY_FEATURE_NAMES = ("v_forward", "v_left", "yaw_rate", "steer_angle", "rear_wheel_speed")
"""The racecar's policy features (see :meth:`Racecar.policy_features`)."""

# The mirror y -> -y: positions and linear velocities lose their y, angular quantities (pseudovectors)
# keep only their y part (roll, yaw, wx, wz negated; pitch, wy kept); left and right joints swap; the
# steering hinges turn about z, so their angles and rates are negated; the wheels spin about the
# axle (y), so they keep their sign (all four wheel joints have the same axis in the URDF).
_MIRROR_PERM = np.array(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 12, 16, 17, 14, 15, 19, 18, 22, 23, 20, 21]
)
_MIRROR_SIGNS = np.array(
    [1, -1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1, 1], dtype=float
)

JOINTS = (2, 3, 4, 5, 6, 7)
"""URDF joint indices in state order (rear wheels, left hinge, left front, right hinge, right front)."""
REAR_WHEELS = [2, 3]
FRONT_WHEELS = [5, 7]
STEERING = [4, 6]
N_LINKS = 12

CENTRE_OFFSET = 0.177
"""Distance (m) from the base link origin forward to the footprint centre (the URDF's bounding box
spans -0.052..0.4065 m along the car)."""
RACECAR_FOOTPRINT = Footprint(length=0.46, width=0.30)
"""Bounding rectangle of the chassis and wheels, centred on the state's (x, y)."""
RACECAR_CELL_SIZE = 2.0
"""Cell size (m) at which the paper's maze maps are used with the racecar."""


@dataclass(frozen=True)
class RacecarParams(ParamsDict):
    """Control bounds and simulation settings of :class:`Racecar`.

    ``dt``: control period (s), divided into ``substeps`` physics steps. ``solver_iterations``:
    PyBullet's constraint solver iterations per physics step. ``wheel_force`` / ``steer_force``:
    maximum motor torques (N m) of the rear-wheel velocity motor and the steering servos.
    ``top_speed``: an upper bound on the speed (m/s) at ``wheel_speed_max``, above the terminal
    speed on flat ground (``scripts/bench_racecar.py`` prints it; docs/benchmarks.md, 'Racecar
    physics'); duration lower bounds rely on it. ``max_world``: largest number of bodies stepped
    together in one world (all bodies share one place, so the broad phase's cost grows with their
    number and larger worlds step fewer body-periods per second).
    """

    dt: float = 0.02
    _int_fields = ("substeps", "solver_iterations", "max_world")  # the rest are floats (ParamsDict)
    substeps: int = 4
    solver_iterations: int = 10
    wheel_speed_min: float = -20.0
    wheel_speed_max: float = 60.0
    steer_max: float = 0.5
    wheel_force: float = 10.0
    steer_force: float = 10.0
    top_speed: float = 3.5
    max_world: int = 16

    def __post_init__(self) -> None:
        for name in ("dt", "wheel_force", "steer_force", "top_speed", "steer_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RacecarParams.{name} must be positive, got {getattr(self, name)}")
        if self.substeps < 1 or self.solver_iterations < 1:
            raise ValueError("RacecarParams.substeps and solver_iterations must be >= 1")
        if not self.wheel_speed_min < self.wheel_speed_max:
            raise ValueError("RacecarParams.wheel_speed_min must be below wheel_speed_max")
        if self.max_world < 1 or self.max_world & (self.max_world - 1):
            raise ValueError(f"RacecarParams.max_world must be a power of two, got {self.max_world}")



# ---------------------------------------------------------------------- quaternions (x, y, z, w)
def quat_from_euler(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """PyBullet's ``getQuaternionFromEuler``, vectorised: ``(...)`` x3 -> ``(..., 4)``."""
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    return np.stack(
        [sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy],
        axis=-1,
    )


def euler_from_quat(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`quat_from_euler`: ``(..., 4)`` -> roll, pitch, yaw ``(...)``."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _cos_sin(a: Any) -> tuple[Any, Any]:
    if isinstance(a, np.ndarray):
        return np.cos(a), np.sin(a)
    return a.cos(), a.sin()


# ---------------------------------------------------------------------- one PyBullet world
_PARKED = [0.0, 0.0, 100.0]
"""Where bodies wait between periods: far above the ground plane, touching nothing."""
_IDENTITY = [0.0, 0.0, 0.0, 1.0]


class _World:
    """``k`` racecars sharing one DIRECT client and one ground plane, never touching each other."""

    def __init__(self, k: int, params: RacecarParams) -> None:
        import pybullet as p
        import pybullet_data

        self.p, self.k, self.params = p, k, params
        cid = self.cid = p.connect(p.DIRECT)
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=cid)
        p.setGravity(0, 0, -9.81, physicsClientId=cid)
        p.setPhysicsEngineParameter(
            fixedTimeStep=params.dt / params.substeps,
            numSolverIterations=params.solver_iterations,
            solverResidualThreshold=0.0,
            contactBreakingThreshold=1e-6,
            deterministicOverlappingPairs=1,
            physicsClientId=cid,
        )
        plane = p.loadURDF("plane.urdf", physicsClientId=cid)
        p.setCollisionFilterGroupMask(plane, -1, 1, 2, physicsClientId=cid)
        self.bodies = []
        for _ in range(k):
            b = p.loadURDF("racecar/racecar.urdf", [0, 0, 0.05], physicsClientId=cid)
            for link in range(-1, N_LINKS):
                p.setCollisionFilterGroupMask(b, link, 2, 1, physicsClientId=cid)
            p.setJointMotorControlArray(
                b, FRONT_WHEELS, p.VELOCITY_CONTROL, targetVelocities=[0.0, 0.0], forces=[0.0, 0.0], physicsClientId=cid
            )
            self.bodies.append(b)

    def close(self) -> None:
        try:
            if self.p.isConnected(self.cid):
                self.p.disconnect(self.cid)
        except (AttributeError, TypeError, ImportError):  # pragma: no cover - interpreter shutdown
            pass

    def _set(self, s: np.ndarray) -> None:
        """Reset every body from states ``(k, 24)``.

        First every body is lifted clear of the ground and contacts are recomputed, which frees
        the contact manifolds: a manifold point that persists across a reset carries its
        position and its solver impulse (the warm start) from the previous period, so a body's
        next state would depend on which trajectory the slot simulated before (measured: a tree
        path re-simulated in one call differed by 2e-5 after 512 identical states)."""
        p, cid = self.p, self.cid
        for b in self.bodies:
            p.resetBasePositionAndOrientation(b, _PARKED, _IDENTITY, physicsClientId=cid)
        p.performCollisionDetection(physicsClientId=cid)
        roll, pitch, yaw = s[:, 4], s[:, 5], s[:, 2]
        quat = quat_from_euler(roll, pitch, yaw).tolist()
        base = np.stack([s[:, 0] - CENTRE_OFFSET * np.cos(yaw), s[:, 1] - CENTRE_OFFSET * np.sin(yaw), s[:, 3]], 1).tolist()
        lin, ang = s[:, 6:9].tolist(), s[:, 9:12].tolist()
        q, qd = s[:, 12:18, None].tolist(), s[:, 18:24, None].tolist()
        for i, b in enumerate(self.bodies):
            p.resetBasePositionAndOrientation(b, base[i], quat[i], physicsClientId=cid)
            p.resetBaseVelocity(b, lin[i], ang[i], physicsClientId=cid)
            p.resetJointStatesMultiDof(b, JOINTS, q[i], qd[i], physicsClientId=cid)

    def _get(self) -> np.ndarray:
        """States ``(k, 24)`` of every body."""
        p, cid = self.p, self.cid
        pos, quat, vel, joints = [], [], [], []
        for b in self.bodies:
            x, o = p.getBasePositionAndOrientation(b, physicsClientId=cid)
            lin, ang = p.getBaseVelocity(b, physicsClientId=cid)
            js = p.getJointStates(b, JOINTS, physicsClientId=cid)
            pos.append(x)
            quat.append(o)
            vel.append(lin + ang)
            joints.append([j[0] for j in js] + [j[1] for j in js])
        pos, quat = np.asarray(pos), np.asarray(quat)
        roll, pitch, yaw = euler_from_quat(quat)
        out = np.empty((self.k, 24))
        out[:, 0] = pos[:, 0] + CENTRE_OFFSET * np.cos(yaw)
        out[:, 1] = pos[:, 1] + CENTRE_OFFSET * np.sin(yaw)
        out[:, 2] = _wrap(yaw)
        out[:, 3] = pos[:, 2]
        out[:, 4], out[:, 5] = roll, pitch
        out[:, 6:12] = vel
        out[:, 12:24] = joints
        return out

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """``(k, 24), (k, T, 2) -> (k, T+1, 24)``; controls already clipped."""
        p, cid, prm = self.p, self.cid, self.params
        T = controls.shape[1]
        out = np.empty((self.k, T + 1, 24))
        out[:, 0] = x0
        w = controls[..., 0].tolist()
        st = controls[..., 1].tolist()
        fw, fs = [prm.wheel_force] * 2, [prm.steer_force] * 2
        x = x0
        for t in range(T):  # time is sequential; bodies are stepped together
            self._set(x)
            for i, b in enumerate(self.bodies):
                p.setJointMotorControlArray(
                    b, REAR_WHEELS, p.VELOCITY_CONTROL, targetVelocities=[w[i][t]] * 2, forces=fw, physicsClientId=cid
                )
                p.setJointMotorControlArray(
                    b, STEERING, p.POSITION_CONTROL, targetPositions=[st[i][t]] * 2, forces=fs, physicsClientId=cid
                )
            for _ in range(prm.substeps):
                p.stepSimulation(physicsClientId=cid)
            x = self._get()
            out[:, t + 1] = x
        return out


# ---------------------------------------------------------------------- the robot
class Racecar:
    """The PyBullet racecar as a :class:`envs.robot.Robot` (see module docstring).

    Holds its PyBullet worlds (created on first use); pickling drops them (a copy in another
    process creates its own), so a ``Problem`` with a racecar can travel to worker processes.
    """

    name = "racecar"
    state_dim = 24
    control_dim = 2
    state_names = STATE_NAMES
    control_names = CONTROL_NAMES
    policy_feature_names = POLICY_FEATURE_NAMES
    has_mirror = True
    """Left/right mirror-symmetric (``envs.robot``): the policy is trained with mirror augmentation."""
    policy_feature_mirror_signs = (1.0, -1.0, -1.0, -1.0, 1.0)
    """Under the mirror: forward speed and wheel speed kept; lateral speed, yaw rate and steering negated."""
    control_mirror_signs = (1.0, -1.0)
    """Under the mirror: wheel speed kept, steering angle negated."""
    angle_indices = (2, 4)
    """Yaw and roll wrap (both come from ``atan2``); pitch comes from ``asin`` and never wraps,
    the steering hinges are bounded and the wheel angles accumulate without wrapping."""
    distance_weights = (1.0, 0.5) + (0.0,) * 3 + (0.25, 0.25) + (0.0,) * 3 + (0.25,) + (0.0,) * 12
    """Goal metric (``envs.goal``): |dp| + 0.5 |dyaw| + 0.25 (|dvx| + |dvy| + |dwz|), as the
    benchmark's second-order unicycle weighs speed and yaw rate; z, roll, pitch and joints ignored."""

    def __init__(self, params: RacecarParams | None = None) -> None:
        self.params = params if params is not None else RacecarParams()
        p = self.params
        self.footprint: Footprint = RACECAR_FOOTPRINT
        self.bodies: tuple[Footprint, ...] = (RACECAR_FOOTPRINT,)
        #: no body pairs to check against each other (one body)
        self.self_collision_pairs: tuple[tuple[int, int], ...] = ()
        self.control_low = np.array([p.wheel_speed_min, -p.steer_max])
        self.control_high = np.array([p.wheel_speed_max, p.steer_max])
        self._worlds: dict[int, _World] = {}
        self._rest: np.ndarray | None = None
        self.physics_steps = 0
        """Body-steps of ``dt`` simulated by this instance (for benchmarks)."""

    @property
    def dt(self) -> float:
        return self.params.dt

    @property
    def top_speed(self) -> float:
        return self.params.top_speed

    def __repr__(self) -> str:
        return f"Racecar({self.params})"

    def __getstate__(self) -> dict:
        return {"params": self.params}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["params"])

    def close(self) -> None:
        """Disconnect every PyBullet client of this instance."""
        for w in self._worlds.values():
            w.close()
        self._worlds.clear()

    def __del__(self) -> None:
        self.close()

    def to_dict(self) -> dict:
        return asdict(self.params)

    # ------------------------------------------------------------------ dynamics
    def clip_controls(self, u: np.ndarray) -> np.ndarray:
        return np.clip(u, self.control_low, self.control_high)

    def _world(self, k: int) -> _World:
        if k not in self._worlds:
            self._worlds[k] = _World(k, self.params)
        return self._worlds[k]

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """Simulate: states ``(N, 24)``, controls ``(N, T, 2)`` -> states ``(N, T+1, 24)`` (index 0
        is ``x0``). Controls are clipped to the bounds. numpy only."""
        if not isinstance(x0, np.ndarray) or not isinstance(controls, np.ndarray):
            raise TypeError("Racecar.rollout takes numpy arrays (the physics runs in PyBullet, not torch)")
        if controls.ndim != 3 or controls.shape[-1] != 2 or x0.ndim != 2 or x0.shape[-1] != 24 or len(x0) != len(controls):
            raise ValueError(
                f"rollout expects x0 (N,24) and controls (N,T,2), got {tuple(x0.shape)} and {tuple(controls.shape)}"
            )
        x0 = np.asarray(x0, dtype=float)
        u = self.clip_controls(np.asarray(controls, dtype=float))
        N, T = u.shape[:2]
        out = np.empty((N, T + 1, 24))
        start, m = 0, self.params.max_world
        while start < N:
            k = min(m, 1 << int(math.log2(N - start)))
            out[start : start + k] = self._world(k).rollout(x0[start : start + k], u[start : start + k])
            start += k
        self.physics_steps += N * T
        return out

    def step(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One control period: ``(N, 24), (N, 2) -> (N, 24)``."""
        return self.rollout(np.asarray(x, dtype=float), np.asarray(u, dtype=float)[:, None])[:, 1]

    # ------------------------------------------------------------------ helpers
    def pose(self, states: np.ndarray) -> np.ndarray:
        return states[..., :3]

    def footprint_poses(self, states: np.ndarray) -> np.ndarray:
        """Pose ``(..., 1, 3)`` of the one body: the footprint is centred on the pose."""
        return states[..., None, :3]

    def speed(self, states: np.ndarray) -> np.ndarray:
        """Forward speed (m/s): the base velocity along the heading."""
        return states[..., 6] * np.cos(states[..., 2]) + states[..., 7] * np.sin(states[..., 2])

    def _settled(self) -> np.ndarray:
        """The car settled on flat ground at the origin, heading +x (computed once, deterministic)."""
        if self._rest is None:
            x = np.zeros((1, 24))
            x[0, 3] = 0.01
            for _ in range(3):  # let it drop and settle, then zero the residual velocities
                x = self.rollout(x, np.zeros((1, 25, 2)))[:, -1]
                x[:, 6:12] = 0.0
                x[:, 18:24] = 0.0
            x[0, :3] = 0.0
            self._rest = x[0]
        return self._rest

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        """The settled racecar at rest (all velocities zero) at pose ``(x, y, yaw)``."""
        s = self._settled().copy()
        s[0], s[1], s[2] = x, y, _wrap(np.float64(yaw))
        return s

    def sample_controls(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform random controls of shape ``shape + (2,)`` within the bounds."""
        return rng.uniform(self.control_low, self.control_high, size=(*shape, 2))

    # ------------------------------------------------------------------ for the policy
    def policy_features(self, states: Any) -> Any:
        """Policy features ``(..., 5)`` of states ``(..., 24)``, all in the body's own frame
        (numpy array or torch tensor, same kind and dtype):

        ``v_forward``, ``v_left`` (m/s): base velocity along and across the heading; ``yaw_rate``
        (rad/s): ``wz``; ``steer_angle`` (rad): mean of the two steering hinges; ``rear_wheel_speed``
        (rad/s): mean of the two rear wheel speeds (what the wheel-speed control drives).
        """
        c, s = _cos_sin(states[..., 2])
        vx, vy = states[..., 6], states[..., 7]
        parts = [
            vx * c + vy * s,
            vy * c - vx * s,
            states[..., 11],
            0.5 * (states[..., 14] + states[..., 16]),
            0.5 * (states[..., 18] + states[..., 19]),
        ]
        if isinstance(states, np.ndarray):
            return np.stack(parts, axis=-1)
        import torch

        return torch.stack(parts, dim=-1)

    def mirror_states(self, states: np.ndarray) -> np.ndarray:
        """States ``(..., 24)`` mirrored about the x axis (``y -> -y``): y, yaw, roll, vy, wx and wz
        negated, left and right joints swapped, steering angles and rates negated; yaw wrapped back
        to [-pi, pi). Mirror-symmetric up to PyBullet's solver order (the URDF is symmetric):
        ``tests/envs/test_racecar_policy.py`` measures the gap."""
        out = np.asarray(states, dtype=float)[..., _MIRROR_PERM] * _MIRROR_SIGNS
        out[..., 2] = _wrap(out[..., 2])
        return out


# ---------------------------------------------------------------------- registration
OMPL_REST_LOW = np.array([-1.0, -math.pi, -math.pi] + [-20.0] * 3 + [-100.0] * 3 + [-1e6] * 6 + [-1e3] * 6)
"""Lower bounds of state components 3..23 (z, roll, pitch, v_xyz, w_xyz, 6 joint angles, 6 joint
rates) posed to OMPL: generous, so that no state the physics reaches is out of bounds (wheel angles
accumulate: 60 rad/s for 10 min is 36,000 rad)."""
OMPL_REST_HIGH = -OMPL_REST_LOW
OMPL_REST_HIGH[0] = 2.0


def _ompl_rest_bounds(robot: Racecar) -> tuple[np.ndarray, np.ndarray]:
    return OMPL_REST_LOW, OMPL_REST_HIGH


register_robot(RobotSpec(
    name="racecar",
    entry_point=Racecar,
    params_type=RacecarParams,
    description="the MIT racecar (pybullet_data URDF) stepped by PyBullet (4 physics steps per 0.02 s control period)",
    map_cell_size=RACECAR_CELL_SIZE,
    goal_tolerance=0.5,
    # SST's metric scaled with the cell size, longer extensions (it accelerates slowly from rest),
    # small batches (physics costs ~0.5 ms per body and step): see planners/sst.py
    search=SearchDefaults(sst_batch_size=16, delta_bn=2.0, delta_s=0.8, w_yaw=0.5, w_v=0.2,
                          extension=ExtensionDefaults(min_steps=25, max_steps=75, min_hold=10, max_hold=40),
                          ditree_batch_size=16),
    policy=PolicyDefaults(map_size=20, map_resolution=0.4, target_scale_m=40.0),
    # the 21 components beyond the pose weigh little: wheel angles grow without bound as the wheels
    # turn and would swamp nearest-neighbour distances; goal states are the racecar settled at rest
    ompl=OmplDefaults(rest_weight=0.01, rest_bounds=_ompl_rest_bounds, goal_rest="rest"),
    checkpoint="racecar_d4rl_large",
    expert="ditree.data.racecar_expert:collect",
    expert_config="ditree.data.racecar_expert:RacecarExpertConfig",
))
