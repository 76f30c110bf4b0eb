"""The learned control sampler: the flow-matching policy behind the planners' ControlSampler protocol.

One 64-step tree extension is ``n_chunks`` = 8 closed-loop policy calls of ``chunk_len`` = 8
executed controls (docs/policy.md, 'The planner')::

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

A policy that reads the goal's heading (``PolicyConfig.target_heading``) gets it for the rows the
planner aimed at the goal (``SamplerContext.goal_rows``; a planner that does not set it: the rows
whose target equals the problem's goal position exactly), when the goal is a full state
(:class:`~envs.goal.StateGoal`); every other row (a random target, a waypoint) gets none.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ditree.policy import FlowPolicy
from ditree.policy.features import goal_heading
from ditree.policy.graphed import GraphedPolicyCall, graph_capacity
from envs.errors import DitreeInputError
from envs.local_map import TorchLocalMapper
from envs.problem import Problem
from envs.world import GridMap
from planners.samplers import SamplerContext, call_goal_rows


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
    arithmetic (AVX512-BF16 / AMX), else float32: on such a CPU bfloat16 cuts DiTree's time with the
    same success and path durations, its controls within a small fraction of float32's spread; on
    CUDA "auto" keeps float32 (bfloat16 there is unmeasured). ``cuda_graph``: on a CUDA device,
    record each policy call (crop + network) as a CUDA graph (``ditree.policy.graphed``) and replay
    it, instead of launching its ~100 kernels one by one, which removes most of a call's launch
    overhead; recording happens once per map and slot. Measurements of both: docs/benchmarks.md,
    'Policy precision and CUDA graphs'.
    """

    n_chunks: int = 8
    epsilon: float = 0.05
    num_flow_steps: int = 1
    device: str = "auto"
    execute_steps: int = 0
    precision: str = "auto"
    cuda_graph: bool = True

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


