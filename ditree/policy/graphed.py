"""One policy call as a replayed CUDA graph: conditioning (crop, features, target) + sampling.

In eager mode one DiTree policy call is ~100 small kernels (the crop, the features, two
convolutions, a dozen matrix products, the elementwise glue), each launched from Python: on a
GPU the launches, not the arithmetic, are the cost. :class:`GraphedPolicyCall` records the
whole call once for a fixed capacity of rows and replays it with one launch::

    host: pack states | prev controls | targets | noise into one pinned buffer (n rows)
          -> one async copy to the device -> graph replay (capacity rows) -> async copy of the
          first n rows' executed controls back into pinned memory -> event
    collect: wait for the event, return numpy

Rows ``n..capacity`` of the input keep whatever an earlier call left there (finite numbers); they
are computed and ignored: no batch-dependent layers exist, so they cannot change the first ``n``
rows. A graph holds the tensors of one world's :class:`~envs.local_map.TorchLocalMapper`, so it
is recorded per world (and per capacity: the next power of two of the rows asked for).
"""

from __future__ import annotations

import numpy as np
import torch

from envs.local_map import TorchLocalMapper

__all__ = ["GraphedPolicyCall", "graph_capacity", "input_columns", "pack_inputs", "packed_call", "unpack_inputs"]


def graph_capacity(n: int, minimum: int = 8) -> int:
    """The capacity a graph for ``n`` rows is recorded at: the next power of two, at least ``minimum``."""
    return max(minimum, 1 << max(0, int(n) - 1).bit_length())


def input_columns(state_dim: int, control_dim: int, pred_horizon: int, heading: bool = False) -> np.ndarray:
    """Column offsets ``(5,)`` of one packed input row: states (S) | last controls (C) | targets (2,
    or 3 with ``heading``: [x, y, goal yaw], the yaw NaN for a target without one) | noise
    (pred_horizon * C); the last entry is the row width. Any ``C >= 1``; the policy features are
    computed from the states on the device, so a robot without any packs the same."""
    return np.cumsum([0, int(state_dim), int(control_dim), 3 if heading else 2, int(pred_horizon) * int(control_dim)])


def pack_inputs(buf: np.ndarray, cols: np.ndarray, states: np.ndarray, prev_controls: np.ndarray,
                targets: np.ndarray, noise: np.ndarray) -> int:
    """Write ``n`` rows into the first ``n`` rows of ``buf`` ``(capacity, cols[-1])`` (see
    :func:`input_columns`): states ``(n, S)``, last controls ``(n, C)``, targets ``(n, 2)`` (or
    ``(n, 3)`` with the goal yaw, as the columns say), noise
    ``(n, pred_horizon, C)``. Returns ``n``; raises ``ValueError`` naming a wrongly shaped input."""
    n = len(states)
    widths = np.diff(cols)
    for name, a, width in (("states", states, widths[0]), ("prev_controls", prev_controls, widths[1]),
                           ("targets", targets, widths[2]), ("noise", noise, widths[3])):
        if len(a) != n or int(np.prod(a.shape[1:])) != width or (name != "noise" and a.ndim != 2):
            raise ValueError(f"packed policy input {name!r} has shape {tuple(a.shape)}, expected {n} rows of {width}")
    if n > len(buf):
        raise ValueError(f"{n} rows exceed the graph's capacity {len(buf)}")
    buf[:n, cols[0]:cols[1]] = states
    buf[:n, cols[1]:cols[2]] = prev_controls
    buf[:n, cols[2]:cols[3]] = targets
    buf[:n, cols[3]:cols[4]] = noise.reshape(n, -1)
    return n


def unpack_inputs(buf, cols: np.ndarray, pred_horizon: int, control_dim: int) -> tuple:
    """Views of a packed buffer ``(rows, cols[-1])`` (numpy or torch): states ``(rows, S)``, last
    controls ``(rows, C)``, targets ``(rows, 2)`` (``(rows, 3)`` with the goal yaw) and noise ``(rows, pred_horizon, C)``."""
    c = [int(v) for v in cols]
    noise = buf[:, c[3]:c[4]].reshape(len(buf), int(pred_horizon), int(control_dim))
    return buf[:, c[0]:c[1]], buf[:, c[1]:c[2]], buf[:, c[2]:c[3]], noise


