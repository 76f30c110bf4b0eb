"""The planner registry: planners by name, with their parameter types.

``make_planner(name, **params)`` builds a fresh planner; ``params`` are the fields of the planner's
parameter dataclasses (e.g. ``batch_size`` of :class:`planners.rrt.RRTParams`, ``max_steps`` of
:class:`planners.samplers.UniformSamplerParams`). Shipped:

========== =====================================================================================
rrt        batched kinodynamic RRT with random piecewise-constant controls (planners.rrt)
sst        Stable Sparse RRT, our implementation (planners.sst)
ompl-rrt   OMPL's oc.RRT (any registered robot; planners.ompl_baselines)
ompl-kpiece OMPL's oc.KPIECE1
ompl-est   OMPL's oc.EST
========== =====================================================================================

ditree     DiTree: the RRT core with the flow-matching policy as its control sampler (ditree.planner)

ditree-star anytime DiTree: improves the path until the time limit (ditree.anytime)

dp         the policy alone (the paper's DP baseline; ditree.dp)

Other modules may add planners with :func:`register_planner`.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envs.errors import DitreeInputError
from planners.base import Planner


@dataclass(frozen=True)
class PlannerEntry:
    """A registered planner: ``factory(**params) -> Planner``; ``param_types`` are the dataclasses
    whose fields ``params`` may name (used to type ``--param key=value`` strings)."""

    name: str
    factory: Callable[..., Planner]
    description: str
    param_types: tuple[type, ...] = ()

    def param_fields(self) -> dict[str, Any]:
        """{field name: annotated type} over all ``param_types``."""
        out: dict[str, Any] = {}
        for cls in self.param_types:
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                out.setdefault(f.name, hints.get(f.name, str))
        return out


_REGISTRY: dict[str, PlannerEntry] = {}


def register_planner(
    name: str, factory: Callable[..., Planner], description: str, param_types: tuple[type, ...] = ()
) -> None:
    """Register (or replace) a planner under ``name``."""
    if not name or not isinstance(name, str):
        raise ValueError(f"planner name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = PlannerEntry(name, factory, description, tuple(param_types))


def available_planners() -> dict[str, str]:
    """{name: description} of every registered planner."""
    return {n: e.description for n, e in _REGISTRY.items()}


def planner_entry(name: str) -> PlannerEntry:
    if name not in _REGISTRY:
        raise DitreeInputError(f"unknown planner {name!r}; known planners: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def make_planner(name: str, **params: Any) -> Planner:
    """A fresh planner ``name`` configured with ``params``; unknown names or parameters raise
    :class:`DitreeInputError`."""
    entry = planner_entry(name)
    fields = entry.param_fields()
    if fields:
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise DitreeInputError(f"planner {name!r} has no parameter(s) {unknown}; known: {sorted(fields)}")
    try:
        return entry.factory(**params)
    except (TypeError, ValueError) as e:
        if isinstance(e, DitreeInputError):
            raise
        raise DitreeInputError(f"planner {name!r}: {e}") from None


def parse_params(name: str, items: list[str]) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into typed params for planner ``name`` (typed by its parameter
    dataclasses; planners without declared types get Python literals, else strings)."""
    entry = planner_entry(name)
    fields = entry.param_fields()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise DitreeInputError(f"--param {item!r}: expected key=value")
        if fields and key not in fields:
            raise DitreeInputError(f"--param {key}: planner {name!r} has no such parameter; known: {sorted(fields)}")
        out[key] = _coerce(key, raw, fields.get(key))
    return out


def parse_planner_params(specs: list[str]) -> dict[str, dict[str, Any]]:
    """Turn ``["PLANNER:key=value", ...]`` (the benchmark scripts' ``--param``) into typed params
    per planner name (:func:`parse_params`)."""
    by: dict[str, list[str]] = {}
    for spec in specs:
        name, _, kv = spec.partition(":")
        if not kv:
            raise DitreeInputError(f"--param {spec!r}: expected PLANNER:KEY=VALUE")
        by.setdefault(name, []).append(kv)
    return {name: parse_params(name, kvs) for name, kvs in by.items()}


