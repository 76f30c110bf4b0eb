"""The dynobench benchmark's published metrics, computed from our runs exactly as its table defines
them, and the published table itself (the ``dynobench`` suite's ``PUBLISHED.md``).

Per (instance, planner) over the runs of one time limit:

- ``p``: the fraction of runs that found a solution within the time limit;
- ``t_st``: the first time (s) at which the median over runs of the best cost found so far exists
  (unsolved runs count as infinite cost), i.e. when at least half the runs have a solution;
- ``J_st``: that median cost at ``t_st``; ``J_f``: the median cost at the time limit;
- cost = the path's duration (s).

The median of an even number of runs is the mean of the middle two when both are finite, and the
lower of them when only it is (so it exists once half the runs are solved, as the table says).
Times are each run's own time to its solutions (``cost_history``: ``[[t, cost], ...]``, first
solution then every improvement), so the step functions are exact, not sampled.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PUBLISHED_METHODS = ("iDb-A*", "RRT*+TO", "SST*")


@dataclass(frozen=True)
class PublishedMetrics:
    """``p`` (fraction solved), ``t_st`` (s), ``J_st`` and ``J_f`` (cost = duration, s); ``inf`` /
    ``nan`` where the median never exists."""

    p: float
    t_st: float
    J_st: float
    J_f: float

    def cells(self) -> str:
        """``p / t_st / J_st / J_f`` as the published table writes them."""
        def f(x: float) -> str:
            return "-" if not math.isfinite(x) else f"{x:.1f}"

        return f"{self.p:.1f} / {f(self.t_st)} / {f(self.J_st)} / {f(self.J_f)}"


def best_cost_matrix(histories: list[list[list[float]] | None], times: np.ndarray) -> np.ndarray:
    """``(R, T)``: each run's best cost found by each time in ``times`` (``inf`` before its first
    solution, or for a run without one: ``None`` or ``[]``)."""
    times = np.asarray(times, dtype=float)
    out = np.full((len(histories), times.size), np.inf)
    for r, hist in enumerate(histories):
        for t, c in hist or ():
            out[r, times >= t] = np.minimum(out[r, times >= t], c)
    return out


def median_with_inf(values: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``(R, T)`` costs with ``inf`` for unsolved (see the module docstring)."""
    v = np.sort(np.asarray(values, dtype=float), axis=0)
    n = v.shape[0]
    if n == 0:
        return np.full(v.shape[1:], np.inf)
    if n % 2:
        return v[n // 2]
    a, b = v[n // 2 - 1], v[n // 2]
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(b), 0.5 * (a + b), a)


def published_metrics(histories: list[list[list[float]] | None], time_limit: float) -> PublishedMetrics:
    """The table's ``p, t_st, J_st, J_f`` of one (instance, planner) from its runs' cost histories
    (solutions found after ``time_limit`` do not count)."""
    kept = [[[t, c] for t, c in (h or ()) if t <= time_limit] for h in histories]
    if not kept:
        return PublishedMetrics(0.0, math.inf, math.nan, math.nan)
    p = sum(1 for h in kept if h) / len(kept)
    events = np.unique([t for h in kept for t, _ in h] + [float(time_limit)])
    med = median_with_inf(best_cost_matrix(kept, events))
    finite = np.flatnonzero(np.isfinite(med))
    if finite.size == 0:
        return PublishedMetrics(p, math.inf, math.nan, math.nan)
    i = int(finite[0])
    return PublishedMetrics(p, float(events[i]), float(med[i]), float(med[-1]))


_ROW = re.compile(r"^\|\s*(\S+)\s*·\s*(\S+)\s*\|(.*)\|\s*$")


def load_published(path: str | Path) -> dict[tuple[str, str], dict[str, PublishedMetrics]]:
    """The published table of ``PUBLISHED.md``: ``{(robot, instance): {method: PublishedMetrics}}``
    for the methods of its header (iDb-A*, RRT*+TO, SST*). Raises ``ValueError`` naming the file and
    line of a malformed row."""
    path = Path(path)
    out: dict[tuple[str, str], dict[str, PublishedMetrics]] = {}
    methods: list[str] | None = None
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("| robot") and methods is None:
            methods = [c.strip() for c in line.strip().strip("|").split("|")[1:]]
            continue
        m = _ROW.match(line)
        if not m or methods is None:
            continue
        cells = [c.strip() for c in m.group(3).split("|")]
        if len(cells) != len(methods):
            raise ValueError(f"{path}:{lineno}: expected {len(methods)} cells, got {len(cells)}")
        row = {}
        for method, cell in zip(methods, cells, strict=True):
            parts = [x.strip() for x in cell.split("/")]
            try:
                p, t, js, jf = (float(x) for x in parts)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: cell {cell!r} of {method} is not p / t_st / J_st / J_f") from None
            row[method] = PublishedMetrics(p, t, js, jf)
        out[(m.group(1), m.group(2))] = row
    if not out:
        raise ValueError(f"{path}: no result rows found")
    return out
