"""Goal regions: where a path must end, in the measure the goal is given in.

Two kinds share one small protocol (:class:`GoalRegion`):

- :class:`DiscGoal`: the footprint centre within ``radius`` (m) of a position ``(2,)``; what the
  DiTree car scenarios use (radius 0.5 m).
- :class:`StateGoal`: a full goal state ``(S,)`` and a tolerance in a weighted, angle-aware state
  distance that the robot defines (:func:`state_distance`)::

      d(x, g) = w0 * |x[:2] - g[:2]| + sum_{i >= 2} w_{i-1} * |x_i - g_i|

  where angle components (the robot's ``angle_indices``) are differenced modulo 2 pi (wrapped to
  [-pi, pi)), and ``weights = (w0, w1, ...)`` is the robot's ``distance_weights``: one weight for
  the planar position norm, then one per state component from index 2 on (0 = ignored). E.g. the
  DiTree car's (1, 0.5, 0.25, 0, 0) on (|dp|, |dyaw|, |dv|, |dD|, |ddelta|). Velocities can carry
  weight, so a goal state at rest asks the robot to arrive (nearly) at rest.

Every region answers ``distance(states) -> (...)`` (metres for a disc, the robot metric for a
state goal), ``reached(states) -> bool (...)`` (distance within ``tolerance``, inclusive),
``position`` ``(2,)`` (what random targets and the policy aim at), ``tolerance``,
``position_radius`` (no state farther than this from ``position`` in xy is in the region: used by
lower bounds and drawings) and ``to_dict()`` / :func:`goal_from_dict` for JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.errors import DitreeInputError

__all__ = ["DiscGoal", "GoalRegion", "StateGoal", "goal_from_dict", "state_distance", "weighted_distance"]


def weighted_distance(
    states: np.ndarray, goal_state: np.ndarray, weights: tuple[float, ...] | np.ndarray, angle_indices: tuple[int, ...]
) -> np.ndarray:
    """Weighted, angle-aware distance of states ``(..., S)`` to ``goal_state`` ``(S,)`` -> ``(...)``.

    ``weights`` ``(S-1,)``: the first for the xy norm (m), then one per component 2..S-1 (applied to
    the absolute difference); components in ``angle_indices`` are differenced modulo 2 pi.
    Components whose weight is 0 are skipped (a NaN there does not matter).
    """
    states = np.asarray(states, dtype=float)
    g = np.asarray(goal_state, dtype=float)
    w = np.asarray(weights, dtype=float)
    d = w[0] * np.linalg.norm(states[..., :2] - g[:2], axis=-1)
    idx = np.flatnonzero(w[1:]) + 2
    if len(idx):
        diff = states[..., idx] - g[idx]
        ang = np.isin(idx, angle_indices)
        if ang.any():
            diff[..., ang] = (diff[..., ang] + math.pi) % (2 * math.pi) - math.pi
        d = d + np.abs(diff) @ w[idx - 1]
    return d


def state_distance(robot: Any, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
    """The robot's own distance (its ``distance_weights`` and ``angle_indices``) of states
    ``(..., S)`` to ``goal_state`` ``(S,)`` -> ``(...)``; see :func:`weighted_distance`."""
    return weighted_distance(states, goal_state, robot.distance_weights, robot.angle_indices)


@runtime_checkable
class GoalRegion(Protocol):
    """What planners, the validator and results need of a goal (see module docstring)."""

    kind: str
    """``"disc"`` or ``"state"``."""

    @property
    def position(self) -> np.ndarray:
        """``(2,)`` goal position (m): what random targets and the policy aim at."""
        ...

    @property
    def tolerance(self) -> float:
        """Largest :meth:`distance` that counts as reached."""
        ...

    @property
    def position_radius(self) -> float:
        """Every state in the region lies within this xy distance (m) of :attr:`position`."""
        ...

    def distance(self, states: np.ndarray) -> np.ndarray:
        """States ``(..., S)`` -> distance to the goal ``(...)``, in the goal's own measure."""
        ...

    def reached(self, states: np.ndarray) -> np.ndarray:
        """States ``(..., S)`` -> ``(...)`` bool: within :attr:`tolerance` of the goal."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``kind`` plus the region's numbers)."""
        ...


