"""Typed, frozen configuration of the flow-matching policy (docs/policy.md, 'Flow matching') and of its training.

Horizons (one chunk is predicted from the state at step ``t``; the planner executes the first
``action_horizon`` controls, re-crops the local map and asks again)::

    step:        t      t+1    ...    t+7 | t+8    ...                       t+63
    predicted:  [u_t,   u_t+1, ...,  u_t+7,  u_t+8, ...,                     u_t+63]   pred_horizon = 64 (1.28 s)
    executed:   [u_t,   u_t+1, ...,  u_t+7]                                            action_horizon = 8 (0.16 s)
                 ^ conditioning: state x_t, last executed control u_{t-1}, target, local map at x_t

so one 64-step tree extension (docs/policy.md, 'The planner') is ``64 / 8 = 8`` policy calls.

The network defaults are ours, not the paper's: the reference uses a ~184 M parameter
ResNet-18 + 1-D U-Net; we default to a ~2 M parameter residual MLP over the flattened chunk
(``arch="mlp"``), which is many times faster on a CPU (see ``scripts/bench_policy.py``). A compact
1-D temporal U-Net with FiLM (``arch="unet"``) is available for comparison.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from envs.errors import DitreeInputError

ARCHES = ("mlp", "unet")


@dataclass(frozen=True)
class PolicyConfig:
    """Architecture and interface of a :class:`~ditree.policy.policy.FlowPolicy`.

    Conditioning: ``vel`` (vel_dim,) = the robot's policy features (car: [v, D, delta]; none for a
    robot whose state is its pose, vel_dim = 0) and ``prev_control`` (control_dim,) (both
    standardised inside the model), ``target`` (2,) squashed
    robot-frame target (see :func:`ditree.policy.features.car_frame_target`), or (5,) with
    ``target_heading`` (the goal's heading relative to the robot's, see
    :func:`ditree.policy.features.heading_target`), ``local_map``
    (map_size, map_size) in {-1, +1}. ``vel_dim`` and ``control_dim`` are the robot's
    (``ditree.policy.train`` sets them from the training data's robot); the defaults are the car's.
    The car's maps have 1 m cells and the paper's crop (20 px at 0.2 m) and target scale (20 m);
    the racecar's maps have 2 m cells, so it wants about twice both.
    """

    pred_horizon: int = 64
    """Controls per predicted chunk."""
    action_horizon: int = 8
    """Controls the planner executes from each chunk before asking again."""
    control_dim: int = 2
    """Controls per step, >= 1 (the car's 2 by default)."""
    vel_dim: int = 3
    """Policy features (the robot's ``policy_features``), >= 0 (the car's 3 by default)."""
    map_size: int = 20
    """Local map side in pixels (envs.local_map.LocalMapSpec.size)."""
    map_resolution: float = 0.2
    """Local map pixel size in metres (envs.local_map.LocalMapSpec.resolution)."""
    target_scale_m: float = 20.0
    """Target squashing distance d0 (m): feature = direction * tanh(d / d0)."""
    standardize_target: bool = False
    """Also standardise the squashed target (mirror-symmetric statistics) before the network (its
    xy part only: the heading part is already in [-1, 1])."""
    target_heading: bool = False
    """The target also carries the goal's heading: ``target`` is (5,) = [squashed xy (2),
    cos(dyaw), sin(dyaw), has_heading] with ``dyaw`` = goal yaw - robot yaw, zeros in the last
    three for a target without a heading (docs/policy.md, 'Policy inputs'). False (the car's and
    the racecar's checkpoints): ``target`` is the squashed xy alone."""
    arch: str = "mlp"
    hidden_dim: int = 384
    """Width of the residual MLP (arch="mlp")."""
    num_blocks: int = 4
    """Residual FiLM blocks of the MLP (arch="mlp")."""
    unet_channels: tuple[int, ...] = (32, 64, 128)
    """Channels per U-Net level (arch="unet")."""
    unet_kernel: int = 5
    map_channels: tuple[int, int] = (16, 32)
    """Channels of the two stride-2 convolutions of the map encoder."""
    map_embed_dim: int = 128
    cond_dim: int = 256
    """Width of the conditioning vector that drives FiLM."""
    time_embed_dim: int = 64

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise DitreeInputError(f"PolicyConfig.arch must be one of {ARCHES}, got {self.arch!r}")
        for name in ("pred_horizon", "action_horizon", "control_dim", "vel_dim", "map_size", "hidden_dim",
                     "num_blocks", "unet_kernel", "map_embed_dim", "cond_dim", "time_embed_dim"):
            v = getattr(self, name)
            least = 0 if name == "vel_dim" else 1
            if not isinstance(v, int) or isinstance(v, bool) or v < least:
                what = "a non-negative" if least == 0 else "a positive"
                raise DitreeInputError(f"PolicyConfig.{name} must be {what} int, got {v!r}")
        if self.action_horizon > self.pred_horizon:
            raise DitreeInputError(
                f"PolicyConfig.action_horizon ({self.action_horizon}) exceeds pred_horizon ({self.pred_horizon})"
            )
        if not self.map_resolution > 0 or not self.target_scale_m > 0:
            raise DitreeInputError("PolicyConfig.map_resolution and target_scale_m must be positive")
        if not isinstance(self.target_heading, bool):
            raise DitreeInputError(f"PolicyConfig.target_heading must be a bool, got {self.target_heading!r}")
        if self.time_embed_dim % 2:
            raise DitreeInputError(f"PolicyConfig.time_embed_dim must be even, got {self.time_embed_dim}")
        object.__setattr__(self, "unet_channels", tuple(int(c) for c in self.unet_channels))
        object.__setattr__(self, "map_channels", tuple(int(c) for c in self.map_channels))
        if len(self.map_channels) != 2 or min(self.map_channels) < 1:
            raise DitreeInputError(f"PolicyConfig.map_channels must be two positive ints, got {self.map_channels}")
        if not self.unet_channels or min(self.unet_channels) < 1:
            raise DitreeInputError(f"PolicyConfig.unet_channels must be positive ints, got {self.unet_channels}")
        if self.arch == "unet" and self.pred_horizon % (2 ** (len(self.unet_channels) - 1)):
            raise DitreeInputError(
                f"PolicyConfig.pred_horizon ({self.pred_horizon}) must be divisible by "
                f"2**(len(unet_channels)-1) = {2 ** (len(self.unet_channels) - 1)} for the U-Net"
            )

    @property
    def target_dim(self) -> int:
        """Width of the ``target`` conditioning: 5 with ``target_heading``, else 2."""
        return 5 if self.target_heading else 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["unet_channels"] = list(self.unet_channels)
        d["map_channels"] = list(self.map_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> PolicyConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise DitreeInputError(f"{source}: unknown PolicyConfig fields {sorted(unknown)}")
        try:
            return cls(**d)
        except TypeError as e:
            raise DitreeInputError(f"{source}: bad PolicyConfig: {e}") from e


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :func:`ditree.policy.train.train_policy`.

    The paper used AdamW at lr 3e-5, batch 128 for a 184 M model on a GPU; a ~2 M model trained
    for minutes on a CPU wants a far larger step size, hence these defaults.
    """

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    """Linear learning-rate warm-up, then cosine decay to ``lr * min_lr_ratio``."""
    min_lr_ratio: float = 0.02
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    mirror_p: float | None = None
    """Probability of mirroring a training sample left/right (docs/policy.md, 'Mirror augmentation').
    None: 0.5 for a robot that declares a mirror (``has_mirror``), 0 for one that does not; a
    positive value for a robot without a mirror is an error
    (:func:`ditree.policy.train.resolve_mirror_p`)."""
    val_fraction: float = 0.05
    """Fraction of EPISODES held out for validation."""
    max_val_samples: int = 20000
    seed: int = 0
    max_steps_per_epoch: int = 0
    """Cap on optimiser steps per epoch (0 = the whole training split); for tests and smoke runs."""
    heading_dropout: float = 0.3
    """With ``PolicyConfig.target_heading``: the fraction of training samples (drawn per batch,
    seeded) whose target loses its heading (zeros in its last three entries), so that the policy
    also drives to a target without one (the planner's random targets). Unused otherwise."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_val_samples"):
            if getattr(self, name) < 1:
                raise DitreeInputError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.max_steps_per_epoch < 0:
            raise DitreeInputError("TrainConfig.warmup_steps and max_steps_per_epoch must be >= 0")
        if not self.lr > 0 or self.weight_decay < 0 or not self.grad_clip > 0:
            raise DitreeInputError("TrainConfig.lr and grad_clip must be positive, weight_decay >= 0")
        for name in ("ema_decay", "mirror_p", "min_lr_ratio", "heading_dropout"):
            if name == "mirror_p" and self.mirror_p is None:
                continue
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DitreeInputError(f"TrainConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise DitreeInputError(f"TrainConfig.val_fraction must lie in [0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
