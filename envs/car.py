"""The DiTree car: a 6-D single-track ("bicycle") model with rate controls (docs/car.md).

State ``x = [x, y, yaw, v, D, delta]``

====== ======== =====================================================
index  unit     meaning
====== ======== =====================================================
0      m        position x
1      m        position y
2      rad      heading (0 = +x, CCW positive), wrapped to [-pi, pi)
3      m/s      forward speed, clipped to [v_min, v_max] = [0, 10]
4      1        throttle/brake command D, clipped to [-1, 1.5]
5      rad      steering angle delta (+ = left), clipped to [-0.4, 0.4]
====== ======== =====================================================

Control ``u = [dD, ddelta]``: throttle rate in [-10, 10] 1/s and steering rate in [-2, 2] rad/s,
clipped to these bounds before integration.

Dynamics (explicit Euler at ``dt`` = 0.02 s)::

    F      = (Cm1 - Cm2*v)*D - Cr2*v**2 - Cr0*tanh(5*v)
    x'     = v*cos(yaw + C1*delta)
    y'     = v*sin(yaw + C1*delta)
    yaw'   = v*C2*delta
    v'     = (F/m)*cos(C1*delta)
    D'     = dD
    delta' = ddelta

The paper's reference code bounds neither D nor delta; we bound delta to [-0.4, 0.4] rad and D to
[-1, 1.5] (the expert data never leaves these), which keeps the model physical when a sampler
(random or learned) pushes a rate in one direction for a long time.

The same equations run on numpy arrays and torch tensors (CPU or CUDA) through :meth:`Car.step`
and :meth:`Car.rollout` (batched, no Python loop over the batch), and on plain floats through
:meth:`Car.step_scalar` for OMPL's per-state callbacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.footprint import CAR_FOOTPRINT, Footprint
from envs.registry import OmplDefaults, PolicyDefaults, RobotSpec, SearchDefaults, register_robot
from envs.robot_math import Array, ParamsDict, array_module, clip, euler_rollout, mirror, stack_last, wrap_angle

STATE_NAMES = ("x", "y", "yaw", "v", "D", "delta")
CONTROL_NAMES = ("dD", "ddelta")
POLICY_FEATURE_NAMES = ("v", "D", "delta")
"""The car's policy features: the state beyond the pose (docs/policy.md, 'Policy inputs')."""
STATE_MIRROR_SIGNS = (1.0, -1.0, -1.0, 1.0, 1.0, -1.0)
"""The mirror ``y -> -y`` negates y, yaw and delta."""


@dataclass(frozen=True)
class CarParams(ParamsDict):
    """Physical parameters and bounds of the DiTree car; defaults are the paper's (docs/car.md)."""

    m: float = 0.043
    C1: float = 0.5
    C2: float = 15.5
    Cm1: float = 0.28
    Cm2: float = 0.05
    Cr0: float = 0.011
    Cr2: float = 0.006
    dt: float = 0.02
    v_min: float = 0.0
    v_max: float = 10.0
    D_min: float = -1.0
    D_max: float = 1.5
    delta_min: float = -0.4
    delta_max: float = 0.4
    dD_max: float = 10.0
    ddelta_max: float = 2.0
    top_speed: float = 4.11
    """Upper bound on the speed the car can reach (m/s); used for lower bounds on path duration.
    The equilibrium of the dynamics at D = D_max = 1.5 is 4.105 m/s (at D = 1 it is 3.72 m/s, the
    paper's "3.7-4.0 m/s"); Euler integration at dt = 0.02 s approaches it without overshoot."""

    def __post_init__(self) -> None:
        self.check_fields(("m", "dt", "dD_max", "ddelta_max", "top_speed"),
                          (("v_min", "v_max"), ("D_min", "D_max"), ("delta_min", "delta_max")))


