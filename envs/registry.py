"""The robot registry: every robot the pipeline can plan for, registered once, by name.

A robot is one module plus one registration (as Gymnasium's ``register`` / ``make``): its module
defines the robot class (which holds what running code reads of the robot object: state and
control names, control bounds, ``dt``, footprint, dynamics) and calls :func:`register_robot` with a
:class:`RobotSpec`, which holds the factory and everything the pipeline otherwise kept in tables
keyed by robot name: the map cell size, the default goal tolerance, the planners' defaults
(:class:`SearchDefaults`), the policy's (:class:`PolicyDefaults`), the OMPL set-up's
(:class:`OmplDefaults`) and the name of the shipped policy checkpoint::

    from envs.registry import RobotSpec, register_robot

    register_robot(RobotSpec(name="unicycle", entry_point="mypkg.unicycle:Unicycle",
                             params_type="mypkg.unicycle:UnicycleParams", map_cell_size=1.0))

    robot = make_robot("unicycle")              # the class with its default parameters
    robot = make_robot("unicycle", {"v_max": 2.0})   # parameters as written by params.to_dict()

The built-in robots (``car`` from :mod:`envs.car`, ``racecar`` from :mod:`envs.racecar`, dynobench's
``unicycle1_v0/v1/v2`` from :mod:`envs.unicycle`, ``unicycle2_v0`` from :mod:`envs.unicycle2` and ``car1_v0``
from :mod:`envs.car_trailer`) register
from their own modules, which this module imports the first time the registry is read. A user
registers a robot from their own module, without editing this package; the CLI imports such a
module with ``ditree --robot-module mypkg.unicycle ...`` or the ``DITREE_ROBOT_MODULES`` environment
variable (see ``ditree.cli``). An unknown name is a one-line :class:`~envs.errors.DitreeInputError`
listing the registered robots (never another robot's values).

The layout facts (state and control names, bounds, ``dt``, footprint) are read from a robot
instance (:meth:`RobotSpec.make`), not copied into the spec, so they follow the robot's parameters.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envs.errors import DitreeInputError

__all__ = [
    "ExtensionDefaults",
    "OmplDefaults",
    "PolicyDefaults",
    "RobotSpec",
    "SearchDefaults",
    "load_entry_point",
    "make_robot",
    "register_robot",
    "registered_robots",
    "robot_spec",
]

BUILTIN_MODULES = ("envs.car", "envs.racecar", "envs.unicycle", "envs.unicycle2", "envs.car_trailer")
"""Modules that register the built-in robots on import (loaded on the registry's first read)."""


@dataclass(frozen=True)
class ExtensionDefaults:
    """Random-control extensions of the classical planners (``planners.samplers.UniformSamplerParams``):
    an extension lasts ``min_steps..max_steps`` steps of ``dt``, made of constant pieces held
    ``min_hold..max_hold`` steps each; ``bound_prob``: the chance that a piece's control component sits
    at one of its bounds instead of between them (``UniformSamplerParams.bound_prob``); ``levels``: 0, or
    draw each component from that many evenly spaced values between its bounds (``UniformSamplerParams.levels``)."""

    min_steps: int = 5
    max_steps: int = 25
    min_hold: int = 3
    max_hold: int = 12
    bound_prob: float = 0.0
    levels: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.min_steps, int) and 1 <= self.min_steps <= self.max_steps):
            raise ValueError(f"ExtensionDefaults: need 1 <= min_steps <= max_steps, got {self.min_steps}, {self.max_steps}")
        if not (isinstance(self.min_hold, int) and 1 <= self.min_hold <= self.max_hold):
            raise ValueError(f"ExtensionDefaults: need 1 <= min_hold <= max_hold, got {self.min_hold}, {self.max_hold}")
        if not 0.0 <= self.bound_prob <= 1.0:
            raise ValueError(f"ExtensionDefaults: need 0 <= bound_prob <= 1, got {self.bound_prob}")
        if not (isinstance(self.levels, int) and (self.levels == 0 or self.levels >= 2)):
            raise ValueError(f"ExtensionDefaults: levels must be 0 or an integer >= 2, got {self.levels!r}")


