"""Plumbing shared by the robot modules: numpy/torch-agnostic array helpers, the batched Euler
rollout loop, and the parameter dataclasses' dict round trip (recorded in checkpoints and datasets).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any, TypeVar

import numpy as np

try:  # torch is a hard dependency of the package, but envs works without it
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def wrap_angle(a: Array) -> Array:
    """Wrap angles (rad) to [-pi, pi) (dynobench's ``wrap_angle`` is the same map)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def array_module(like: Array):
    """``numpy`` for numpy arrays, ``torch`` for tensors: the functions (cos, tanh, ...) to apply."""
    return np if isinstance(like, np.ndarray) else torch


def stack_last(parts: list, like: Array) -> Array:
    """Stack same-shaped arrays or tensors along a new last axis."""
    if isinstance(like, np.ndarray):
        return np.stack(parts, axis=-1)
    return torch.stack(parts, dim=-1)


def euler_rollout(step: Callable[[Array, Array], Array], x0: Array, controls: Array, state_dim: int,
                  control_dim: int) -> Array:
    """Apply ``step(states (N, S), controls (N, C)) -> (N, S)`` along control sequences:
    ``x0`` ``(N, S)`` and ``controls`` ``(N, T, C)`` -> states ``(N, T+1, S)`` (index 0 is ``x0``),
    numpy arrays or torch tensors alike. Time is sequential; the batch is vectorised."""
    if controls.ndim != 3 or controls.shape[-1] != control_dim or x0.shape[-1] != state_dim:
        raise ValueError(
            f"rollout expects x0 (N,{state_dim}) and controls (N,T,{control_dim}), got {tuple(x0.shape)} and "
            f"{tuple(controls.shape)}"
        )
    T = controls.shape[1]
    if isinstance(x0, np.ndarray):
        out = np.empty((x0.shape[0], T + 1, state_dim), dtype=np.result_type(x0, controls))
    else:
        out = x0.new_empty((x0.shape[0], T + 1, state_dim))
    out[:, 0] = x0
    x = x0
    for t in range(T):
        x = step(x, controls[:, t])
        out[:, t + 1] = x
    return out


class ParamsDict:
    """Mixin for a robot's frozen parameter dataclass: ``to_dict`` / ``from_dict`` (every field a
    float unless listed in ``_int_fields``); unknown fields raise ``ValueError`` naming them."""

    _int_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def check_fields(self, positive: tuple[str, ...] = (), ordered: tuple[tuple[str, str], ...] = ()) -> None:
        """Raise ``ValueError`` naming the field unless every field in ``positive`` is > 0 and every
        ``(low, high)`` pair in ``ordered`` has low < high (call from ``__post_init__``)."""
        cls = type(self).__name__
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{cls}.{name} must be positive, got {getattr(self, name)}")
        for lo, hi in ordered:
            if not getattr(self, lo) < getattr(self, hi):
                raise ValueError(f"{cls}.{lo} must be below {cls}.{hi}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**{k: (int(v) if k in cls._int_fields else float(v)) for k, v in d.items()})


def clip(a: Array, lo: float, hi: float) -> Array:
    """Clip an array, a numpy scalar or a tensor to ``[lo, hi]`` (scalar bounds)."""
    if torch is not None and isinstance(a, torch.Tensor):
        return a.clamp(lo, hi)
    return np.clip(a, lo, hi)


def mirror(states: Array, signs: tuple[float, ...], angle_indices: tuple[int, ...]) -> Array:
    """States ``(..., S)`` mirrored about the x axis: each component times its sign (``(S,)``, -1 for
    y, the angles and whatever else the mirror negates), the angles wrapped back to [-pi, pi) (the
    mirror of -pi is -pi). Returns a new array or tensor."""
    if isinstance(states, np.ndarray):
        out = states * np.asarray(signs, dtype=states.dtype)
    else:
        out = states * torch.as_tensor(signs, dtype=states.dtype, device=states.device)
    for i in angle_indices:
        out[..., i] = wrap_angle(out[..., i])
    return out


class EulerRobot:
    """Shared methods of a planar robot integrated by ``step`` (subclasses define ``params`` with a
    ``dt``, ``state_dim``, ``control_dim``, ``control_low`` / ``control_high`` ``(C,)`` and
    ``step(states (..., S), controls (..., C)) -> (..., S)``): the batched rollout, the pose, one
    body centred on the pose (override :meth:`footprint_poses` for more), bounded controls."""

    @property
    def dt(self) -> float:
        return self.params.dt  # type: ignore[attr-defined]

    def pose(self, states: Array) -> Array:
        """Planar pose ``(..., 3)`` = (x, y, yaw): the first three state components."""
        return states[..., :3]

    def footprint_poses(self, states: Array) -> Array:
        """One body, centred on the pose: ``(..., 1, 3)``."""
        return states[..., None, :3]

    def clip_controls(self, u: Array) -> Array:
        """Controls ``(..., C)`` clipped to ``[control_low, control_high]`` (numpy or torch)."""
        lo, hi = self.control_low, self.control_high  # type: ignore[attr-defined]
        if isinstance(u, np.ndarray):
            return np.clip(u, lo, hi)
        return torch.minimum(torch.maximum(u, u.new_tensor(lo)), u.new_tensor(hi))

    def rollout(self, x0: Array, controls: Array) -> Array:
        """``(N, S), (N, T, C) -> (N, T+1, S)`` (index 0 is ``x0``), numpy or torch."""
        return euler_rollout(self.step, x0, controls, self.state_dim, self.control_dim)  # type: ignore[attr-defined]

    def sample_controls(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform random controls ``shape + (C,)`` within the bounds."""
        return rng.uniform(self.control_low, self.control_high, size=(*shape, len(self.control_low)))  # type: ignore[attr-defined]
