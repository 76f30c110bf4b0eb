"""Velocity networks of the flow-matching policy: ``v(z_t, t, cond) -> (B, pred_horizon, C)``
for a robot with ``C = config.control_dim`` controls and ``F = config.vel_dim`` policy features.

Both variants share a conditioning encoder (:class:`CondEncoder`): a small CNN over the
egocentric map (two stride-2 3x3 convolutions, 20x20 -> 10x10 -> 5x5, then a linear layer),
concatenated with the standardised policy features (F, e.g. the car's [v, D, delta]; F may be 0),
last control (C) and squashed target (2, or 5 with the goal's heading: ``config.target_dim``), and a sinusoidal embedding of the flow time t, mapped to
one vector that drives FiLM layers.

- :class:`MLPFlowNet` (``arch="mlp"``, default): the flattened chunk (pred_horizon*C) through a
  residual MLP whose blocks are FiLM-modulated. Dense matmuls only: fast on a CPU.
- :class:`UNet1DFlowNet` (``arch="unet"``): a compact 1-D temporal U-Net with FiLM residual blocks
  (the diffusion_policy design, scaled down).

There are no batch-dependent layers (LayerNorm / GroupNorm only), so row i of a batch equals a
batch of one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ditree.policy.config import PolicyConfig


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times ``t`` (B,) in [0, 1] -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / max(half - 1, 1))
    arg = (t[:, None] * 1000.0) * freqs[None, :]
    return torch.cat([arg.sin(), arg.cos()], dim=-1)


class CondEncoder(nn.Module):
    """Standardised conditioning + flow time -> (B, cond_dim)."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        c1, c2 = cfg.map_channels
        s = cfg.map_size
        s2 = (((s + 1) // 2) + 1) // 2
        self.map_net = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(c2 * s2 * s2, cfg.map_embed_dim),
        )
        self.time_dim = cfg.time_embed_dim
        low = cfg.vel_dim + cfg.control_dim + cfg.target_dim  # vel (F), prev_control (C), target (2 or 5)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.map_embed_dim + low + cfg.time_embed_dim, cfg.cond_dim),
            nn.GELU(),
            nn.Linear(cfg.cond_dim, cfg.cond_dim),
            nn.GELU(),
        )

    def forward(self, t: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.map_net(cond["local_map"].unsqueeze(1))
        x = torch.cat([m, cond["vel"], cond["prev_control"], cond["target"], time_embedding(t, self.time_dim)], -1)
        return self.mlp(x)


class FiLMResBlock(nn.Module):
    """h + W2 act(W1 FiLM(LN(h)))  with FiLM(x) = x * (1 + scale(c)) + shift(c)."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * dim)
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        self.act = nn.GELU()
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(c).chunk(2, dim=-1)
        x = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(self.act(self.fc1(x)))


class MLPFlowNet(nn.Module):
    """Residual FiLM-MLP over the flattened chunk."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.pred_horizon * cfg.control_dim
        self.cond = CondEncoder(cfg)
        self.inp = nn.Linear(d + cfg.cond_dim, cfg.hidden_dim)
        self.blocks = nn.ModuleList([FiLMResBlock(cfg.hidden_dim, cfg.cond_dim) for _ in range(cfg.num_blocks)])
        self.out_norm = nn.LayerNorm(cfg.hidden_dim)
        self.out = nn.Linear(cfg.hidden_dim, d)

    def forward(self, z: torch.Tensor, t: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        c = self.cond(t, cond)
        h = self.inp(torch.cat([z.flatten(1), c], -1))
        for blk in self.blocks:
            h = blk(h, c)
        return self.out(self.out_norm(h)).view_as(z)


class _ConvBlock1D(nn.Module):
    """Conv1d -> GroupNorm -> Mish, FiLM after the first conv, with a residual path."""

    def __init__(self, cin: int, cout: int, cond_dim: int, k: int) -> None:
        super().__init__()
        g = 8 if cout % 8 == 0 else 1
        self.c1 = nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2), nn.GroupNorm(g, cout), nn.Mish())
        self.c2 = nn.Sequential(nn.Conv1d(cout, cout, k, padding=k // 2), nn.GroupNorm(g, cout), nn.Mish())
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.res = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.c1(x)
        scale, shift = self.film(c).unsqueeze(-1).chunk(2, dim=1)
        h = h * (1 + scale) + shift
        return self.c2(h) + self.res(x)


class UNet1DFlowNet(nn.Module):
    """Compact 1-D temporal U-Net with FiLM conditioning (time is the convolution axis)."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        self.cond = CondEncoder(cfg)
        ch = cfg.unet_channels
        k, cd = cfg.unet_kernel, cfg.cond_dim
        self.down = nn.ModuleList()
        cin = cfg.control_dim
        for i, c in enumerate(ch):
            last = i == len(ch) - 1
            self.down.append(nn.ModuleList([
                _ConvBlock1D(cin, c, cd, k),
                nn.Conv1d(c, c, 3, stride=2, padding=1) if not last else nn.Identity(),
            ]))
            cin = c
        self.mid = _ConvBlock1D(ch[-1], ch[-1], cd, k)
        self.up = nn.ModuleList()
        for i in range(len(ch) - 1, 0, -1):
            self.up.append(nn.ModuleList([
                nn.ConvTranspose1d(ch[i], ch[i], 4, stride=2, padding=1),
                _ConvBlock1D(ch[i] + ch[i - 1], ch[i - 1], cd, k),
            ]))
        self.out = nn.Conv1d(ch[0], cfg.control_dim, 1)

    def forward(self, z: torch.Tensor, t: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        c = self.cond(t, cond)
        x = z.transpose(1, 2)  # (B, C, T)
        skips = []
        for blk, down in self.down:
            x = blk(x, c)
            skips.append(x)
            x = down(x)
        x = self.mid(x, c)
        skips.pop()
        for up, blk in self.up:
            x = blk(torch.cat([up(x), skips.pop()], 1), c)
        return self.out(x).transpose(1, 2)


def build_network(cfg: PolicyConfig) -> nn.Module:
    return MLPFlowNet(cfg) if cfg.arch == "mlp" else UNet1DFlowNet(cfg)