@dataclass(frozen=True, eq=False)
class DiscGoal:
    """The footprint centre within ``radius`` (m) of ``center`` ``(2,)`` (m)."""

    center: np.ndarray
    radius: float = 0.5
    kind: str = field(default="disc", init=False)

    def __post_init__(self) -> None:
        c = np.asarray(self.center, dtype=float).reshape(-1)
        if c.shape != (2,) or not np.isfinite(c).all():
            raise ValueError(f"DiscGoal.center must be a finite (x, y), got {np.asarray(self.center).tolist()}")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "radius", _positive(self.radius, "DiscGoal.radius"))

    @property
    def position(self) -> np.ndarray:
        return self.center

    @property
    def tolerance(self) -> float:
        return self.radius

    @property
    def position_radius(self) -> float:
        return self.radius

    def distance(self, states: np.ndarray) -> np.ndarray:
        """xy distance (m) of states ``(..., S)`` to the centre."""
        return np.linalg.norm(np.asarray(states, dtype=float)[..., :2] - self.center, axis=-1)

    def reached(self, states: np.ndarray) -> np.ndarray:
        # squared distances: the planners' hot path, and bit for bit the test they always made
        states = np.asarray(states)
        return np.sum((states[..., :2] - self.center) ** 2, axis=-1) <= self.radius**2

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "disc", "center": self.center.tolist(), "radius": self.radius}

    def __repr__(self) -> str:
        return f"DiscGoal(center={self.center.tolist()}, radius={self.radius})"


@dataclass(frozen=True, eq=False)
class StateGoal:
    """A goal state ``(S,)`` and a ``tolerance`` in the weighted, angle-aware distance given by
    ``weights`` ``(S-1,)`` and ``angle_indices`` (see :func:`weighted_distance`). Build one for a
    robot with :meth:`for_robot` (its ``distance_weights`` and ``angle_indices``)."""

    state: np.ndarray
    tolerance: float
    weights: tuple[float, ...]
    angle_indices: tuple[int, ...] = (2,)
    kind: str = field(default="state", init=False)

    def __post_init__(self) -> None:
        s = np.asarray(self.state, dtype=float).reshape(-1)
        w = tuple(float(v) for v in np.asarray(self.weights, dtype=float).reshape(-1))
        a = tuple(int(i) for i in self.angle_indices)
        if len(s) < 3 or not np.isfinite(s).all():
            raise ValueError(f"StateGoal.state must be a finite state of at least 3 entries, got {s.tolist()}")
        if len(w) != len(s) - 1:
            raise ValueError(
                f"StateGoal.weights must have {len(s) - 1} entries (xy norm, then state components 2..{len(s) - 1}), "
                f"got {len(w)}"
            )
        if not all(math.isfinite(v) and v >= 0 for v in w) or not w[0] > 0:
            raise ValueError(f"StateGoal.weights must be finite and >= 0 with a positive position weight, got {list(w)}")
        if any(not 2 <= i < len(s) for i in a):
            raise ValueError(f"StateGoal.angle_indices must lie in 2..{len(s) - 1}, got {list(a)}")
        object.__setattr__(self, "state", s)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "angle_indices", a)
        object.__setattr__(self, "tolerance", _positive(self.tolerance, "StateGoal.tolerance"))
        object.__setattr__(self, "_w", np.asarray(w))

    @classmethod
    def for_robot(cls, robot: Any, state: np.ndarray, tolerance: float,
                  weights: tuple[float, ...] | None = None) -> StateGoal:
        """A state goal in ``robot``'s metric (``weights`` overrides its ``distance_weights``)."""
        return cls(state, tolerance, robot.distance_weights if weights is None else weights, robot.angle_indices)

    @property
    def position(self) -> np.ndarray:
        return self.state[:2]

    @property
    def position_radius(self) -> float:
        return self.tolerance / self.weights[0]

    def distance(self, states: np.ndarray) -> np.ndarray:
        """Weighted distance of states ``(..., S)`` to :attr:`state` (the robot metric)."""
        return weighted_distance(states, self.state, self._w, self.angle_indices)  # type: ignore[attr-defined]

    def reached(self, states: np.ndarray) -> np.ndarray:
        return self.distance(states) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "state", "state": self.state.tolist(), "tolerance": self.tolerance,
                "weights": list(self.weights), "angle_indices": list(self.angle_indices)}

    def __repr__(self) -> str:
        return (f"StateGoal(state={self.state.tolist()}, tolerance={self.tolerance}, weights={list(self.weights)}, "
                f"angle_indices={list(self.angle_indices)})")


def _positive(value: Any, what: str) -> float:
    """``value`` as a positive, finite float; ``ValueError`` naming ``what`` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return v


def goal_from_dict(d: dict[str, Any], source: str = "goal") -> DiscGoal | StateGoal:
    """Inverse of ``to_dict`` of either region; raises :class:`DitreeInputError` naming ``source``."""
    if not isinstance(d, dict):
        raise DitreeInputError(f"{source}: a goal must be a JSON object, got {type(d).__name__}")
    kind = d.get("kind")
    try:
        if kind == "disc":
            return DiscGoal(d["center"], d["radius"])
        if kind == "state":
            return StateGoal(d["state"], d["tolerance"], d["weights"], d.get("angle_indices", (2,)))
    except KeyError as e:
        raise DitreeInputError(f"{source}: {kind} goal without {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise DitreeInputError(f"{source}: {e}") from None
    raise DitreeInputError(f"{source}: goal kind must be 'disc' or 'state', got {kind!r}")
