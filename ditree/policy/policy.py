"""The flow-matching policy: network + normaliser + robot bounds, with batched, stateless sampling.

Two entry points:

- :meth:`FlowPolicy.sample` takes a raw conditioning batch (``ditree.policy.features``) and
  returns ``(B, pred_horizon, C)`` controls, de-standardised and clipped to the robot's bounds.
- :meth:`FlowPolicy.act` builds that batch from states, last controls, targets and a
  :class:`~envs.local_map.TorchLocalMapper`, on the policy's device: what the planner calls.

Both are pure functions of their inputs (no hidden state between calls); given ``noise`` they are
deterministic. Thread count is left to the caller (``torch.set_num_threads``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ditree.policy.config import PolicyConfig
from ditree.policy.features import COND_KEYS, as_robot, target_features
from ditree.policy.flow import euler_sample
from ditree.policy.model import build_network
from ditree.policy.normalizer import Normalizer
from envs.car import CarParams
from envs.errors import DitreeInputError
from envs.local_map import LocalMapSpec, TorchLocalMapper
from envs.robot import Robot


def float32_bounds_inside(low, high) -> tuple[torch.Tensor, torch.Tensor]:
    """The control bounds ``low``, ``high`` ``(C,)`` as float32 tensors that lie inside the exact
    (float64) bounds: a bound float32 cannot hold exactly (0.3, pi/3) is rounded towards the
    interior, so that a float32 control clipped to them is within the robot's bounds exactly as the
    validator checks them. Bounds float32 holds (the car's, the racecar's) are unchanged."""
    lo64, hi64 = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    lo, hi = lo64.astype(np.float32), hi64.astype(np.float32)
    lo = np.where(lo.astype(np.float64) < lo64, np.nextafter(lo, np.float32(np.inf)), lo).astype(np.float32)
    hi = np.where(hi.astype(np.float64) > hi64, np.nextafter(hi, np.float32(-np.inf)), hi).astype(np.float32)
    return torch.from_numpy(lo), torch.from_numpy(hi)


class FlowPolicy(nn.Module):
    """A conditional flow-matching control-chunk sampler for one robot.

    ``robot``: the :class:`envs.robot.Robot` the policy drives (a :class:`~envs.car.CarParams`
    means a :class:`~envs.car.Car` with them; None the default car). Its policy features are the
    ``vel`` conditioning (``config.vel_dim`` must equal their number, ``config.control_dim`` the
    robot's control dimension) and its ``control_low/high`` the bounds samples are clipped to (held
    as float32 rounded inwards, :func:`float32_bounds_inside`, so that no float32 sample leaves them).
    """

    def __init__(self, config: PolicyConfig, robot: Robot | CarParams | None = None) -> None:
        super().__init__()
        self.config = config
        self.robot = as_robot(robot)
        r = self.robot
        if config.vel_dim != len(r.policy_feature_names) or config.control_dim != r.control_dim:
            raise DitreeInputError(
                f"PolicyConfig has vel_dim={config.vel_dim}, control_dim={config.control_dim}, but robot {r.name!r} has "
                f"{len(r.policy_feature_names)} policy features {list(r.policy_feature_names)} and {r.control_dim} controls"
            )
        self.net = build_network(config)
        self.normalizer = Normalizer(config.vel_dim, config.control_dim, config.standardize_target)
        low, high = float32_bounds_inside(r.control_low, r.control_high)
        self.register_buffer("control_low", low)
        self.register_buffer("control_high", high)
        #: checkpoint metadata (filled by ``load_policy``)
        self.metadata: dict = {}
        #: the checkpoint's metadata file (set by ``load_policy``), for messages
        self.source: str | None = None

    @property
    def robot_params(self):
        """The robot's parameter dataclass (``CarParams`` for the car)."""
        return self.robot.params

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return self.control_low.device

    @property
    def local_map_spec(self) -> LocalMapSpec:
        return LocalMapSpec(self.config.map_size, self.config.map_resolution)

    @property
    def one_step_only(self) -> bool:
        """True for a distilled student (``ditree.policy.distill``): it learnt the flow at t = 0
        only, so it must be sampled with one Euler step."""
        training = self.metadata.get("training") or {}
        return bool((training.get("distillation") or {}).get("one_step_only"))

    def check_num_steps(self, num_steps: int) -> None:
        """Raise :class:`DitreeInputError` unless this policy can be sampled with ``num_steps``
        Euler steps (a distilled one-step student takes exactly one)."""
        if self.one_step_only and num_steps != 1:
            raise DitreeInputError(f"{self.source or 'the policy'} is a distilled one-step sampler; "
                                   f"num_flow_steps must be 1, got {num_steps}")

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type the network computes in (float32 unless :meth:`inference_copy`
        made it lower); inputs and outputs of :meth:`sample` stay float32 whatever it is."""
        return next(self.net.parameters()).dtype

    def inference_copy(self, dtype: torch.dtype = torch.bfloat16) -> FlowPolicy:
        """A copy of this policy whose network computes in ``dtype`` (for sampling only; the
        normaliser, bounds and outputs stay float32). The copy does not follow later changes to
        this policy's weights."""
        twin = copy.deepcopy(self)
        twin.net.to(dtype)
        return twin

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    # ------------------------------------------------------------------ network in standardised space
    def standardize_cond(self, cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Raw conditioning -> network input (float32, on the policy's device)."""
        dev = self.device
        return {
            "vel": self.normalizer.norm_vel(cond["vel"].to(dev, torch.float32)),
            "prev_control": self.normalizer.norm_control(cond["prev_control"].to(dev, torch.float32)),
            "target": self.normalizer.norm_target(cond["target"].to(dev, torch.float32)),
            "local_map": cond["local_map"].to(dev, torch.float32),
        }

    def _check_cond(self, cond: dict) -> int:
        missing = [k for k in COND_KEYS if k not in cond]
        if missing:
            raise DitreeInputError(f"conditioning batch lacks keys {missing} (needs {list(COND_KEYS)})")
        B = cond["vel"].shape[0]
        cfg = self.config
        want = {
            "vel": (B, cfg.vel_dim),
            "prev_control": (B, cfg.control_dim),
            "target": (B, cfg.target_dim),
            "local_map": (B, cfg.map_size, cfg.map_size),
        }
        for k, shape in want.items():
            if tuple(cond[k].shape) != shape:
                raise DitreeInputError(f"conditioning {k!r} has shape {tuple(cond[k].shape)}, expected {shape}")
        return B

    # ------------------------------------------------------------------ sampling
    @torch.inference_mode()
    def sample(
        self,
        cond: dict[str, torch.Tensor],
        num_steps: int = 1,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Control chunks ``(B, pred_horizon, C)`` (float32, policy device), de-standardised and
        clipped to the control bounds.

        ``cond``: raw conditioning tensors (see ``ditree.policy.features``). ``noise``
        ``(B, pred_horizon, C)`` standard normal in standardised space; drawn (from ``generator``
        if given) when None. Runs the network in eval mode whatever the module's mode, in its
        :attr:`dtype` (inputs are cast to it, the result back to float32).
        """
        B = self._check_cond(cond)
        self.check_num_steps(num_steps)
        cfg = self.config
        shape = (B, cfg.pred_horizon, cfg.control_dim)
        if noise is None:
            noise = torch.randn(shape, generator=generator, device=self.device)
        elif tuple(noise.shape) != shape:
            raise DitreeInputError(f"noise has shape {tuple(noise.shape)}, expected {shape}")
        dtype = self.dtype
        net_cond = self.standardize_cond(cond)
        if dtype != torch.float32:
            net_cond = {k: v.to(dtype) for k, v in net_cond.items()}
        was_training = self.net.training
        if was_training:  # switching modes walks every submodule, so only when needed
            self.net.eval()
        try:
            z = euler_sample(self.net, net_cond, noise.to(self.device, dtype), num_steps).float()
        finally:
            if was_training:
                self.net.train(True)
        u = self.normalizer.denorm_control(z)
        return torch.maximum(torch.minimum(u, self.control_high), self.control_low)

    def conditioning(self, states, prev_controls, targets_xy, mapper: TorchLocalMapper,
                     target_yaw=None) -> dict[str, torch.Tensor]:
        """Raw conditioning from states ``(B, S)`` (S = the robot's ``state_dim``), last controls
        ``(B, C)``, targets ``(B, 2)`` (m, world frame) and a local mapper, all computed in batch on
        the policy's device.

        ``target_yaw`` ``(B,)`` (rad, world frame; NaN = this target has no heading; None = none
        has): the goal heading of each target, read only by a policy with
        ``config.target_heading`` (ignored by any other)."""
        dev = self.device
        S, C = self.robot.state_dim, self.config.control_dim
        s = torch.as_tensor(states, dtype=torch.float32, device=dev)
        if s.ndim != 2 or s.shape[1] != S:
            raise DitreeInputError(f"states must be (B, {S}) for robot {self.robot.name!r}, got {tuple(s.shape)}")
        B = s.shape[0]
        u = torch.as_tensor(prev_controls, dtype=torch.float32, device=dev)
        g = torch.as_tensor(targets_xy, dtype=torch.float32, device=dev)
        if tuple(u.shape) != (B, C) or tuple(g.shape) != (B, 2):
            raise DitreeInputError(
                f"prev_controls must be (B, {C}) and targets_xy (B, 2) with B = {B}, got {tuple(u.shape)} and "
                f"{tuple(g.shape)}"
            )
        if mapper.spec != self.local_map_spec:
            raise DitreeInputError(f"mapper crops {mapper.spec}, but the policy was trained on {self.local_map_spec}")
        yaw = None
        if self.config.target_heading:
            if target_yaw is None:
                yaw = torch.full((B,), float("nan"), dtype=torch.float32, device=dev)
            else:
                yaw = torch.as_tensor(target_yaw, dtype=torch.float32, device=dev)
                if tuple(yaw.shape) != (B,):
                    raise DitreeInputError(f"target_yaw must be (B,) with B = {B}, got {tuple(yaw.shape)}")
        return {
            "vel": self.robot.policy_features(s),
            "prev_control": u,
            "target": target_features(s, g, self.config.target_scale_m, yaw),
            "local_map": mapper(s).to(dev),
        }

    @torch.inference_mode()
    def act(
        self,
        states,
        prev_controls,
        targets_xy,
        mapper: TorchLocalMapper,
        noise: torch.Tensor | None = None,
        num_steps: int = 1,
        generator: torch.Generator | None = None,
        target_yaw=None,
    ):
        """Next control chunks ``(B, pred_horizon, C)`` for ``B`` states at once.

        ``states`` (B, S), ``prev_controls`` (B, C) (zeros at a tree root), ``targets_xy`` (B, 2)
        world-frame target positions (m), ``target_yaw`` (B,) their goal headings (rad, NaN = none;
        None = no target has one; see :meth:`conditioning`). Returns numpy float32 when ``states``
        is numpy, else a tensor on the policy's device. The planner executes the first
        ``config.action_horizon``.
        """
        cond = self.conditioning(states, prev_controls, targets_xy, mapper, target_yaw)
        out = self.sample(cond, num_steps=num_steps, noise=noise, generator=generator)
        return out.cpu().numpy() if isinstance(states, np.ndarray) else out
