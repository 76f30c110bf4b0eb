"""Conditional flow matching (rectified flow) in standardised control space (docs/policy.md, 'Flow matching').

Training: ``x1`` = expert chunk, ``x0 ~ N(0, I)``, ``t ~ U(0, 1)``, ``z_t = t*x1 + (1-t)*x0``;
the network regresses the constant velocity ``x1 - x0`` with an MSE loss.

Sampling: Euler steps of the learned velocity from ``z_0 = noise`` to ``t = 1``. With one step
the sample is ``noise + v(noise, 0, cond)``; the paper found one step best.
"""

from __future__ import annotations

import torch
from torch import nn


def flow_matching_loss(
    net: nn.Module,
    x1: torch.Tensor,
    cond: dict[str, torch.Tensor],
    generator: torch.Generator | None = None,
    x0: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error of the predicted velocity; ``x1`` (B, H, C) standardised controls."""
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
    if t is None:
        t = torch.rand(x1.shape[0], generator=generator, device=x1.device, dtype=x1.dtype)
    tt = t[:, None, None]
    zt = tt * x1 + (1 - tt) * x0
    return torch.mean((net(zt, t, cond) - (x1 - x0)) ** 2)


def euler_sample(net: nn.Module, cond: dict[str, torch.Tensor], noise: torch.Tensor, num_steps: int = 1) -> torch.Tensor:
    """Integrate ``dz/dt = v(z, t, cond)`` from ``noise`` (B, H, C) at t=0 to t=1 in ``num_steps``."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    z = noise
    dt = 1.0 / num_steps
    for k in range(num_steps):  # a loop over flow steps, not over the batch
        t = torch.full((z.shape[0],), k * dt, device=z.device, dtype=z.dtype)
        z = z + dt * net(z, t, cond)
    return z
