"""dynobench's second-order unicycle (``unicycle2_v0``).

State ``x = [x, y, yaw, v, w]`` (m, m, rad, m/s, rad/s; yaw wrapped to [-pi, pi)), control
``u = [a, w_dot]``: forward acceleration (m/s^2) and yaw acceleration (rad/s^2), ``|a|, |w_dot| <=
0.25``. Explicit Euler at ``dt`` = 0.1 s, yaw wrapped after every step as dynobench's
``Model_robot::step`` does::

    x'   = v cos(yaw)
    y'   = v sin(yaw)
    yaw' = w
    v'   = a
    w'   = w_dot

``|v| <= 0.5`` and ``|w| <= 0.5`` are *state* bounds (:attr:`Unicycle2.state_low` /
:attr:`Unicycle2.state_high`), enforced on every state: after each Euler step the model saturates
v and w at their bounds. One step overshoots a bound by at most ``dt * 0.25 = 0.025``, so the
saturated step differs from dynobench's unclipped one by at most ``0.25 * 0.025 = 0.00625`` in its
metric per saturated component, but ``0.0125`` when v and w saturate in the same step, over
dynobench's one-step threshold of 0.01. A saturated step is however exactly an unclipped step with
a smaller control, still within the control bounds: :meth:`Unicycle2.effective_controls` recovers
it, and the dynobench solution writer (``envs.dynobench.write_solution``) records those, so a
written solution passes dynobench's dynamics test. A trajectory that stays within the bounds, as
the benchmark's reference solutions do, is integrated exactly as dynobench integrates it.

Footprint: one 0.5 m x 0.25 m box centred on (x, y), rotated by yaw. Distance (full-state goals):
``|dp| + 0.5 |dyaw| + 0.25 |dv| + 0.25 |dw|`` (dynobench's ``distance_weights``). The policy sees
``[v, w]``; the left/right mirror negates w and w_dot (all bounds are symmetric).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.footprint import Footprint
from envs.registry import OmplDefaults, PolicyDefaults, RobotSpec, SearchDefaults, register_robot
from envs.robot_math import (
    Array,
    EulerRobot,
    ParamsDict,
    array_module,
    clip,
    mirror,
    stack_last,
    wrap_angle,
)


@dataclass(frozen=True)
class Unicycle2Params(ParamsDict):
    """Bounds, time step, footprint and metric; defaults are dynobench's ``models/unicycle2_v0.yaml``."""

    v_min: float = -0.5
    v_max: float = 0.5
    w_min: float = -0.5
    w_max: float = 0.5
    a_max: float = 0.25
    """``|a| <= a_max`` (m/s^2)."""
    w_dot_max: float = 0.25
    """``|w_dot| <= w_dot_max`` (rad/s^2)."""
    dt: float = 0.1
    length: float = 0.5
    width: float = 0.25
    position_weight: float = 1.0
    yaw_weight: float = 0.5
    v_weight: float = 0.25
    w_weight: float = 0.25

    def __post_init__(self) -> None:
        self.check_fields(("a_max", "w_dot_max", "dt", "length", "width"), (("v_min", "v_max"), ("w_min", "w_max")))

    @classmethod
    def from_dynobench_model(cls, model: dict[str, Any]) -> Unicycle2Params:
        """From a parsed dynobench model YAML (``models/unicycle2_v0.yaml``). Like dynobench's C++,
        the yaw-acceleration bound is read from ``max_angular_acc_abs``; the yaml's
        ``max_angular_acc`` is ignored (default 0.25 either way)."""
        d = cls()
        w = model.get("distance_weights", [d.position_weight, d.yaw_weight, d.v_weight, d.w_weight])
        size = model.get("size", [d.length, d.width])
        return cls(v_min=float(model.get("min_vel", d.v_min)), v_max=float(model.get("max_vel", d.v_max)),
                   w_min=float(model.get("min_angular_vel", d.w_min)), w_max=float(model.get("max_angular_vel", d.w_max)),
                   a_max=float(model.get("max_acc_abs", d.a_max)),
                   w_dot_max=float(model.get("max_angular_acc_abs", d.w_dot_max)),
                   dt=float(model.get("dt", d.dt)), length=float(size[0]), width=float(size[1]),
                   position_weight=float(w[0]), yaw_weight=float(w[1]), v_weight=float(w[2]), w_weight=float(w[3]))


