"""dynobench's first-order unicycle (``unicycle1_v0``, ``_v1``, ``_v2``): one module, three variants.

State ``x = [x, y, yaw]`` (m, m, rad; yaw wrapped to [-pi, pi)), control ``u = [v, w]``: forward
speed (m/s) and yaw rate (rad/s), each within its bounds. Explicit Euler at ``dt`` = 0.1 s, the
angle wrapped after every step exactly as dynobench's ``Model_robot::step`` does::

    x'   = v cos(yaw)
    y'   = v sin(yaw)
    yaw' = w

Footprint: one 0.5 m x 0.25 m box centred on (x, y), rotated by yaw. Distance (for full-state
goals): ``|dp| + 0.5 |dyaw|`` (dynobench's ``distance_weights: [1, 0.5]``).

The variants differ only in their control bounds (docs/robots.md):

============== ============== ================
variant        v (m/s)        w (rad/s)
============== ============== ================
unicycle1_v0   [-0.5, 0.5]    [-0.5, 0.5]
unicycle1_v1   [0.25, 0.5]    [-0.5, 0.5]
unicycle1_v2   [0.25, 0.5]    [-0.25, 0.5]
============== ============== ================

The policy sees no state beyond the pose (zero features). Only ``_v0`` is mirror-symmetric (its
bounds on w are symmetric): ``_v2`` turns left faster than right, so mirroring its demonstrations
would teach it turns it cannot make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from envs.footprint import Footprint
from envs.registry import ExtensionDefaults, OmplDefaults, PolicyDefaults, RobotSpec, SearchDefaults, register_robot
from envs.robot_math import Array, EulerRobot, ParamsDict, array_module, mirror, stack_last, wrap_angle


@dataclass(frozen=True)
class UnicycleParams(ParamsDict):
    """Bounds, time step and footprint of a first-order unicycle; defaults are ``unicycle1_v0``."""

    v_min: float = -0.5
    v_max: float = 0.5
    w_min: float = -0.5
    w_max: float = 0.5
    dt: float = 0.1
    length: float = 0.5
    width: float = 0.25
    position_weight: float = 1.0
    yaw_weight: float = 0.5

    def __post_init__(self) -> None:
        self.check_fields(("dt", "length", "width"), (("v_min", "v_max"), ("w_min", "w_max")))

    @classmethod
    def from_dynobench_model(cls, model: dict) -> UnicycleParams:
        """From a parsed dynobench model YAML (``models/unicycle1_v*.yaml``); absent keys keep the defaults."""
        d = cls()
        w = model.get("distance_weights", [d.position_weight, d.yaw_weight])
        size = model.get("size", [d.length, d.width])
        return cls(v_min=float(model.get("min_vel", d.v_min)), v_max=float(model.get("max_vel", d.v_max)),
                   w_min=float(model.get("min_angular_vel", d.w_min)), w_max=float(model.get("max_angular_vel", d.w_max)),
                   dt=float(model.get("dt", d.dt)), length=float(size[0]), width=float(size[1]),
                   position_weight=float(w[0]), yaw_weight=float(w[1]))


VARIANTS: dict[str, UnicycleParams] = {
    "unicycle1_v0": UnicycleParams(),
    "unicycle1_v1": UnicycleParams(v_min=0.25),
    "unicycle1_v2": UnicycleParams(v_min=0.25, w_min=-0.25),
}
"""dynobench's three first-order unicycle models (``models/unicycle1_v*.yaml``)."""


