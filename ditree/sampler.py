"""The learned control sampler: the flow-matching policy behind the planners' ControlSampler protocol.

One 64-step tree extension is ``n_chunks`` = 8 closed-loop policy calls of ``chunk_len`` = 8
executed controls (SPEC §5)::

    step     0        8        16   ...   56       64
             |chunk 0 |chunk 1 |    ...   |chunk 7 |
             ^ policy call for ALL extensions still alive: one batched crop, one network call

Before each chunk the RRT core (``planners.rrt.extend``) hands over the states the extensions
reached; this sampler re-crops their local maps on the policy's device and asks the policy for the
next chunk (executing the first ``action_horizon`` of its ``pred_horizon`` controls).

Completeness does not rest on the network: with probability ``epsilon`` an extension uses
uniformly random controls for its whole length (piecewise constant, one value per chunk), so
every control sequence keeps positive probability; they are uniform within the problem robot's
``control_low/high``. All randomness, the policy's noise included, is drawn from the planner's
``numpy`` generator, so the same seed gives the same tree on the CPU.

Any robot (``envs.robot``): the policy must have been trained for the problem's robot (same name
and parameters); :meth:`PolicyControlSampler.setup` refuses another with a clear error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ditree.policy import FlowPolicy
from envs.errors import DitreeInputError
from envs.local_map import TorchLocalMapper
from envs.problem import Problem
from planners.samplers import SamplerContext


@dataclass(frozen=True)
class PolicySamplerParams:
    """Parameters of :class:`PolicyControlSampler`.

    ``n_chunks``: policy calls per extension (8: 64 steps = 1.28 s, the paper's extension);
    ``epsilon``: probability that an extension uses uniform random controls instead of the policy
    (0.05); ``num_flow_steps``: Euler steps of the flow (1, which the paper found best);
    ``device``: torch device of the policy ("cpu", "cuda", or "auto" = cuda when available);
    ``execute_steps``: controls executed from each predicted chunk before the next call (0 = the
    policy's ``action_horizon``, 8); ``precision``: floating-point type the network computes in
    during planning, "float32", "bfloat16", or "auto" = bfloat16 on a CPU with native bfloat16
    arithmetic (AVX512-BF16 / AMX), else float32. On the development machine's AVX512-BF16 CPU,
    bfloat16 cut the median DiTree time on the validation scenarios by 30-40% with the same
    success and path durations (``scripts/bench_planners.py``); its controls differ from float32's
    by about 0.5% of their spread. On CUDA "auto" keeps float32 (bfloat16 there is unmeasured).
    """

    n_chunks: int = 8
    epsilon: float = 0.05
    num_flow_steps: int = 1
    device: str = "auto"
    execute_steps: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"PolicySamplerParams.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.execute_steps < 0:
            raise ValueError(f"PolicySamplerParams.execute_steps must be >= 0, got {self.execute_steps}")
        if self.n_chunks < 1:
            raise ValueError(f"PolicySamplerParams.n_chunks must be >= 1, got {self.n_chunks}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"PolicySamplerParams.epsilon must lie in [0, 1], got {self.epsilon}")
        if self.num_flow_steps < 1:
            raise ValueError(f"PolicySamplerParams.num_flow_steps must be >= 1, got {self.num_flow_steps}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"PolicySamplerParams.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")


def check_policy_matches(policy: FlowPolicy, problem: Problem) -> None:
    """Raise :class:`DitreeInputError` unless ``policy`` was trained for ``problem.robot`` (same
    robot name and parameters)."""
    mine, theirs = policy.robot, problem.robot
    where = f"checkpoint {policy.source}" if policy.source else "the policy"
    if mine.name != theirs.name:
        raise DitreeInputError(
            f"{where} was trained for robot {mine.name!r}, but the problem's robot is {theirs.name!r}; "
            f"use a checkpoint trained for {theirs.name!r}"
        )
    if getattr(theirs, "params", mine.params) != mine.params:
        raise DitreeInputError(f"{where} was trained for {mine.name} parameters {mine.params}, the problem's robot has "
                               f"{theirs.params}")


PRECISIONS = ("auto", "float32", "bfloat16")


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 matmuls natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private probe: absent from some builds
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The network dtype for ``precision`` ("auto", "float32", "bfloat16") on ``device``."""
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class PolicyControlSampler:
    """A :class:`planners.samplers.ControlSampler` that asks a :class:`FlowPolicy` for controls."""

    name = "policy"

    def __init__(self, policy: FlowPolicy, params: PolicySamplerParams | None = None) -> None:
        self.params = params or PolicySamplerParams()
        self.policy = policy
        self.chunk_len = int(self.params.execute_steps or policy.config.action_horizon)
        if self.chunk_len > policy.config.pred_horizon:
            raise ValueError(
                f"execute_steps ({self.chunk_len}) exceeds the policy's pred_horizon ({policy.config.pred_horizon})"
            )
        self.n_chunks = int(self.params.n_chunks)
        policy.check_num_steps(self.params.num_flow_steps)
        #: the network dtype used while planning, and the policy copy that computes in it
        self.dtype = resolve_precision(self.params.precision, policy.device)
        self._net_policy = policy if self.dtype == policy.dtype else policy.inference_copy(self.dtype)
        self._mapper: TorchLocalMapper | None = None
        self._random_rows = np.zeros(0, dtype=bool)
        self._low = self._high = None  # the problem robot's control bounds (set by setup)
        #: policy calls made since :meth:`setup` (one per chunk with at least one policy extension)
        self.policy_calls = 0
        #: seconds since :meth:`setup` spent building conditioning (local-map crops) and in the network
        self.seconds = {"crop": 0.0, "policy": 0.0}

    def setup(self, problem: Problem) -> None:
        check_policy_matches(self.policy, problem)
        self._mapper = TorchLocalMapper(problem.world, self.policy.local_map_spec, self.policy.device)
        self._low = np.asarray(problem.robot.control_low, dtype=float)
        self._high = np.asarray(problem.robot.control_high, dtype=float)
        self.policy_calls = 0
        self.seconds = {"crop": 0.0, "policy": 0.0}

    def sample_lengths(self, n: int, context: SamplerContext) -> np.ndarray:
        return np.full(n, self.chunk_len * self.n_chunks, dtype=np.int64)

    def __call__(
        self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray, context: SamplerContext
    ) -> np.ndarray:
        """States ``(B, S)``, targets ``(B, 2)`` (m), last controls ``(B, C)`` -> ``(B, chunk_len, C)``."""
        if self._mapper is None:
            raise RuntimeError("PolicyControlSampler.setup(problem) must be called before sampling")
        rng = context.rng
        B = len(states)
        rows = context.rows if context.rows is not None else np.arange(B)
        if context.chunk == 0:  # a new batch of extensions: decide which ones are random
            self._random_rows = rng.random(int(rows.max()) + 1 if len(rows) else 0) < self.params.epsilon
        use_random = self._random_rows[rows]
        cfg = self.policy.config
        # noise from the planner's generator: same seed, same samples (on the CPU)
        noise = torch.from_numpy(rng.standard_normal((B, cfg.pred_horizon, cfg.control_dim)).astype(np.float32))
        out = np.empty((B, self.chunk_len, cfg.control_dim))
        learned = ~use_random
        if learned.any():
            t0 = time.perf_counter()
            with torch.inference_mode():
                cond = self._net_policy.conditioning(states[learned], prev_controls[learned], targets[learned],
                                                     self._mapper)
                t1 = time.perf_counter()
                chunks = self._net_policy.sample(
                    cond, num_steps=self.params.num_flow_steps, noise=noise[torch.from_numpy(learned)]
                )[:, : self.chunk_len].cpu().numpy()
            t2 = time.perf_counter()
            out[learned] = chunks
            self.seconds["crop"] += t1 - t0
            self.seconds["policy"] += t2 - t1
            self.policy_calls += 1
        if use_random.any():
            u = rng.uniform(self._low, self._high, size=(int(use_random.sum()), 1, cfg.control_dim))
            out[use_random] = np.repeat(u, self.chunk_len, axis=1)
        return out