class Unicycle2(EulerRobot):
    """A second-order unicycle. Stateless: every method is a pure function of its inputs."""

    name = "unicycle2_v0"
    state_dim = 5
    control_dim = 2
    state_names = ("x", "y", "yaw", "v", "w")
    control_names = ("a", "w_dot")
    angle_indices = (2,)
    self_collision_pairs: tuple[tuple[int, int], ...] = ()
    policy_feature_names = ("v", "w")
    policy_feature_mirror_signs = (1.0, -1.0)
    control_mirror_signs = (1.0, -1.0)

    def __init__(self, params: Unicycle2Params | None = None) -> None:
        self.params = p = params if params is not None else Unicycle2Params()
        self.footprint = Footprint(p.length, p.width)
        self.bodies = (self.footprint,)
        self.control_low = np.array([-p.a_max, -p.w_dot_max])
        self.control_high = np.array([p.a_max, p.w_dot_max])
        self.state_low = np.array([-np.inf, -np.inf, -np.inf, p.v_min, p.w_min])
        """``(5,)`` state bounds (-inf where unbounded): v and w are saturated at them every step."""
        self.state_high = np.array([np.inf, np.inf, np.inf, p.v_max, p.w_max])
        self.distance_weights = (p.position_weight, p.yaw_weight, p.v_weight, p.w_weight)

    def __repr__(self) -> str:
        return f"Unicycle2({self.params})"

    @property
    def top_speed(self) -> float:
        return max(abs(self.params.v_min), abs(self.params.v_max))

    @property
    def has_mirror(self) -> bool:
        """Mirror-symmetric when the bounds on w are symmetric (the mirror negates w and w_dot)."""
        return self.params.w_min == -self.params.w_max

    def speed(self, states: Array) -> Array:
        """Forward speed v ``(...)`` (m/s)."""
        return states[..., 3]

    def step(self, x: Array, u: Array) -> Array:
        """One Euler step: states ``(..., 5)``, controls ``(..., 2)`` -> states ``(..., 5)`` (yaw wrapped,
        v and w saturated at their state bounds)."""
        xp = array_module(x)
        p = self.params
        u = self.clip_controls(u)
        dt = p.dt
        yaw, v, w = x[..., 2], x[..., 3], x[..., 4]
        return stack_last(
            [x[..., 0] + dt * v * xp.cos(yaw), x[..., 1] + dt * v * xp.sin(yaw), wrap_angle(yaw + dt * w),
             clip(v + dt * u[..., 0], p.v_min, p.v_max), clip(w + dt * u[..., 1], p.w_min, p.w_max)], x)

    def step_scalar(self, x, u) -> list[float]:
        """One Euler step on plain floats (OMPL callbacks); matches :meth:`step`."""
        p = self.params
        a = min(max(u[0], -p.a_max), p.a_max)
        wd = min(max(u[1], -p.w_dot_max), p.w_dot_max)
        yaw, v, w = x[2], x[3], x[4]
        return [x[0] + p.dt * v * math.cos(yaw), x[1] + p.dt * v * math.sin(yaw),
                (yaw + p.dt * w + math.pi) % (2 * math.pi) - math.pi,
                min(max(v + p.dt * a, p.v_min), p.v_max), min(max(w + p.dt * wd, p.w_min), p.w_max)]

    def effective_controls(self, states: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """The controls ``(T, 2)`` that dynobench's unclipped Euler step needs to go from each state of
        ``states`` ``(T+1, 5)`` to the next, where :meth:`step` saturated v or w; the given ``controls``
        ``(T, 2)`` (clipped to their bounds) elsewhere. Within the control bounds when ``states`` is a
        rollout of this model from a state within the state bounds."""
        states = np.asarray(states, dtype=float)
        u = self.clip_controls(np.asarray(controls, dtype=float))
        dt = self.params.dt
        nxt = states[:-1, 3:5] + dt * u
        lo, hi = self.state_low[3:5], self.state_high[3:5]
        saturated = (nxt < lo) | (nxt > hi)
        return np.where(saturated, (states[1:, 3:5] - states[:-1, 3:5]) / dt, u)

    def casadi_step(self, x, u):
        """One Euler step on casadi symbols: ``x`` (5,), ``u`` (2,) SX/MX -> next state (5,), the same
        equations as :meth:`step` without wrapping the yaw and without clipping (an optimiser imposes
        the bounds as constraints)."""
        import casadi as ca

        dt = self.params.dt
        return ca.vertcat(x[0] + dt * x[3] * ca.cos(x[2]), x[1] + dt * x[3] * ca.sin(x[2]), x[2] + dt * x[4],
                          x[3] + dt * u[0], x[4] + dt * u[1])

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        """At pose ``(x, y, yaw)`` with ``v = w = 0``."""
        return np.array([x, y, float(wrap_angle(np.float64(yaw))), 0.0, 0.0])

    def policy_features(self, states: Array) -> Array:
        """``[v, w]``, ``(..., 2)``."""
        return states[..., 3:5]

    def mirror_states(self, states: Array) -> Array:
        """``[x, -y, -yaw, v, -w]`` (yaw wrapped)."""
        return mirror(states, (1.0, -1.0, -1.0, 1.0, -1.0), self.angle_indices)


register_robot(RobotSpec(
    name="unicycle2_v0",
    entry_point=Unicycle2,
    params_type=Unicycle2Params,
    description="dynobench's second-order unicycle (accelerations; |v|, |w| <= 0.5 state bounds; box 0.5 x 0.25 m)",
    map_cell_size=0.5,
    goal_tolerance=0.25,
    search=SearchDefaults(sst_batch_size=128, delta_bn=0.3, delta_s=0.1, w_yaw=0.25, w_v=0.5, ditree_batch_size=64,
                          ditree_n_chunks=2),
    policy=PolicyDefaults(map_size=20, map_resolution=0.1, target_scale_m=10.0, pred_horizon=16, action_horizon=16,
                          target_heading=True),
    ompl=OmplDefaults(rest_weight=0.5, goal_rest="rest"),
    checkpoint="unicycle2_v0_boxworlds",  # scripts/reproduce_unicycle2_v0.sh
))