@dataclass(frozen=True)
class SearchDefaults:
    """The planners' defaults for one robot (defaults: the car's).

    SST (``planners.sst``): ``sst_batch_size`` extensions per iteration, best-near radius
    ``delta_bn`` (m) and witness radius ``delta_s`` (m) in the state features
    ``[x, y, w_yaw cos(yaw), w_yaw sin(yaw), w_v v]`` (``w_yaw`` in m, ``w_v`` in m per m/s; also the
    anytime planner's state features), and its random extensions (``extension``).
    DiTree (``ditree.planner``): ``ditree_batch_size`` extensions per iteration, each of
    ``ditree_n_chunks`` policy calls (the car's 8 calls of 8 executed steps: 1.28 s).
    """

    sst_batch_size: int = 128
    delta_bn: float = 1.0
    delta_s: float = 0.4
    w_yaw: float = 0.25
    w_v: float = 0.1
    extension: ExtensionDefaults = field(default_factory=ExtensionDefaults)
    ditree_batch_size: int = 64
    ditree_n_chunks: int = 8

    def __post_init__(self) -> None:
        for name in ("sst_batch_size", "ditree_batch_size", "ditree_n_chunks"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"SearchDefaults.{name} must be an int >= 1, got {v!r}")
        for name in ("delta_bn", "delta_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SearchDefaults.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("w_yaw", "w_v"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SearchDefaults.{name} must be >= 0, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class PolicyDefaults:
    """The learned policy's defaults for one robot (``ditree.policy.config.PolicyConfig``; defaults:
    the car's): local map ``map_size`` pixels of ``map_resolution`` m, target squashing distance
    ``target_scale_m`` (m). Robots planned on larger cells want proportionally more of both.
    ``pred_horizon`` and ``action_horizon``: controls predicted and executed per policy call, in
    the robot's ``dt`` steps (the car's 64 and 8 are 1.28 s and 0.16 s at 0.02 s; a robot with
    longer steps wants fewer, so that a DiTree extension of ``n_chunks`` calls stays a similar time).
    ``target_heading``: the policy also reads the goal's heading (``PolicyConfig.target_heading``):
    for a robot whose goals are full states (dynobench's), not for the car and racecar's disc goals."""

    map_size: int = 20
    map_resolution: float = 0.2
    target_scale_m: float = 20.0
    pred_horizon: int = 64
    action_horizon: int = 8
    target_heading: bool = False

    def __post_init__(self) -> None:
        for name in ("map_size", "pred_horizon", "action_horizon"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"PolicyDefaults.{name} must be an int >= 1, got {getattr(self, name)!r}")
        if self.action_horizon > self.pred_horizon:
            raise ValueError(f"PolicyDefaults.action_horizon ({self.action_horizon}) exceeds pred_horizon "
                             f"({self.pred_horizon})")
        for name in ("map_resolution", "target_scale_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PolicyDefaults.{name} must be positive, got {getattr(self, name)!r}")
        if not isinstance(self.target_heading, bool):
            raise TypeError(f"PolicyDefaults.target_heading must be a bool, got {self.target_heading!r}")


@dataclass(frozen=True)
class OmplDefaults:
    """How the generic OMPL set-up (``envs.ompl_setup``) poses this robot (defaults: the car's).

    ``rest_weight``: weight of the components beyond the planar pose in OMPL's state distance (the
    pose, SE2, weighs 1). ``rest_bounds``: a function ``robot -> (low, high)`` giving finite bounds
    of the state components from index 3 on, ``(S - 3,)`` each (OMPL samples states uniformly
    within them and rejects states outside); None = the robot's ``state_low`` / ``state_high`` when
    it has them, else +-:data:`envs.ompl_setup.UNBOUNDED`. Angle components are SO2 and ignore their
    bounds. ``goal_rest``: how a goal state's components beyond the pose are drawn: ``"uniform"``
    within their bounds, or ``"rest"``, those of ``robot.rest_state``.
    """

    rest_weight: float = 0.3
    rest_bounds: Callable[[Any], tuple[Any, Any]] | None = None
    goal_rest: str = "rest"

    def __post_init__(self) -> None:
        if not self.rest_weight > 0:
            raise ValueError(f"OmplDefaults.rest_weight must be positive, got {self.rest_weight!r}")
        if self.goal_rest not in ("uniform", "rest"):
            raise ValueError(f"OmplDefaults.goal_rest must be 'uniform' or 'rest', got {self.goal_rest!r}")


@dataclass(frozen=True)
class RobotSpec:
    """One registered robot (see the module docstring).

    ``entry_point``: the robot class (or any callable ``params -> robot``), or ``"module:Class"``
    imported on first use; called with no argument for the default parameters, or with one
    ``params_type`` instance. ``params_type``: the frozen parameter dataclass (or
    ``"module:Class"``) with ``from_dict`` (or plain keyword construction); None = the robot takes
    no parameters. ``map_cell_size``: metres per cell at which the benchmark maps are loaded for
    this robot. ``goal_tolerance``: default goal radius (m). (Facts of the robot itself, such as
    which state components are angles, live on the robot: ``envs.robot.Robot``.)
    ``checkpoint``: the name of the shipped policy checkpoint in ``ditree/checkpoints`` (None: none).
    ``expert``: ``"module:collect"``, the expert demonstrations' collector ``collect(world, episodes,
    seed, workers, cfg=, progress=) -> dataset`` that ``ditree collect`` runs, and ``expert_config``
    its configuration dataclass (``"module:Class"``); None: the robot has no expert. (Strings, so
    that ``envs`` imports nothing of ``ditree``.)
    """

    name: str
    entry_point: Any
    params_type: Any = None
    description: str = ""
    map_cell_size: float = 1.0
    goal_tolerance: float = 0.5
    search: SearchDefaults = field(default_factory=SearchDefaults)
    policy: PolicyDefaults = field(default_factory=PolicyDefaults)
    ompl: OmplDefaults = field(default_factory=OmplDefaults)
    checkpoint: str | None = None
    expert: str | None = None
    expert_config: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name and self.name.strip() == self.name):
            raise ValueError(f"RobotSpec.name must be a non-empty string without surrounding spaces, got {self.name!r}")
        if not (isinstance(self.entry_point, str) and ":" in self.entry_point or callable(self.entry_point)):
            raise ValueError(f"RobotSpec {self.name!r}: entry_point must be a class or 'module:Class', "
                             f"got {self.entry_point!r}")
        for f in ("map_cell_size", "goal_tolerance"):
            if not getattr(self, f) > 0:
                raise ValueError(f"RobotSpec {self.name!r}: {f} must be positive, got {getattr(self, f)!r}")

    @property
    def robot_class(self) -> Any:
        """The entry point, imported."""
        return load_entry_point(self.entry_point)

    @property
    def params_class(self) -> Any:
        """The parameter dataclass, imported (None: the robot takes no parameters)."""
        return None if self.params_type is None else load_entry_point(self.params_type)

    def make(self, params: Any = None) -> Any:
        """A robot with its default parameters, or with ``params``: a dict as written by the
        parameter dataclass's ``to_dict`` (e.g. from a checkpoint or a dataset) or an instance of it.

        Raises :class:`DitreeInputError` naming the robot for bad parameters."""
        cls = self.robot_class
        if params is None:
            return cls()
        pcls = self.params_class
        if pcls is None:
            raise DitreeInputError(f"robot {self.name!r} takes no parameters, got {params!r}")
        if isinstance(params, pcls):
            return cls(params)
        if not isinstance(params, dict):
            raise DitreeInputError(f"bad parameters for robot {self.name!r}: expected a dict or a "
                                   f"{pcls.__name__}, got {type(params).__name__}")
        try:
            p = pcls.from_dict(params) if hasattr(pcls, "from_dict") else pcls(**params)
            return cls(p)
        except (TypeError, ValueError) as e:
            raise DitreeInputError(f"bad parameters for robot {self.name!r}: {e}") from e


