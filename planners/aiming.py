"""Re-aiming a control sampler before every chunk (:class:`AimedSampler`): at a fixed target, down
the grid geodesic to the goal, or along a reference path (the incumbent's), for the anytime search."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from envs.problem import Problem
from planners.cost_to_go import CostToGo
from planners.samplers import ControlSampler, SamplerContext, call_goal_rows

# row modes of AimedSampler
AIM_FIXED, AIM_GEODESIC, AIM_INCUMBENT = 0, 1, 2


class AimedSampler:
    """A :class:`~planners.samplers.ControlSampler` wrapper that re-aims each row before every chunk.

    Row modes (set per batch with :meth:`plan`): ``AIM_FIXED`` keeps the row's target;
    ``AIM_GEODESIC`` aims ``lookahead`` cells down the grid geodesic from the current position;
    ``AIM_INCUMBENT`` follows a reference path (the incumbent's positions): the row's progress
    moves to the nearest reference point ahead of it (within a window), and the target is the
    reference point ``lookahead`` metres of arc further on (the goal past the end). Extensions may
    be up to ``max_steps`` long (``n_chunks`` calls of the inner sampler's ``chunk_len``).

    ``aim_distance`` (m, 0 = off): targets of aimed rows (and goal targets) closer than this are
    moved out to this distance along the same direction. A policy trained to drive to a goal slows
    down as the goal gets near; a far target in the waypoint's direction keeps it at cruise speed
    (the goal region still ends the rollout the moment it is entered). Goal targets stay where
    they are for an inner sampler with a true ``exact_goal_targets`` (one that reads the goal's full
    state, e.g. its heading, for goal rows, which holds only at the goal's position).

    The rows aimed at the goal (``SamplerContext.goal_rows``) follow the targets: the inner sampler
    gets a copy of the context whose mask marks the rows this call aims at the goal (see :meth:`aim`).
    """

    def __init__(self, inner: ControlSampler, max_steps: int, aim_distance: float = 0.0) -> None:
        self.inner = inner
        self.aim_distance = float(aim_distance)
        self.name = getattr(inner, "name", type(inner).__name__)
        self.chunk_len = int(inner.chunk_len)
        self.edge_steps = int(inner.chunk_len) * int(inner.n_chunks)
        self.n_chunks = max(int(inner.n_chunks), -(-int(max_steps) // self.chunk_len))
        self.ctg: CostToGo | None = None
        self._mode = np.zeros(0, dtype=np.int64)
        self._look = np.zeros(0)
        self._progress = np.zeros(0, dtype=np.int64)
        self._ref = np.zeros((0, 2))

    def setup(self, problem: Problem) -> None:
        self.inner.setup(problem)

    def sample_lengths(self, n: int, context: SamplerContext) -> np.ndarray:
        return self.inner.sample_lengths(n, context)

    def plan(self, mode: np.ndarray, lookahead: np.ndarray, progress: np.ndarray | None = None,
             reference: np.ndarray | None = None) -> None:
        """Set the next batch's row modes ``(B,)``, lookaheads ``(B,)`` (cells for geodesic rows, m
        for incumbent rows), progress ``(B,)`` (indices into ``reference``, where each incumbent
        row starts) and the reference path ``(T, 2)`` (m; resampled here every ``REF_SPACING`` m)."""
        self._mode = np.asarray(mode, dtype=np.int64)
        self._look = np.asarray(lookahead, dtype=float)
        B = len(self._mode)
        progress = np.zeros(B, np.int64) if progress is None else np.asarray(progress, np.int64)
        if reference is not None:
            ref = np.asarray(reference, dtype=float)
            arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(ref, axis=0), axis=1))]
            s = np.arange(0.0, arc[-1] + self.REF_SPACING, self.REF_SPACING)
            self._ref = np.stack([np.interp(s, arc, ref[:, 0]), np.interp(s, arc, ref[:, 1])], axis=1)
            self._progress = np.floor(arc[np.clip(progress, 0, len(ref) - 1)] / self.REF_SPACING).astype(np.int64)
        else:
            self._progress = progress.copy()

    REF_SPACING = 0.05
    """Resampling step of the reference path (m)."""
    WINDOW_M = 3.0
    """How far ahead of its progress a row looks for its nearest reference point (m)."""

    def targets(self, states: np.ndarray, targets: np.ndarray, rows: np.ndarray,
                goal_rows: np.ndarray | None = None) -> np.ndarray:
        """The targets of :meth:`aim` (without the mask)."""
        return self.aim(states, targets, rows, goal_rows)[0]

    def aim(self, states: np.ndarray, targets: np.ndarray, rows: np.ndarray,
            goal_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Targets ``(n, 2)`` for rows ``rows`` ``(n,)`` at ``states`` ``(n, state_dim)`` (updates
        their progress), and which of them are the goal position ``(n,)`` bool.

        ``goal_rows`` ``(n,)`` bool: which of the given ``targets`` are the goal (None: those exactly
        equal to the goal position). A row re-aimed at the goal (a geodesic that reaches the goal
        cell, a reference followed past its end) becomes a goal row, a row re-aimed elsewhere or
        pushed out (``aim_distance``) is none; the others keep theirs."""
        out = np.array(targets, dtype=float, copy=True)
        if goal_rows is None:
            at_goal = np.zeros(len(out), dtype=bool) if self.ctg is None else np.all(out == self.ctg.problem.goal, axis=1)
        else:
            at_goal = np.array(goal_rows, dtype=bool, copy=True)
        if not len(self._mode):
            return out, at_goal
        mode = self._mode[rows]
        geo = mode == AIM_GEODESIC
        if geo.any():
            out[geo], at_goal[geo] = self.ctg.downhill_to_goal(states[geo, :2],
                                                               np.rint(self._look[rows[geo]]).astype(np.int64))
        inc = mode == AIM_INCUMBENT
        if inc.any() and len(self._ref):
            r = rows[inc]
            T = len(self._ref)
            W = int(np.ceil(self.WINDOW_M / self.REF_SPACING))
            window = np.minimum(self._progress[r, None] + np.arange(W)[None, :], T - 1)
            d = np.linalg.norm(self._ref[window] - states[inc, None, :2], axis=2)
            self._progress[r] = window[np.arange(len(r)), np.argmin(d, axis=1)]
            j = self._progress[r] + np.rint(self._look[r] / self.REF_SPACING).astype(np.int64)
            past = j >= T
            out[inc] = np.where(past[:, None], self.ctg.problem.goal, self._ref[np.minimum(j, T - 1)])
            at_goal[inc] = past
        if self.aim_distance > 0:  # push near targets out along their direction (see class docstring)
            far = (mode != AIM_FIXED) | at_goal
            if getattr(self.inner, "exact_goal_targets", False):
                far &= ~at_goal
            d = np.linalg.norm(out - states[:, :2], axis=1)
            push = far & (d < self.aim_distance) & (d > 1e-9)
            out[push] = states[push, :2] + (out[push] - states[push, :2]) * (self.aim_distance / d[push, None])
            at_goal &= ~push
        return out, at_goal

    def __call__(self, states: np.ndarray, targets: np.ndarray, prev_controls: np.ndarray,
                 context: SamplerContext) -> np.ndarray:
        """The inner sampler's controls for the re-aimed targets; it gets a copy of ``context``
        whose ``goal_rows`` is this call's updated mask (the caller's stays as it was)."""
        rows = context.rows if context.rows is not None else np.arange(len(states))
        aimed, at_goal = self.aim(states, targets, rows, call_goal_rows(context, targets))
        if context.goal_rows is not None:
            mask = np.array(context.goal_rows, dtype=bool, copy=True)
        else:
            mask = np.zeros(max(int(context.batch_size), int(rows.max(initial=-1)) + 1), dtype=bool)
        mask[rows] = at_goal
        return self.inner(states, aimed, prev_controls, replace(context, goal_rows=mask))
