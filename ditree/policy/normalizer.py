"""Standardisation statistics, kept outside the network but saved with it (as buffers and in JSON).

``vel`` (F,) (the robot's policy features; F may be 0), ``prev_control`` (C,) and the action
controls (C,) are standardised as ``(x - mean) / std``. The squashed target is already in [-1, 1]
and the local map in {-1, +1}, so they pass through unchanged; with ``standardize_target`` only
the target's xy part (its first two entries) is standardised, a heading part
(``PolicyConfig.target_heading``, already in [-1, 1]) never is. For a robot with a mirror,
statistics are computed on the data together with its left/right mirror image (the robot's mirror
signs; the car's by default), so the mean of every mirror-odd quantity (car: delta, ddelta) is
exactly zero and mirrored samples stay consistent after standardisation; for a robot without one
(``mirror=False``), on the data alone.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from envs.errors import DitreeInputError

_MIRROR_SIGNS = {"vel": np.array([1.0, 1.0, -1.0]), "control": np.array([1.0, -1.0])}
"""The car's (``envs.car.Car.policy_feature_mirror_signs`` and ``control_mirror_signs``)."""
TARGET_MIRROR_SIGNS = np.array([1.0, -1.0])
"""The robot-frame target [forward, left]: left negated."""
_MIN_STD = 1e-3


def _stats(x: np.ndarray, signs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (floored at ``_MIN_STD``) of ``x`` (N, K) and, unless ``signs`` is None, its
    mirror image ``x * signs``."""
    x = np.asarray(x, dtype=np.float64)
    both = x if signs is None else np.concatenate([x, x * signs])
    mean = both.mean(0)
    std = np.maximum(both.std(0), _MIN_STD)
    return mean.astype(np.float32), std.astype(np.float32)


class Normalizer(nn.Module):
    """Holds ``vel_mean/std`` (F,) and ``control_mean/std`` (C,) as buffers (they travel with
    ``.to(device)`` and the state_dict); ``F = 0`` gives empty ``vel`` buffers."""

    def __init__(self, vel_dim: int = 3, control_dim: int = 2, target: bool = False) -> None:
        super().__init__()
        self.keys = ("vel_mean", "vel_std", "control_mean", "control_std") + (("target_mean", "target_std") if target else ())
        if target:
            self.register_buffer("target_mean", torch.zeros(2))
            self.register_buffer("target_std", torch.ones(2))
        self.register_buffer("vel_mean", torch.zeros(vel_dim))
        self.register_buffer("vel_std", torch.ones(vel_dim))
        self.register_buffer("control_mean", torch.zeros(control_dim))
        self.register_buffer("control_std", torch.ones(control_dim))

    @classmethod
    def fit(
        cls,
        vel: np.ndarray,
        controls: np.ndarray,
        target: np.ndarray | None = None,
        vel_signs: np.ndarray | tuple[float, ...] | None = None,
        control_signs: np.ndarray | tuple[float, ...] | None = None,
        mirror: bool = True,
    ) -> Normalizer:
        """Statistics from raw ``vel`` (N,F), ``controls`` (N,C) and optionally the squashed
        ``target`` (N,2) (or (N,5): its xy part, the first two columns, is used). With ``mirror`` (a robot that declares one), symmetrised under the mirror
        whose signs are ``vel_signs`` (F,) and ``control_signs`` (C,) (the robot's
        ``policy_feature_mirror_signs`` and ``control_mirror_signs``; None = the car's); without,
        from the data alone (the signs are ignored)."""
        n = cls(vel.shape[1], controls.shape[1], target is not None)
        if target is not None:
            target = np.asarray(target)[:, :2]
        if not mirror:
            d = dict(zip(("vel_mean", "vel_std"), _stats(vel, None)))
            d.update(zip(("control_mean", "control_std"), _stats(controls, None)))
            if target is not None:
                d["target_mean"], d["target_std"] = _stats(target, None)
            n.load_arrays(d)
            return n
        vsg = _MIRROR_SIGNS["vel"] if vel_signs is None else np.asarray(vel_signs, dtype=float)
        csg = _MIRROR_SIGNS["control"] if control_signs is None else np.asarray(control_signs, dtype=float)
        if vsg.shape != (vel.shape[1],) or csg.shape != (controls.shape[1],):
            raise DitreeInputError(
                f"mirror signs {vsg.shape} / {csg.shape} do not match features (N, {vel.shape[1]}) / controls "
                f"(N, {controls.shape[1]}); pass the robot's signs"
            )
        vm, vs = _stats(vel, vsg)
        cm, cs = _stats(controls, csg)
        d = {"vel_mean": vm, "vel_std": vs, "control_mean": cm, "control_std": cs}
        if target is not None:
            d["target_mean"], d["target_std"] = _stats(target, TARGET_MIRROR_SIGNS)
        n.load_arrays(d)
        return n

    def load_arrays(self, d: dict) -> None:
        for k in self.keys:
            if k not in d:
                raise DitreeInputError(f"normalizer statistics lack {k!r}")
            v = torch.as_tensor(np.asarray(d[k], dtype=np.float32))
            buf = getattr(self, k)
            if v.shape != buf.shape:
                raise DitreeInputError(f"normalizer {k} has shape {tuple(v.shape)}, expected {tuple(buf.shape)}")
            buf.copy_(v)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).detach().cpu().tolist() for k in self.keys}

    def norm_vel(self, v: torch.Tensor) -> torch.Tensor:
        return (v - self.vel_mean) / self.vel_std

    def norm_target(self, g: torch.Tensor) -> torch.Tensor:
        """Targets ``(B, 2)`` or ``(B, 5)``: the xy part standardised (when fitted), the rest as is."""
        if "target_mean" not in self.keys:
            return g
        xy = (g[:, :2] - self.target_mean) / self.target_std
        return xy if g.shape[1] == 2 else torch.cat([xy, g[:, 2:]], 1)

    def norm_control(self, u: torch.Tensor) -> torch.Tensor:
        return (u - self.control_mean) / self.control_std

    def denorm_control(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.control_std + self.control_mean
