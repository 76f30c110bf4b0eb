"""Control samplers: where the tree's extensions come from.

The RRT core drives a closed-loop, chunked extension (see ``planners.rrt.extend``)::

    step 0        chunk_len        2*chunk_len   ...   n_chunks*chunk_len = max_steps
    |-- chunk 0 --|---- chunk 1 ----|---- ... ----|
    ^ sampler     ^ sampler called again with the states reached (alive extensions only)

Before each chunk the core calls ``sampler(states, targets, prev_controls, context)`` once for
all extensions still alive (batched), rolls the returned ``(B, chunk_len, 2)`` controls out,
checks the footprint at every step and goes on with the survivors. An open-loop sampler is one
chunk (``n_chunks = 1``). Each extension may stop earlier: ``sample_lengths`` gives per-extension
lengths in steps (random durations), 1..max_steps.

A learned policy (DiTree) implements the same protocol with ``chunk_len = 8, n_chunks = 8``
(64 steps = 1.28 s), re-cropping its local map from ``states`` on every call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.problem import Problem
from envs.registry import robot_spec


@dataclass
class SamplerContext:
    """What a sampler may look at besides the batch.

    ``problem``: the planning problem (robot, world, goal); ``rng``: the planner's generator (all
    randomness of a run flows from it, so same seed, same tree); ``chunk``: index of the chunk about
    to be sampled; ``step``: steps already executed by these extensions (``chunk * chunk_len``);
    ``node_ids``: ``(B,)`` tree nodes the extensions started from; ``rows``: ``(B,)`` indices of
    these extensions within the batch begun at chunk 0 (so a sampler can keep per-extension choices
    across chunks); ``batch_size``: the number of extensions in that batch (0 = unknown: then
    ``rows`` or the call's batch tells); ``goal_rows``: ``(batch_size,)`` bool over that same batch
    (index it with ``rows``: ``goal_rows[rows]`` are the call's rows), True where the row's target is
    the problem's goal position because the planner (goal bias, ``target_goal_prob``) or a wrapper
    re-aiming the rows (``planners.aiming.AimedSampler``) chose the goal; set by the planner when it
    picks the batch's targets. None: not set (a planner that does not say; then a sampler that needs
    to know treats a target exactly equal to ``problem.goal`` as the goal, see :func:`call_goal_rows`);
    ``extra``: free-form (e.g. a torch device, a cached local mapper).
    """

    problem: Problem
    rng: np.random.Generator
    chunk: int = 0
    step: int = 0
    node_ids: np.ndarray | None = None
    rows: np.ndarray | None = None
    batch_size: int = 0
    goal_rows: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def call_goal_rows(context: SamplerContext, targets: np.ndarray) -> np.ndarray:
    """Which rows of a sampler call aim at the goal: ``(n,)`` bool for the call's targets ``(n, 2)``.

    ``context.goal_rows[context.rows]`` (``context.rows`` None: the first ``n`` rows) when the
    planner set the mask; else (a planner that does not set it) the targets exactly equal to
    ``context.problem.goal``.
    """
    targets = np.asarray(targets)
    if context.goal_rows is None:
        return np.all(targets == np.asarray(context.problem.goal, dtype=float), axis=1)
    rows = context.rows if context.rows is not None else np.arange(len(targets))
    return np.asarray(context.goal_rows, dtype=bool)[rows]


@runtime_checkable
class ControlSampler(Protocol):
    """Batched, chunked control sampler (see module docstring)."""

    name: str
    chunk_len: int
    """Controls returned per call (steps of ``dt``)."""
    n_chunks: int
    """Calls per extension at most; ``max_steps = chunk_len * n_chunks``."""

    def setup(self, problem: Problem) -> None:
        """Called once per ``solve`` before the first extension (e.g. to build a local mapper)."""
        ...

    def sample_lengths(self, n: int, context: SamplerContext) -> np.ndarray:
        """Per-extension lengths ``(n,)`` int in ``[1, max_steps]`` (steps of ``dt``)."""
        ...

    def __call__(
        self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray, context: SamplerContext
    ) -> np.ndarray:
        """States ``(B, 6)``, targets ``(B, 2)`` (m), last executed controls ``(B, 2)`` -> controls
        ``(B, chunk_len, 2)`` (clipped to the robot's bounds by the dynamics)."""
        ...


@runtime_checkable
class AsyncControlSampler(ControlSampler, Protocol):
    """A :class:`ControlSampler` whose requests can be in flight while the caller works on.

    ``submit`` takes what ``__call__`` takes and returns a ticket at once (the work may go on, e.g.
    on a GPU); ``collect(ticket)`` waits for it and returns the controls ``__call__`` would have
    returned. All random draws happen in ``submit``. A ticket is collected once, and a sampler may
    hold a bounded number of tickets in flight (see its ``max_in_flight``). ``planners.rrt.extend``
    with ``groups`` > 1 keeps one request per group in flight.
    """

    max_in_flight: int

    def submit(
        self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray, context: SamplerContext
    ) -> Any:
        ...

    def collect(self, ticket: Any) -> np.ndarray:
        ...


def max_steps(sampler: ControlSampler) -> int:
    return int(sampler.chunk_len) * int(sampler.n_chunks)


@dataclass(frozen=True)
class UniformSamplerParams:
    """Parameters of :class:`UniformControlSampler`; defaults chosen for the DiTree car.

    An extension lasts ``min_steps..max_steps`` steps (default 5..25 = 0.1..0.5 s). Within it the
    control is piecewise constant, each piece held ``min_hold..max_hold`` steps (default 3..12 =
    0.06..0.24 s), drawn uniformly within the control bounds. Pieces shorter than the extension let
    one extension turn and straighten (steering is a rate: one steering rate held for long always
    ends at full lock). The defaults gave the fastest solutions with short paths in a sweep with
    RRT on the validation mazes (``scripts/bench_planners.py --planners rrt:min_steps=...``; see
    docs/benchmarks.md, 'Random-control extensions'). ``n_chunks`` > 1 makes the sampler chunked
    (the core calls it per chunk), which is only useful to test the closed-loop machinery.
    ``bound_prob``: probability that a piece's control component is put at one of its bounds (either
    with equal probability) instead of drawn uniformly between them. A robot whose tightest manoeuvres
    are bang-bang (a unicycle that cannot slow below its minimum speed turns tightest only at that
    speed and full turn rate) almost never draws them uniformly; 0 (the default) is plain uniform.
    ``levels``: 0 (the default) draws each component continuously; ``k >= 2`` draws it from ``k``
    evenly spaced values from its lower to its upper bound instead, a lattice of motion primitives,
    except that where zero lies strictly between the bounds the interior value nearest to it becomes
    zero (hold: straight ahead, no acceleration). 3 gives a unicycle Dubins' controls (full right,
    straight, full left, at the slowest, middle and top speed) even with unequal turn bounds
    (:func:`control_lattice`). Give ``levels`` or ``bound_prob``, not both.
    """

    min_steps: int = 5
    max_steps: int = 25
    min_hold: int = 3
    max_hold: int = 12
    n_chunks: int = 1
    bound_prob: float = 0.0
    levels: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(f"need 1 <= min_steps <= max_steps, got {self.min_steps}, {self.max_steps}")
        if not 1 <= self.min_hold <= self.max_hold:
            raise ValueError(f"need 1 <= min_hold <= max_hold, got {self.min_hold}, {self.max_hold}")
        if self.n_chunks < 1 or self.max_steps % self.n_chunks:
            raise ValueError(f"n_chunks ({self.n_chunks}) must be >= 1 and divide max_steps ({self.max_steps})")
        if not 0.0 <= self.bound_prob <= 1.0:
            raise ValueError(f"bound_prob must be in [0, 1], got {self.bound_prob}")
        if not (isinstance(self.levels, int) and (self.levels == 0 or self.levels >= 2)):
            raise ValueError(f"levels must be 0 (continuous) or an integer >= 2, got {self.levels!r}")
        if self.levels and self.bound_prob:
            raise ValueError(f"give levels ({self.levels}) or bound_prob ({self.bound_prob}), not both")


class UniformControlSampler:
    """Open-loop random controls: piecewise constant, uniform within the bounds, random durations.

    This is the control sampler of the classical kinodynamic RRT and SST baselines; it ignores
    ``targets``. See :class:`UniformSamplerParams` for the defaults.
    """

    name = "uniform"

    def __init__(self, params: UniformSamplerParams | None = None, **overrides: Any) -> None:
        base = params or UniformSamplerParams()
        self.params = UniformSamplerParams(**{**base.__dict__, **overrides}) if overrides else base
        self.n_chunks = self.params.n_chunks
        self.chunk_len = self.params.max_steps // self.n_chunks
        self._low = self._high = self._lattice = None

    def setup(self, problem: Problem) -> None:
        self._low = np.asarray(problem.robot.control_low, dtype=float)
        self._high = np.asarray(problem.robot.control_high, dtype=float)
        self._lattice = control_lattice(self._low, self._high, self.params.levels) if self.params.levels else None

    def sample_lengths(self, n: int, context: SamplerContext) -> np.ndarray:
        p = self.params
        return context.rng.integers(p.min_steps, p.max_steps + 1, size=n)

    def __call__(
        self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray, context: SamplerContext
    ) -> np.ndarray:
        if self._low is None:
            self.setup(context.problem)
        p, rng = self.params, context.rng
        B, T = len(states), self.chunk_len
        K = -(-T // p.min_hold)  # enough pieces to cover the chunk
        if p.levels:  # a lattice from the lower to the upper bound
            index = rng.integers(0, p.levels, size=(B, K, len(self._low)))
            values = self._lattice[np.arange(len(self._low)), index]
        else:
            values = rng.uniform(self._low, self._high, size=(B, K, len(self._low)))
        if p.bound_prob > 0.0:  # no extra draws at 0, so plain uniform trees stay as they were
            at_bound = rng.random(values.shape) < p.bound_prob
            upper = rng.random(values.shape) < 0.5
            values = np.where(at_bound, np.where(upper, self._high, self._low), values)
        holds = rng.integers(p.min_hold, p.max_hold + 1, size=(B, K))
        ends = np.cumsum(holds, axis=1)  # (B, K) exclusive end step of each piece
        piece = (np.arange(T)[None, :, None] >= ends[:, None, :]).sum(-1)  # (B, T)
        piece = np.minimum(piece, K - 1)
        return np.take_along_axis(values, piece[..., None], axis=1)


def control_lattice(low: np.ndarray, high: np.ndarray, levels: int) -> np.ndarray:
    """The values ``(C, levels)`` that :class:`UniformControlSampler` draws each control component from
    with ``UniformSamplerParams.levels``: ``levels`` evenly spaced from ``low`` to ``high`` ``(C,)``,
    the interior one nearest to zero moved to zero where zero lies strictly between the bounds."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    table = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, levels)[None, :]
    if levels >= 3:
        for c in np.flatnonzero((low < 0.0) & (high > 0.0)):
            inner = np.abs(table[c, 1:-1])
            table[c, 1 + int(np.argmin(inner))] = 0.0
    return table


def robot_sampler_params(robot: str) -> UniformSamplerParams:
    """The random-control extensions registered for ``robot`` (its ``SearchDefaults.extension``): what
    SST and the anytime planner's random iterations draw unless told otherwise."""
    return UniformSamplerParams(**asdict(robot_spec(robot).search.extension))  # same field names (envs cannot import planners)