def packed_call(policy, mapper: TorchLocalMapper, views: tuple, chunk_len: int, num_steps: int = 1) -> torch.Tensor:
    """The call :class:`GraphedPolicyCall` records, on the views :func:`unpack_inputs` gives (any
    device): the conditioning (targets' third column the goal yaw for a policy with
    ``target_heading``) and the sample's first ``chunk_len`` controls ``(rows, chunk_len, C)``."""
    states, prev, targets, noise = views
    yaw = targets[:, 2] if policy.config.target_heading else None
    cond = policy.conditioning(states, prev, targets[:, :2], mapper, yaw)
    return policy.sample(cond, num_steps=num_steps, noise=noise)[:, :chunk_len]


class GraphedPolicyCall:
    """``policy.sample(policy.conditioning(...))[:, :chunk_len]`` recorded as a CUDA graph for at
    most ``capacity`` rows (see the module docstring). One request may be in flight at a time:
    :meth:`submit`, then :meth:`collect` before the next :meth:`submit`."""

    def __init__(self, policy, mapper: TorchLocalMapper, capacity: int, chunk_len: int, num_steps: int = 1) -> None:
        dev = policy.device
        if dev.type != "cuda":
            raise ValueError(f"GraphedPolicyCall needs a policy on a CUDA device, got {dev}")
        cfg = policy.config
        S, C, H = policy.robot.state_dim, cfg.control_dim, cfg.pred_horizon
        self.capacity, self.chunk_len = int(capacity), int(chunk_len)
        self.heading = bool(cfg.target_heading)
        self._cols = input_columns(S, C, H, self.heading)  # states | prev controls | targets (+ yaw) | noise
        width = int(self._cols[-1])
        self._host_in = torch.zeros((self.capacity, width), dtype=torch.float32, pin_memory=True)
        self._host_in_np = self._host_in.numpy()
        self._dev_in = torch.zeros((self.capacity, width), dtype=torch.float32, device=dev)
        self._host_out = torch.empty((self.capacity, self.chunk_len, C), dtype=torch.float32, pin_memory=True)
        views = unpack_inputs(self._dev_in, self._cols, H, C)

        def call() -> torch.Tensor:
            return packed_call(policy, mapper, views, self.chunk_len, num_steps)

        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(2):  # warm-up outside the graph (allocator, cuBLAS handles)
                call()
        torch.cuda.current_stream(dev).wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self._graph):
            self._out = call()
        self._done = torch.cuda.Event()
        self._pending = 0

    def submit(self, states: np.ndarray, prev_controls: np.ndarray, targets: np.ndarray, noise: np.ndarray,
               target_yaw: np.ndarray | None = None) -> int:
        """Start the call for ``n`` rows: states ``(n, S)``, last controls ``(n, C)``, targets
        ``(n, 2)`` (m), noise ``(n, pred_horizon, C)``, and for a policy with the goal's heading
        ``target_yaw`` ``(n,)`` (rad, NaN = none; None = no row has one); returns ``n``. Does not
        wait for the GPU."""
        if self._pending:
            raise RuntimeError("GraphedPolicyCall.submit called again before collect")
        if self.heading:
            yaw = np.full(len(targets), np.nan) if target_yaw is None else np.asarray(target_yaw, dtype=float)
            targets = np.column_stack([targets, yaw])
        n = pack_inputs(self._host_in_np, self._cols, states, prev_controls, targets, noise)
        self._dev_in[:n].copy_(self._host_in[:n], non_blocking=True)
        self._graph.replay()
        self._host_out[:n].copy_(self._out[:n], non_blocking=True)
        self._done.record()
        self._pending = n
        return n

    def collect(self) -> np.ndarray:
        """Wait for the submitted call; its controls ``(n, chunk_len, C)`` float32."""
        n, self._pending = self._pending, 0
        self._done.synchronize()
        return self._host_out[:n].numpy().copy()
