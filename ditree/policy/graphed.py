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

__all__ = ["GraphedPolicyCall", "graph_capacity"]


def graph_capacity(n: int, minimum: int = 8) -> int:
    """The capacity a graph for ``n`` rows is recorded at: the next power of two, at least ``minimum``."""
    return max(minimum, 1 << max(0, int(n) - 1).bit_length())


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
        self._cols = np.cumsum([0, S, C, 2, H * C])  # states | prev controls | targets | noise
        width = int(self._cols[-1])
        self._host_in = torch.zeros((self.capacity, width), dtype=torch.float32, pin_memory=True)
        self._host_in_np = self._host_in.numpy()
        self._dev_in = torch.zeros((self.capacity, width), dtype=torch.float32, device=dev)
        self._host_out = torch.empty((self.capacity, self.chunk_len, C), dtype=torch.float32, pin_memory=True)
        c = self._cols
        states, prev, targets = self._dev_in[:, c[0]:c[1]], self._dev_in[:, c[1]:c[2]], self._dev_in[:, c[2]:c[3]]
        noise = self._dev_in[:, c[3]:c[4]].reshape(self.capacity, H, C)

        def call() -> torch.Tensor:
            cond = policy.conditioning(states, prev, targets, mapper)
            return policy.sample(cond, num_steps=num_steps, noise=noise)[:, : self.chunk_len]

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

    def submit(self, states: np.ndarray, prev_controls: np.ndarray, targets: np.ndarray, noise: np.ndarray) -> int:
        """Start the call for ``n`` rows: states ``(n, S)``, last controls ``(n, C)``, targets
        ``(n, 2)`` (m), noise ``(n, pred_horizon, C)``; returns ``n``. Does not wait for the GPU."""
        n = len(states)
        if n > self.capacity:
            raise ValueError(f"{n} rows exceed the graph's capacity {self.capacity}")
        if self._pending:
            raise RuntimeError("GraphedPolicyCall.submit called again before collect")
        c, host = self._cols, self._host_in_np
        host[:n, c[0]:c[1]] = states
        host[:n, c[1]:c[2]] = prev_controls
        host[:n, c[2]:c[3]] = targets
        host[:n, c[3]:c[4]] = noise.reshape(n, -1)
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
