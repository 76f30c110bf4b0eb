"""dynobench's kinematic car towing one trailer (``car1_v0``): a two-body footprint.

State ``x = [x, y, yaw, yaw_trailer]`` (m, m, rad, rad; both angles wrapped to [-pi, pi)), control
``u = [v, phi]``: forward speed (m/s, in [-0.1, 0.5]) and steering angle (rad, ``|phi| <= pi/3``; a
steering *angle*, not a rate). Explicit Euler at ``dt`` = 0.1 s with both angles wrapped after each
step, as dynobench's ``Model_robot::step`` does::

    x'           = v cos(yaw)
    y'           = v sin(yaw)
    yaw'         = v / l tan(phi)                       l = 0.25 m (wheelbase)
    yaw_trailer' = v / d sin(yaw - yaw_trailer)         d = 0.5 m (hitch length)

Footprint, two boxes (:meth:`CarTrailer.footprint_poses`): the car, 0.5 m x 0.25 m centred on
(x, y) and rotated by ``yaw``; the trailer, 0.3 m x 0.25 m centred ``d`` behind the car's centre
along the trailer's heading, ``(x, y) - d (cos yaw_trailer, sin yaw_trailer)``, rotated by
``yaw_trailer``. The two bodies never collide with each other (dynobench does not check it).
Distance (full-state goals): ``|dp| + 0.5 |dyaw| + 0.5 |dyaw_trailer|``.

The policy's feature is the hitch angle ``yaw - yaw_trailer`` (wrapped): frame-free, negated by the
left/right mirror, as is the steering angle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.footprint import Footprint
from envs.registry import OmplDefaults, PolicyDefaults, RobotSpec, SearchDefaults, register_robot
from envs.robot_math import (
    Array,
    EulerRobot,
    ParamsDict,
    array_module,
    mirror,
    stack_last,
    torch,
    wrap_angle,
)


@dataclass(frozen=True)
class CarTrailerParams(ParamsDict):
    """Geometry, bounds and time step; defaults are dynobench's ``models/car1_v0.yaml``."""

    wheelbase: float = 0.25
    hitch_length: float = 0.5
    v_min: float = -0.1
    v_max: float = 0.5
    steer_max: float = 1.047198
    dt: float = 0.1
    car_length: float = 0.5
    car_width: float = 0.25
    trailer_length: float = 0.3
    trailer_width: float = 0.25
    position_weight: float = 1.0
    yaw_weight: float = 0.5
    trailer_yaw_weight: float = 0.5

    def __post_init__(self) -> None:
        self.check_fields(("wheelbase", "hitch_length", "steer_max", "dt", "car_length", "car_width", "trailer_length",
                           "trailer_width"), (("v_min", "v_max"),))
        if not self.steer_max < math.pi / 2:
            raise ValueError(f"CarTrailerParams.steer_max must be below pi/2, got {self.steer_max}")

    @classmethod
    def from_dynobench_model(cls, model: dict) -> CarTrailerParams:
        """From a parsed dynobench model YAML (``models/car1_v0.yaml``, one trailer); absent keys keep
        the defaults."""
        d = cls()
        w = model.get("distance_weights", [d.position_weight, d.yaw_weight, d.trailer_yaw_weight])
        size = model.get("size", [d.car_length, d.car_width])
        trailer = model.get("size_trailer", [d.trailer_length, d.trailer_width])
        if int(model.get("num_trailers", 1)) != 1:
            raise ValueError(f"CarTrailerParams: only one trailer is modelled, got num_trailers={model['num_trailers']}")
        return cls(wheelbase=float(model.get("l", d.wheelbase)),
                   hitch_length=float(model.get("hitch_lengths", [d.hitch_length])[0]),
                   v_min=float(model.get("min_vel", d.v_min)), v_max=float(model.get("max_vel", d.v_max)),
                   steer_max=float(model.get("max_steering_abs", d.steer_max)), dt=float(model.get("dt", d.dt)),
                   car_length=float(size[0]), car_width=float(size[1]), trailer_length=float(trailer[0]),
                   trailer_width=float(trailer[1]), position_weight=float(w[0]), yaw_weight=float(w[1]),
                   trailer_yaw_weight=float(w[2]))