class Car:
    """The DiTree car model (docs/car.md). Stateless: all methods are pure functions of their inputs."""

    name = "car"
    state_dim = 6
    control_dim = 2
    state_names = STATE_NAMES
    control_names = CONTROL_NAMES
    policy_feature_names = POLICY_FEATURE_NAMES
    has_mirror = True
    """Left/right mirror-symmetric (``envs.robot``): the policy is trained with mirror augmentation."""
    policy_feature_mirror_signs = (1.0, 1.0, -1.0)
    """Under the mirror: v and D unchanged, delta negated."""
    control_mirror_signs = (1.0, -1.0)
    """Under the mirror: dD unchanged, ddelta negated."""
    angle_indices = (2,)
    """Only the heading wraps (delta is bounded to [-0.4, 0.4] rad)."""
    distance_weights = (1.0, 0.5, 0.25, 0.0, 0.0)
    """Goal metric (``envs.goal``): |dp| + 0.5 |dyaw| + 0.25 |dv| (the weights of the benchmark's
    second-order unicycle); the actuator states D and delta are ignored."""

    def __init__(self, params: CarParams | None = None) -> None:
        self.params = params if params is not None else CarParams()
        p = self.params
        self.footprint: Footprint = CAR_FOOTPRINT
        self.bodies: tuple[Footprint, ...] = (CAR_FOOTPRINT,)
        #: no body pairs to check against each other (one body)
        self.self_collision_pairs: tuple[tuple[int, int], ...] = ()
        self.control_low = np.array([-p.dD_max, -p.ddelta_max])
        self.control_high = np.array([p.dD_max, p.ddelta_max])
        #: bounds of (v, D, delta), the state components beyond the pose
        self.velocity_low = np.array([p.v_min, p.D_min, p.delta_min])
        self.velocity_high = np.array([p.v_max, p.D_max, p.delta_max])

    @property
    def dt(self) -> float:
        return self.params.dt

    @property
    def top_speed(self) -> float:
        """Upper bound on the speed (m/s): ``params.top_speed`` (the :class:`envs.robot.Robot` protocol)."""
        return self.params.top_speed

    def pose(self, states: Array) -> Array:
        """Planar pose ``(..., 3)`` = (x, y, yaw): the first three state components."""
        return states[..., :3]

    def footprint_poses(self, states: Array) -> Array:
        """Pose ``(..., 1, 3)`` of the one body: the footprint is centred on the pose."""
        return states[..., None, :3]

    def speed(self, states: Array) -> Array:
        """Forward speed ``(...)`` (m/s): state component 3."""
        return states[..., 3]

    def __repr__(self) -> str:
        return f"Car({self.params})"

    # ------------------------------------------------------------------ batched
    def clip_controls(self, u: Array) -> Array:
        """Clip controls ``(..., 2)`` to the control bounds."""
        p = self.params
        return stack_last(
            [clip(u[..., 0], -p.dD_max, p.dD_max), clip(u[..., 1], -p.ddelta_max, p.ddelta_max)], u
        )

    def step(self, x: Array, u: Array) -> Array:
        """One Euler step of ``dt``: states ``(N, 6)``, controls ``(N, 2)`` -> states ``(N, 6)``.

        Works on numpy arrays and torch tensors alike (any leading batch shape).
        """
        p = self.params
        xp = array_module(x)
        px, py, yaw, v, D, delta = (x[..., i] for i in range(6))
        dD = clip(u[..., 0], -p.dD_max, p.dD_max)
        ddelta = clip(u[..., 1], -p.ddelta_max, p.ddelta_max)
        F = (p.Cm1 - p.Cm2 * v) * D - p.Cr2 * v * v - p.Cr0 * xp.tanh(5.0 * v)
        heading = yaw + p.C1 * delta
        dt = p.dt
        nx = px + dt * v * xp.cos(heading)
        ny = py + dt * v * xp.sin(heading)
        nyaw = wrap_angle(yaw + dt * v * p.C2 * delta)
        nv = clip(v + dt * (F / p.m) * xp.cos(p.C1 * delta), p.v_min, p.v_max)
        nD = clip(D + dt * dD, p.D_min, p.D_max)
        ndelta = clip(delta + dt * ddelta, p.delta_min, p.delta_max)
        return stack_last([nx, ny, nyaw, nv, nD, ndelta], x)

    def rollout(self, x0: Array, controls: Array) -> Array:
        """Integrate control sequences: ``(N, 6), (N, T, 2) -> (N, T+1, 6)`` (index 0 is ``x0``)."""
        return euler_rollout(self.step, x0, controls, 6, 2)

    # ------------------------------------------------------------------ scalar
    def step_scalar(self, x: list[float] | tuple[float, ...], u: list[float] | tuple[float, ...]) -> list[float]:
        """One Euler step on plain Python floats (for OMPL callbacks); matches :meth:`step`."""
        p = self.params
        px, py, yaw, v, D, delta = x
        dD = min(max(u[0], -p.dD_max), p.dD_max)
        ddelta = min(max(u[1], -p.ddelta_max), p.ddelta_max)
        F = (p.Cm1 - p.Cm2 * v) * D - p.Cr2 * v * v - p.Cr0 * math.tanh(5.0 * v)
        heading = yaw + p.C1 * delta
        dt = p.dt
        return [
            px + dt * v * math.cos(heading),
            py + dt * v * math.sin(heading),
            (yaw + dt * v * p.C2 * delta + math.pi) % (2 * math.pi) - math.pi,
            min(max(v + dt * (F / p.m) * math.cos(p.C1 * delta), p.v_min), p.v_max),
            min(max(D + dt * dD, p.D_min), p.D_max),
            min(max(delta + dt * ddelta, p.delta_min), p.delta_max),
        ]

    # ------------------------------------------------------------------ helpers
    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        """A state at rest (v = D = delta = 0) at pose ``(x, y, yaw)``."""
        return np.array([x, y, wrap_angle(yaw), 0.0, 0.0, 0.0])

    def sample_controls(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform random controls of shape ``shape + (2,)`` within the bounds."""
        return rng.uniform(self.control_low, self.control_high, size=(*shape, 2))

    # ------------------------------------------------------------------ for the policy
    def policy_features(self, states: Array) -> Array:
        """Policy features ``(..., 3)`` = [v (m/s), D (1), delta (rad)] of states ``(..., 6)``: the
        state beyond the pose, already frame-free (a view of ``states``, same kind and dtype)."""
        return states[..., 3:6]

    def mirror_states(self, states: Array) -> Array:
        """States ``(..., 6)`` mirrored about the x axis: [x, -y, -yaw, v, D, -delta], yaw wrapped
        back to [-pi, pi) (the mirror of -pi is -pi). Returns a new array or tensor."""
        return mirror(states, STATE_MIRROR_SIGNS, (2,))


# ---------------------------------------------------------------------- registration
def _ompl_rest_bounds(car: Car) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``(v, D, delta)`` for OMPL: the car's own."""
    return car.velocity_low, car.velocity_high


register_robot(RobotSpec(
    name="car",
    entry_point=Car,
    params_type=CarParams,
    description="the DiTree paper's analytic car (bicycle model, Euler steps of 0.02 s)",
    map_cell_size=1.0,
    goal_tolerance=0.5,
    search=SearchDefaults(),  # the defaults are the car's (planners/sst.py tells how they were chosen)
    policy=PolicyDefaults(),
    ompl=OmplDefaults(rest_weight=0.3, rest_bounds=_ompl_rest_bounds, goal_rest="uniform"),
    checkpoint="car_d4rl_large_distilled",
    expert="ditree.data.expert:collect",
    expert_config="ditree.data.expert:ExpertConfig",
))