_REGISTRY: dict[str, RobotSpec] = {}
_builtins_loaded = False


def load_entry_point(ref: Any) -> Any:
    """``"module:attr"`` -> the attribute (importing the module); anything else is returned as is."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise DitreeInputError(f"cannot load entry point {ref!r}: {e}") from e
    return obj


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def register_robot(spec: RobotSpec, *, replace: bool = False) -> RobotSpec:
    """Register ``spec`` under ``spec.name``; a name already registered is an error unless
    ``replace``. Returns ``spec``."""
    if not isinstance(spec, RobotSpec):
        raise TypeError(f"register_robot takes a RobotSpec, got {type(spec).__name__}")
    old = _REGISTRY.get(spec.name)
    if old is not None and not replace and old != spec:
        raise DitreeInputError(f"robot {spec.name!r} is already registered (pass replace=True to replace it)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_robot(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive sessions); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def registered_robots() -> tuple[str, ...]:
    """Names of the registered robots: the built-ins first (in :data:`BUILTIN_MODULES` order), then
    the others in registration order."""
    _load_builtins()
    return tuple(sorted(_REGISTRY, key=lambda n: _builtin_rank(_REGISTRY[n])))


def _builtin_rank(spec: RobotSpec) -> int:
    ep = spec.entry_point
    module = ep.partition(":")[0] if isinstance(ep, str) else getattr(ep, "__module__", "")
    return BUILTIN_MODULES.index(module) if module in BUILTIN_MODULES else len(BUILTIN_MODULES)


def robot_spec(name: str) -> RobotSpec:
    """The :class:`RobotSpec` registered as ``name``; an unknown name raises a one-line
    :class:`DitreeInputError` listing the registered robots (and the closest names)."""
    _load_builtins()
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DitreeInputError(f"unknown robot {name!r}{hint}; registered robots: {', '.join(registered_robots())}")
    return spec


def make_robot(name: str = "car", params: Any = None) -> Any:
    """The robot registered under ``name``, with its default parameters or with ``params`` (see
    :meth:`RobotSpec.make`)."""
    return robot_spec(name).make(params)