def _coerce(key: str, raw: str, typ: Any) -> Any:
    base = typing.get_origin(typ) or typ
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if base is typing.Union or (args and base not in (bool, int, float, str)):
        base = args[0] if args else str
    try:
        if base is bool:
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if base is int:
            return int(raw)
        if base is float:
            return float(raw)
        if base is str:
            return raw
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        if typ is None:
            return raw
        raise DitreeInputError(f"--param {key}={raw!r}: expected {getattr(base, '__name__', base)}") from None


# ---------------------------------------------------------------------- shipped planners
def _make_rrt(**params: Any) -> Planner:
    from planners.rrt import KinodynamicRRT, RRTParams
    from planners.samplers import UniformControlSampler, UniformSamplerParams

    sp = {k: v for k, v in params.items() if k in UniformSamplerParams.__dataclass_fields__}
    rp = {k: v for k, v in params.items() if k not in sp}
    return KinodynamicRRT(RRTParams(**rp), UniformControlSampler(UniformSamplerParams(**sp)), name="rrt")


def _make_sst(**params: Any) -> Planner:
    from planners.samplers import UniformSamplerParams
    from planners.sst import SST, SSTParams

    sp = {k: v for k, v in params.items() if k in UniformSamplerParams.__dataclass_fields__}
    rp = {k: v for k, v in params.items() if k not in sp}
    # sampler parameters replace those of the planned robot's default extensions, at solve time
    UniformSamplerParams(**sp)  # bad values fail here, not mid-run
    return SST(SSTParams(**rp), name="sst", sampler_overrides=sp)


def _ompl_factory(algorithm: str) -> Callable[..., Planner]:
    def make(**params: Any) -> Planner:
        try:
            from planners.ompl_baselines import OmplControlPlanner
        except ImportError as e:
            raise DitreeInputError(
                f"planner 'ompl-{algorithm}' needs planners.ompl_baselines and the ompl package ({e})"
            ) from None
        return OmplControlPlanner(algorithm=algorithm, **params)

    return make


def _make_ditree(**params: Any) -> Planner:
    from ditree.planner import make_ditree

    return make_ditree(**params)


def _make_ditree_star(**params: Any) -> Planner:
    from ditree.anytime import make_ditree_star

    return make_ditree_star(**params)


def _make_dp(**params: Any) -> Planner:
    from ditree.dp import make_dp

    return make_dp(**params)


def _register_builtins() -> None:
    from planners.rrt import RRTParams
    from planners.samplers import UniformSamplerParams
    from planners.sst import SSTParams

    register_planner("rrt", _make_rrt, "batched kinodynamic RRT with random piecewise-constant controls",
                     (RRTParams, UniformSamplerParams))
    register_planner("sst", _make_sst, "Stable Sparse RRT (best-near selection, witness pruning), batched",
                     (SSTParams, UniformSamplerParams))
    from ditree.planner import DiTreeParams

    register_planner("ditree", _make_ditree,
                     "DiTree: batched kinodynamic RRT with the flow-matching policy as control sampler",
                     (DiTreeParams,))
    from ditree.anytime import DiTreeStarParams

    register_planner("ditree-star", _make_ditree_star,
                     "anytime DiTree: keeps improving the path (time) until the limit; policy aimed along the incumbent",
                     (DiTreeStarParams,))
    from ditree.dp import DPParams

    register_planner("dp", _make_dp, "the policy alone: closed-loop rollouts from the start, restarted on collision",
                     (DPParams,))
    try:
        from envs.ompl_setup import OmplSettings
        from planners.ompl_baselines import OmplPlannerSettings

        ompl_types: tuple[type, ...] = (OmplPlannerSettings, OmplSettings)
    except ImportError:  # no ompl: the factory explains when the planner is asked for
        ompl_types = ()
    for algo, desc in (("rrt", "OMPL oc.RRT"), ("kpiece", "OMPL oc.KPIECE1"), ("est", "OMPL oc.EST")):
        register_planner(f"ompl-{algo}", _ompl_factory(algo), f"{desc} with random controls (OMPL 2.0.1)", ompl_types)


_register_builtins()