def check_threads(n: int | None, owner: str) -> None:
    """Raise ``ValueError`` naming ``owner`` unless ``n`` is None or an int >= 1."""
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"{owner}.threads must be an int >= 1 or None, got {n!r}")


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: as set), restoring the previous count.

    The learned planners default to one: their network calls are small (a batch of 64 through a
    3 MB MLP), so a second thread gains little when the machine is idle and, when other work shares
    the cores, makes every call wait for a thread that is not running (docs/benchmarks.md,
    'Torch threads')."""
    if n is None:
        yield
        return
    check_threads(n, "torch_threads")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` ``(n, ...)`` with its last row repeated up to ``rows`` rows (``rows >= n >= 1``)."""
    return np.concatenate([a, np.repeat(a[-1:], rows - len(a), axis=0)])


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class PolicyControlSampler:
    """A :class:`planners.samplers.AsyncControlSampler` that asks a :class:`FlowPolicy` for controls.

    ``submit`` draws the call's randomness and starts the policy (on a GPU it returns before the
    network is done); ``collect`` waits for it. Up to :attr:`max_in_flight` requests may be in
    flight (``planners.rrt.extend`` with ``groups`` > 1 keeps one per group).
    """

    name = "policy"
    max_in_flight = 4
    _GRAPH_WORLDS = 4  # worlds whose recorded graphs are kept (most recently planned in)

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
        #: eager bfloat16 calls on a CPU run at a padded row count (see :meth:`warm_up`)
        self.padded = self.dtype == torch.bfloat16 and policy.device.type == "cpu"
        self._mapper: TorchLocalMapper | None = None
        #: recorded graphs per in-flight slot for the current world (None: eager calls)
        self._graphs: dict[int, GraphedPolicyCall] | None = None
        self._graphs_by_world: dict[tuple, tuple[TorchLocalMapper, dict[int, GraphedPolicyCall]]] = {}
        self._free_slots: list[int] = []
        self._graph_failed = False  # recording failed once: this sampler's calls run eagerly
        self._random_rows = np.zeros(0, dtype=bool)
        self._low = self._high = None  # the problem robot's control bounds (set by setup)
        #: the problem's goal position (2,) and heading (rad; NaN: no heading), set by setup
        self._goal_xy = np.full(2, np.nan)
        self._goal_yaw = float("nan")
        #: policy calls made since :meth:`setup` (one per chunk with at least one policy extension)
        self.policy_calls = 0
        #: seconds since :meth:`setup` spent building conditioning (local-map crops; eager calls
        #: only), in the network (with a CUDA graph: the whole call), and recording CUDA graphs
        self.seconds = {"crop": 0.0, "policy": 0.0, "capture": 0.0}

    @property
    def exact_goal_targets(self) -> bool:
        """Whether the policy reads the goal's heading for rows aimed at the goal, which is right only
        at the goal's position (a wrapper that moves targets, ``planners.aiming.AimedSampler``, must
        leave goal rows' targets as they are)."""
        return bool(self.policy.config.target_heading)

    def target_yaws(self, targets: np.ndarray, goal_rows: np.ndarray | None = None) -> np.ndarray | None:
        """The goal heading of each target ``(n, 2)``: the goal state's yaw (rad) for a goal row, NaN
        for any other; None for a policy without the goal's heading or a problem whose goal has none.

        ``goal_rows`` ``(n,)`` bool: which targets the planner aimed at the goal (its
        ``SamplerContext.goal_rows`` for these rows, see :func:`planners.samplers.call_goal_rows`).
        None (a planner that does not set the mask): the targets exactly equal to the problem's goal
        position are the goal rows."""
        if not self.policy.config.target_heading or np.isnan(self._goal_yaw):
            return None
        if goal_rows is None:
            at_goal = np.all(np.asarray(targets) == self._goal_xy, axis=1)
        else:
            at_goal = np.asarray(goal_rows, dtype=bool)
            if at_goal.shape != (len(targets),):
                raise ValueError(f"goal_rows has shape {at_goal.shape}, expected ({len(targets)},)")
        return np.where(at_goal, self._goal_yaw, np.nan)

    def setup(self, problem: Problem) -> None:
        check_policy_matches(self.policy, problem)
        self._goal_xy = np.asarray(problem.goal, dtype=float).copy()
        self._goal_yaw = goal_heading(problem.goal_region)
        self._low = np.asarray(problem.robot.control_low, dtype=float)
        self._high = np.asarray(problem.robot.control_high, dtype=float)
        self.policy_calls = 0
        self.seconds = {"crop": 0.0, "policy": 0.0, "capture": 0.0}
        self._free_slots = list(range(self.max_in_flight))
        if not (self.params.cuda_graph and self.policy.device.type == "cuda"):
            self._mapper = TorchLocalMapper(problem.world, self.policy.local_map_spec, self.policy.device)
            return
        # graphs hold the mapper's tensors: keep them per world content, recorded on first use
        w = problem.world
        key = (w.content_hash(),)
        if key not in self._graphs_by_world:
            while len(self._graphs_by_world) >= self._GRAPH_WORLDS:
                self._graphs_by_world.pop(next(iter(self._graphs_by_world)))
            mapper = TorchLocalMapper(w, self.policy.local_map_spec, self.policy.device)
            self._graphs_by_world[key] = (mapper, {})
        self._mapper, self._graphs = self._graphs_by_world.pop(key)
        self._graphs_by_world[key] = (self._mapper, self._graphs)  # most recent last

    def warm_up(self, max_rows: int) -> float:
        """Pay the network's first-call costs now rather than in the first plan; returns seconds.

        On a CPU, oneDNN builds its kernels for each new batch shape on first use (and re-packs new
        weights), which the first plan of a process would pay call by call. This runs one eager call
        on a tiny world at every row count a plan can use: with :attr:`padded` (bfloat16 on a
        CPU) calls are padded to :func:`~ditree.policy.graphed.graph_capacity` rows, so the counts
        are the capacities up to ``graph_capacity(max_rows)``; otherwise one call (float32 compiles
        nothing per shape). A CUDA policy records its graphs per world at first use instead (no-op).
        Padding changes no row's controls: the bfloat16 network gives bit-identical rows at any
        row count (tests/ditree/test_sampler_warmup.py checks it)."""
        if self.policy.device.type != "cpu":
            return 0.0
        t0 = time.perf_counter()
        top = graph_capacity(max(1, int(max_rows)))
        rows = [graph_capacity(1)] if self.padded else [1]
        while self.padded and rows[-1] < top:
            rows.append(2 * rows[-1])
        mapper = TorchLocalMapper(GridMap(np.zeros((4, 4), dtype=np.uint8), name="warm-up"),
                                  self.policy.local_map_spec, self.policy.device)
        cfg = self.policy.config
        S = self.policy.robot.state_dim
        for n in rows:
            with torch.inference_mode():
                cond = self._net_policy.conditioning(np.zeros((n, S)), np.zeros((n, cfg.control_dim)), np.ones((n, 2)),
                                                     mapper)
                self._net_policy.sample(cond, num_steps=self.params.num_flow_steps,
                                        noise=torch.zeros((n, cfg.pred_horizon, cfg.control_dim)))
        return time.perf_counter() - t0

    def sample_lengths(self, n: int, context: SamplerContext) -> np.ndarray:
        return np.full(n, self.chunk_len * self.n_chunks, dtype=np.int64)

    def submit(
        self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray, context: SamplerContext
    ) -> tuple:
        """Draw this call's randomness and start the policy on the rows that use it; returns a
        ticket for :meth:`collect`. On CUDA the network runs on while the caller works on."""
        if self._mapper is None:
            raise RuntimeError("PolicyControlSampler.setup(problem) must be called before sampling")
        rng = context.rng
        B = len(states)
        rows = context.rows if context.rows is not None else np.arange(B)
        if context.chunk == 0:  # these extensions begin: decide which ones use random controls
            n = max(int(context.batch_size), int(rows.max()) + 1 if len(rows) else 0)
            if len(self._random_rows) < n:
                self._random_rows = np.zeros(n, dtype=bool)
            self._random_rows[rows] = rng.random(len(rows)) < self.params.epsilon
        use_random = self._random_rows[rows]
        cfg = self.policy.config
        # noise from the planner's generator: same seed, same samples (on the CPU)
        noise = rng.standard_normal((B, cfg.pred_horizon, cfg.control_dim)).astype(np.float32)
        out = np.empty((B, self.chunk_len, cfg.control_dim))
        learned = ~use_random
        request = None
        if learned.any():
            t0 = time.perf_counter()
            yaws = self.target_yaws(targets[learned], call_goal_rows(context, targets)[learned])
            request = self._start(states[learned], prev_controls[learned], targets[learned], noise[learned], yaws)
            self.seconds["policy"] += time.perf_counter() - t0
            self.policy_calls += 1
        if use_random.any():
            u = rng.uniform(self._low, self._high, size=(int(use_random.sum()), 1, cfg.control_dim))
            out[use_random] = np.repeat(u, self.chunk_len, axis=1)
        return out, learned, request

    def collect(self, ticket: tuple) -> np.ndarray:
        """The controls ``(B, chunk_len, C)`` of a :meth:`submit` ticket (waits for the policy)."""
        out, learned, request = ticket
        if request is not None:
            t0 = time.perf_counter()
            out[learned] = self._finish(request)
            self.seconds["policy"] += time.perf_counter() - t0
        return out

    def __call__(
        self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray, context: SamplerContext
    ) -> np.ndarray:
        """States ``(B, S)``, targets ``(B, 2)`` (m), last controls ``(B, C)`` -> ``(B, chunk_len, C)``."""
        return self.collect(self.submit(states, targets, prev_controls, context))

    # ------------------------------------------------------------------ the policy on its device
    def _start(self, states, prev_controls, targets, noise, target_yaw=None):
        if self._graphs is not None and not self._graph_failed:
            slot = self._take_slot()
            cap = graph_capacity(len(states))
            call = self._graphs.get(slot)
            if call is None or call.capacity < cap:
                t0 = time.perf_counter()
                try:
                    call = self._graphs[slot] = GraphedPolicyCall(
                        self._net_policy, self._mapper, cap, self.chunk_len, self.params.num_flow_steps)
                except RuntimeError as err:  # a driver or build that cannot record: stay correct, run eagerly
                    warnings.warn(f"recording the policy call as a CUDA graph failed ({err}); calls run eagerly",
                                  RuntimeWarning, stacklevel=2)
                    self._free_slots.append(slot)
                    self._graph_failed = True
                    call = None
                self.seconds["capture"] += time.perf_counter() - t0
            if call is not None:
                call.submit(states, prev_controls, targets, noise, target_yaw)
                return slot
        t0 = time.perf_counter()
        n = len(states)
        if self.padded and graph_capacity(n) > n:  # the row counts warm_up prepared (same rows' controls)
            states, prev_controls, targets, noise = (pad_rows(a, graph_capacity(n))
                                                     for a in (states, prev_controls, targets, noise))
            if target_yaw is not None:
                target_yaw = pad_rows(target_yaw, graph_capacity(n))
        with torch.inference_mode():
            cond = self._net_policy.conditioning(states, prev_controls, targets, self._mapper, target_yaw)
            t1 = time.perf_counter()
            chunks = self._net_policy.sample(cond, num_steps=self.params.num_flow_steps,
                                             noise=torch.from_numpy(noise))[:n, : self.chunk_len]
            if chunks.device.type == "cuda":  # copy back without waiting; collect waits
                host = torch.empty(chunks.shape, dtype=chunks.dtype, pin_memory=True)
                host.copy_(chunks, non_blocking=True)
                done = torch.cuda.Event()
                done.record()
                chunks = (host, done)
        self.seconds["crop"] += t1 - t0
        self.seconds["policy"] -= t1 - t0  # submit adds the whole call to "policy"
        return chunks

    def _finish(self, request) -> np.ndarray:
        if isinstance(request, int):  # a graph slot
            self._free_slots.append(request)
            return self._graphs[request].collect()
        if isinstance(request, tuple):
            host, done = request
            done.synchronize()
            return host.numpy()
        return request.numpy()

    def _take_slot(self) -> int:
        if not self._free_slots:
            raise RuntimeError(f"more than max_in_flight={self.max_in_flight} policy requests in flight")
        slot = min(self._free_slots)  # the lowest free slot: groups reuse the graphs recorded first
        self._free_slots.remove(slot)
        return slot