class CarTrailer(EulerRobot):
    """A kinematic car with one trailer. Stateless: every method is a pure function of its inputs."""

    name = "car1_v0"
    state_dim = 4
    control_dim = 2
    state_names = ("x", "y", "yaw", "yaw_trailer")
    control_names = ("v", "phi")
    angle_indices = (2, 3)
    policy_feature_names = ("hitch_angle",)
    policy_feature_mirror_signs = (-1.0,)
    control_mirror_signs = (1.0, -1.0)
    has_mirror = True
    self_collision_pairs: tuple[tuple[int, int], ...] = ()
    """dynobench does not check the car against its trailer."""

    def __init__(self, params: CarTrailerParams | None = None) -> None:
        self.params = p = params if params is not None else CarTrailerParams()
        self.footprint = Footprint(p.car_length, p.car_width)
        self.bodies = (self.footprint, Footprint(p.trailer_length, p.trailer_width))
        self.control_low = np.array([p.v_min, -p.steer_max])
        self.control_high = np.array([p.v_max, p.steer_max])
        self.distance_weights = (p.position_weight, p.yaw_weight, p.trailer_yaw_weight)

    def __repr__(self) -> str:
        return f"CarTrailer({self.params})"

    @property
    def top_speed(self) -> float:
        return max(abs(self.params.v_min), abs(self.params.v_max))

    def footprint_poses(self, states: Array) -> Array:
        """Poses of the car's and the trailer's box centres, ``(..., 2, 3)``."""
        xp = array_module(states)
        d = self.params.hitch_length
        th1 = states[..., 3]
        trailer = stack_last([states[..., 0] - d * xp.cos(th1), states[..., 1] - d * xp.sin(th1), th1], states)
        car = states[..., :3]
        return xp.stack([car, trailer], -2) if xp is np else torch.stack([car, trailer], dim=-2)

    def speed(self, states: Array) -> Array:
        """No speed in the state (a kinematic model): zeros ``(...)``."""
        return states[..., 0] * 0.0

    def step(self, x: Array, u: Array) -> Array:
        """One Euler step: states ``(..., 4)``, controls ``(..., 2)`` -> states ``(..., 4)``."""
        xp = array_module(x)
        p = self.params
        u = self.clip_controls(u)
        v, phi = u[..., 0], u[..., 1]
        yaw, yaw1 = x[..., 2], x[..., 3]
        dt = p.dt
        return stack_last(
            [x[..., 0] + dt * v * xp.cos(yaw), x[..., 1] + dt * v * xp.sin(yaw),
             wrap_angle(yaw + dt * v / p.wheelbase * xp.tan(phi)),
             wrap_angle(yaw1 + dt * v / p.hitch_length * xp.sin(yaw - yaw1))], x)

    def step_scalar(self, x, u) -> list[float]:
        """One Euler step on plain floats (OMPL callbacks); matches :meth:`step`."""
        p = self.params
        v = min(max(u[0], p.v_min), p.v_max)
        phi = min(max(u[1], -p.steer_max), p.steer_max)
        w = lambda a: (a + math.pi) % (2 * math.pi) - math.pi
        return [x[0] + p.dt * v * math.cos(x[2]), x[1] + p.dt * v * math.sin(x[2]),
                w(x[2] + p.dt * v / p.wheelbase * math.tan(phi)),
                w(x[3] + p.dt * v / p.hitch_length * math.sin(x[2] - x[3]))]

    def casadi_step(self, x, u):
        """One Euler step on casadi symbols (trajectory optimisation): ``x`` ``(4,)``, ``u`` ``(2,)`` ->
        ``(4,)``. The equations of :meth:`step` WITHOUT the angle wraps and without clipping: the
        optimiser keeps the angles unwrapped and bounds the controls itself."""
        import casadi as ca

        p = self.params
        v, phi = u[0], u[1]
        return ca.vertcat(x[0] + p.dt * v * ca.cos(x[2]), x[1] + p.dt * v * ca.sin(x[2]),
                          x[2] + p.dt * v / p.wheelbase * ca.tan(phi),
                          x[3] + p.dt * v / p.hitch_length * ca.sin(x[2] - x[3]))

    def casadi_footprint_poses(self, x) -> list[tuple]:
        """:meth:`footprint_poses` on casadi symbols: ``(x, y, yaw)`` of the car, then of the trailer."""
        import casadi as ca

        d = self.params.hitch_length
        return [(x[0], x[1], x[2]), (x[0] - d * ca.cos(x[3]), x[1] - d * ca.sin(x[3]), x[3])]

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        """The car at pose ``(x, y, yaw)`` with its trailer straight behind it."""
        a = float(wrap_angle(np.float64(yaw)))
        return np.array([x, y, a, a])

    def policy_features(self, states: Array) -> Array:
        """The hitch angle ``yaw - yaw_trailer`` wrapped to [-pi, pi), ``(..., 1)``."""
        return wrap_angle(states[..., 2:3] - states[..., 3:4])

    def mirror_states(self, states: Array) -> Array:
        """``[x, -y, -yaw, -yaw_trailer]`` (angles wrapped)."""
        return mirror(states, (1.0, -1.0, -1.0, -1.0), self.angle_indices)


register_robot(RobotSpec(
    name="car1_v0",
    entry_point=CarTrailer,
    params_type=CarTrailerParams,
    description="dynobench's kinematic car towing one trailer (two boxes; Euler steps of 0.1 s)",
    map_cell_size=0.5,
    goal_tolerance=0.25,
    search=SearchDefaults(sst_batch_size=128, delta_bn=0.3, delta_s=0.1, w_yaw=0.25, w_v=0.0, ditree_batch_size=64,
                          ditree_n_chunks=2),
    policy=PolicyDefaults(map_size=20, map_resolution=0.1, target_scale_m=10.0, pred_horizon=16, action_horizon=16,
                          target_heading=True),
    ompl=OmplDefaults(rest_weight=0.5, goal_rest="rest"),
    checkpoint="car1_v0_boxworlds",  # scripts/reproduce_car1_v0.sh
))