class Unicycle(EulerRobot):
    """A first-order unicycle. Stateless: every method is a pure function of its inputs."""

    state_dim = 3
    control_dim = 2
    state_names = ("x", "y", "yaw")
    control_names = ("v", "w")
    angle_indices = (2,)
    self_collision_pairs: tuple[tuple[int, int], ...] = ()
    policy_feature_names: tuple[str, ...] = ()
    policy_feature_mirror_signs: tuple[float, ...] = ()
    control_mirror_signs = (1.0, -1.0)

    def __init__(self, params: UnicycleParams | None = None, name: str = "unicycle1_v0") -> None:
        self.params = params if params is not None else VARIANTS.get(name, UnicycleParams())
        self.name = name
        p = self.params
        self.footprint = Footprint(p.length, p.width)
        self.bodies = (self.footprint,)
        self.control_low = np.array([p.v_min, p.w_min])
        self.control_high = np.array([p.v_max, p.w_max])
        self.distance_weights = (p.position_weight, p.yaw_weight)

    def __repr__(self) -> str:
        return f"Unicycle({self.name!r}, {self.params})"

    @property
    def top_speed(self) -> float:
        return max(abs(self.params.v_min), abs(self.params.v_max))

    @property
    def has_mirror(self) -> bool:
        """Mirror-symmetric when the bounds on w are symmetric (the mirror ``y -> -y`` negates w)."""
        return self.params.w_min == -self.params.w_max

    def speed(self, states: Array) -> Array:
        """A first-order unicycle has no speed in its state: zeros ``(...)``."""
        return states[..., 0] * 0.0

    def step(self, x: Array, u: Array) -> Array:
        """One Euler step: states ``(..., 3)``, controls ``(..., 2)`` -> states ``(..., 3)``."""
        xp = array_module(x)
        u = self.clip_controls(u)
        dt = self.params.dt
        yaw = x[..., 2]
        return stack_last(
            [x[..., 0] + dt * u[..., 0] * xp.cos(yaw), x[..., 1] + dt * u[..., 0] * xp.sin(yaw),
             wrap_angle(yaw + dt * u[..., 1])], x)

    def step_scalar(self, x, u) -> list[float]:
        """One Euler step on plain floats (OMPL callbacks); matches :meth:`step`."""
        p = self.params
        v = min(max(u[0], p.v_min), p.v_max)
        w = min(max(u[1], p.w_min), p.w_max)
        return [x[0] + p.dt * v * math.cos(x[2]), x[1] + p.dt * v * math.sin(x[2]),
                (x[2] + p.dt * w + math.pi) % (2 * math.pi) - math.pi]

    def casadi_step(self, x, u):
        """One Euler step on casadi symbols: ``x`` (3,), ``u`` (2,) SX/MX -> next state (3,), the same
        equations as :meth:`step` without wrapping the yaw and without clipping the controls (an
        optimiser imposes the bounds as constraints)."""
        import casadi as ca

        dt = self.params.dt
        return ca.vertcat(x[0] + dt * u[0] * ca.cos(x[2]), x[1] + dt * u[0] * ca.sin(x[2]), x[2] + dt * u[1])

    def casadi_footprint_poses(self, x) -> list[tuple]:
        """:meth:`footprint_poses` on casadi symbols: one ``(x, y, yaw)`` tuple per body."""
        return [(x[0], x[1], x[2])]

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        return np.array([x, y, float(wrap_angle(np.float64(yaw)))])

    def policy_features(self, states: Array) -> Array:
        """No state beyond the pose: ``(..., 0)``."""
        return states[..., :0]

    def mirror_states(self, states: Array) -> Array:
        """``[x, -y, -yaw]`` (yaw wrapped)."""
        return mirror(states, (1.0, -1.0, -1.0), self.angle_indices)


def _variant(name: str):
    """The registry's factory for one variant: ``params -> Unicycle`` named ``name``."""

    def make(params: UnicycleParams | None = None) -> Unicycle:
        return Unicycle(params if params is not None else VARIANTS[name], name)

    make.__name__ = f"make_{name}"
    return make


SEARCH = SearchDefaults(sst_batch_size=128, delta_bn=0.3, delta_s=0.1, w_yaw=0.25, w_v=0.0,
                        ditree_batch_size=64, ditree_n_chunks=2)
"""Planner defaults at the unicycle's scale (0.5 m robot, 0.5 m/s, 0.5 m cells). DiTree: 2 policy calls
of 16 executed steps (1.6 s each) per extension, the fastest of the plans tried on held-out generated
problems (docs/benchmarks.md, 'Policies for the dynobench robots')."""

SEARCH_MIN_SPEED = replace(SEARCH, extension=ExtensionDefaults(min_steps=10, max_steps=60, min_hold=10, max_hold=60,
                                                               levels=3))
"""A unicycle that cannot slow below a positive speed turns tightest only at that speed and full turn rate,
held for seconds (a 0.5 m radius at 0.25 m/s and 0.5 rad/s): its random extensions are 1-6 s of lattice
controls (slowest / middle / top speed x full right / straight / full left) held 1-6 s, which solved 13 of
24 held-out generated problems at dynobench's tolerance against 10 for the uniform 0.1-0.5 s pieces
(docs/benchmarks.md, 'Lattice extensions')."""

SHIPPED_CHECKPOINTS = {"unicycle1_v0": "unicycle1_v0_boxworlds", "unicycle1_v1": "unicycle1_v1_boxworlds",
                       "unicycle1_v2": "unicycle1_v2_boxworlds"}
"""The variants with a shipped policy (ditree/checkpoints; scripts/reproduce_<variant>.sh; unicycle1_v2's is
unicycle1_v1's fine-tuned on its own demonstrations)."""

for _name, _params in VARIANTS.items():
    register_robot(RobotSpec(
        name=_name,
        entry_point=_variant(_name),
        params_type=UnicycleParams,
        description=f"dynobench's first-order unicycle {_name} (Euler steps of 0.1 s, box 0.5 x 0.25 m)",
        map_cell_size=0.5,
        goal_tolerance=0.25,
        search=SEARCH_MIN_SPEED if _params.v_min > 0 else SEARCH,
        policy=PolicyDefaults(map_size=20, map_resolution=0.1, target_scale_m=10.0, pred_horizon=16, action_horizon=16,
                              target_heading=True),
        ompl=OmplDefaults(rest_weight=0.5, goal_rest="rest"),
        checkpoint=SHIPPED_CHECKPOINTS.get(_name),
    ))
