"""What every planner returns: :class:`PlanResult`, and its JSON form.

JSON schema (one object; ``states``/``controls`` are lists of lists at the ``dt`` resolution so that
anyone can re-simulate them)::

    success          bool      a path from the start into the goal region was found (and validated)
    planner          str       registry name of the planner
    seed             int       the seed of the run
    time_s           float     wall-clock planning time (s), validation excluded
    setup_s          float|null  building the planner before that (checkpoint load, ...; ditree.api.plan)
    iterations       int       planner iterations (batched expansions count once per batch)
    nodes            int       tree nodes at the end (1 = root only)
    dt               float     seconds between consecutive states
    states           [[6]]     T+1 states [x, y, yaw, v, D, delta] from the start to the path's end
    controls         [[2]]     T controls [dD, ddelta], control i takes state i to state i+1
    path_length_m    float     xy length of the path (m)
    path_duration_s  float     T * dt (s)
    validated        bool      re-simulated and collision-checked independently (planners.validate)
    reason           str       why it failed ("" on success)
    profile          {str: float}   seconds spent per phase (sampling, propagation, collision, nn, ...)
    counters         {str: int}     counts (policy_calls, ...)
    robot            str       robot name
    scenario, map    str|null  when known
    suite            str|null  benchmark suite of the scenario and map (envs.suites), when it came from one
    lower_bound_s    float|null  lower bound on path duration (envs.lower_bound, docs/benchmarks.md), when known
    duration_ratio   float|null  path_duration_s / lower_bound_s
    goal_distance    float|null  the last state's distance to the goal, in the goal's own measure
                                 (m for a disc, the robot metric for a state goal); null without a
                                 path or when not recorded (planners.validate.finalize records it)
    goal             {}|null   the goal region: {"kind": "disc", "center": [x, y], "radius": r} or
                               {"kind": "state", "state": [...], "tolerance": t, "weights": [...],
                               "angle_indices": [...]} (envs.goal; null when not recorded)
    extra            {}        planner-specific extras (e.g. cost history of anytime planners)
    tree             {"edges": [[[x, y], ...], ...]} | null   tree edges for plotting (optional)
    world            {}|null   the world when no map file names it: a BoxWorld's to_dict()
                               ({"kind": "boxworld", "name", "bounds": [xmin, ymin, xmax, ymax],
                               "boxes": [[cx, cy, sx, sy], ...], "circles": [[cx, cy, r], ...],
                               "cell_size"}; envs.box_world); null for grid maps (named by ``map``)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from envs.errors import DitreeInputError

SCHEMA_KEYS = (
    "success", "planner", "seed", "time_s", "iterations", "nodes", "dt", "states", "controls",
    "path_length_m", "path_duration_s", "validated", "reason", "profile",
)


def empty_path(robot) -> tuple[np.ndarray, np.ndarray]:
    """The ``(states (0, S), controls (0, C))`` of a result without a path, for ``robot``."""
    return np.zeros((0, robot.state_dim)), np.zeros((0, robot.control_dim))


def path_length(states: np.ndarray) -> float:
    """xy length (m) of a state sequence ``(T+1, >=2)``."""
    states = np.asarray(states)
    if len(states) < 2:
        return 0.0
    return float(np.sum(np.linalg.norm(np.diff(states[:, :2], axis=0), axis=1)))


@dataclass
class PlanResult:
    """The outcome of one planning run. ``states`` ``(T+1, 6)``, ``controls`` ``(T, 2)``."""

    success: bool
    planner: str
    seed: int | None
    time_s: float
    iterations: int = 0
    nodes: int = 0
    dt: float = 0.02
    states: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))
    controls: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    validated: bool = False
    reason: str = ""
    profile: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    robot: str = "car"
    scenario: str | None = None
    map: str | None = None
    suite: str | None = None
    """Benchmark suite (``envs.suites``) the scenario and map belong to; None for other maps."""
    extra: dict[str, Any] = field(default_factory=dict)
    lower_bound_s: float | None = None
    """Lower bound on any path's duration for this problem (envs.lower_bound), when known."""
    tree_edges: list[np.ndarray] | None = None
    goal_distance: float | None = None
    """The last state's distance to the goal region, in the goal's own measure (m for a disc)."""
    goal: dict[str, Any] | None = None
    """The goal region's ``to_dict()`` (``envs.goal``; :func:`envs.goal.goal_from_dict` reads it)."""
    world: dict[str, Any] | None = None
    """A BoxWorld's ``to_dict()`` (``envs.box_world``), so the result can be redrawn; None for grid maps."""
    setup_s: float | None = None
    """Seconds spent building the planner before ``time_s`` started (checkpoint load, ...): a user
    waits ``setup_s + time_s``. Set by ``ditree.api.plan``; None when not measured."""

    def __post_init__(self) -> None:
        self.states = _as_2d(self.states, 6)
        self.controls = _as_2d(self.controls, 2)
        if len(self.states) and len(self.controls) + 1 != len(self.states):
            raise ValueError(f"PlanResult: {len(self.states)} states need {len(self.states) - 1} controls, got {len(self.controls)}")

    @property
    def path_length_m(self) -> float:
        return path_length(self.states)

    @property
    def path_duration_s(self) -> float:
        return float(len(self.controls) * self.dt)

    @property
    def duration_ratio(self) -> float | None:
        """Path duration / lower bound (>= 1 for a real path); None without a path or a bound."""
        if not self.success or not self.lower_bound_s or not len(self.controls):
            return None
        return self.path_duration_s / self.lower_bound_s

    def summary(self) -> str:
        """One line for the CLI."""
        where = f" {self.scenario}" if self.scenario else ""
        if self.success:
            first = self.extra.get("first_time_s")
            anytime = first is not None and first < 0.99 * self.time_s  # kept improving after the first path
            solved = (f"planned {self.time_s:.2f} s (first path at {first:.2f} s)" if anytime
                      else f"solved in {self.time_s:.2f} s")
            return (
                f"{self.planner}{where}: {solved}, {self.nodes} nodes, "
                f"path {self.path_length_m:.1f} m / {self.path_duration_s:.2f} s"
                + (f" ({self.duration_ratio:.1f}x lower bound)" if self.duration_ratio else "")
                + f", validated={self.validated}"
            )
        return f"{self.planner}{where}: no path after {self.time_s:.2f} s ({self.reason or 'unknown'}), {self.nodes} nodes"

    # ------------------------------------------------------------------ JSON
    def to_dict(self, include_tree: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "success": bool(self.success),
            "planner": self.planner,
            "seed": None if self.seed is None else int(self.seed),
            "time_s": float(self.time_s),
            "iterations": int(self.iterations),
            "nodes": int(self.nodes),
            "dt": float(self.dt),
            "states": self.states.tolist(),
            "controls": self.controls.tolist(),
            "path_length_m": self.path_length_m,
            "path_duration_s": self.path_duration_s,
            "validated": bool(self.validated),
            "reason": self.reason,
            "profile": {k: float(v) for k, v in self.profile.items()},
            "counters": {k: int(v) for k, v in self.counters.items()},
            "robot": self.robot,
            "scenario": self.scenario,
            "map": self.map,
            "suite": self.suite,
            "extra": _jsonable(self.extra),
            "lower_bound_s": self.lower_bound_s,
            "duration_ratio": self.duration_ratio,
            "goal_distance": None if self.goal_distance is None else float(self.goal_distance),
            "goal": _jsonable(self.goal),
            "world": _jsonable(self.world),
            "setup_s": None if self.setup_s is None else float(self.setup_s),
            "tree": None,
        }
        if include_tree and self.tree_edges is not None:
            d["tree"] = {"edges": [np.round(np.asarray(e)[:, :2], 4).tolist() for e in self.tree_edges]}
        return d

    def to_json(self, path: str | Path | None = None, include_tree: bool = False) -> str:
        text = json.dumps(self.to_dict(include_tree), indent=None)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        return text

    def to_dynobench(self, path: str | Path, instance: Any = None, goal_tol: float = 0.03) -> Path:
        """Write the path as a dynobench solution YAML (``envs.dynobench.write_solution``): the states
        and controls as they are (one control per ``dt``, which must be the robot's), the feasibility
        fields from the independent checker when the ``instance`` (``envs.dynobench.DynobenchInstance``)
        is given. A result without a path is a ``DitreeInputError``."""
        from envs.dynobench import write_solution
        from envs.registry import make_robot

        if not self.success or len(self.states) == 0:
            raise DitreeInputError(f"{self.planner}: no path to write as a dynobench solution ({self.reason or 'failed'})")
        robot_dt = make_robot(self.robot).dt
        if abs(self.dt - robot_dt) > 1e-12:
            raise DitreeInputError(f"{self.planner}: result dt {self.dt} is not robot {self.robot}'s dt {robot_dt}")
        return write_solution(path, self.robot, self.states, self.controls, instance=instance, goal_tol=goal_tol,
                              info=f"robot={self.robot};planner={self.planner};seed={self.seed};time_s={self.time_s:.6g}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "result") -> PlanResult:
        missing = [k for k in SCHEMA_KEYS if k not in d]
        if missing:
            raise DitreeInputError(f"{source}: missing key(s) {missing} in plan result")
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        tree = d.get("tree")
        kw["tree_edges"] = [np.asarray(e, dtype=float) for e in tree["edges"]] if tree else None
        try:
            return cls(**kw)
        except (TypeError, ValueError) as e:
            raise DitreeInputError(f"{source}: {e}") from None

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> PlanResult:
        """Parse a JSON string, or read a file if given a path."""
        source = "result"
        text = str(text_or_path)
        if isinstance(text_or_path, Path) or not text.lstrip().startswith("{"):
            p = Path(text_or_path)
            if not p.is_file():
                raise DitreeInputError(f"result file not found: {p}")
            source, text = str(p), p.read_text()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DitreeInputError(f"{source}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise DitreeInputError(f"{source}: expected a JSON object")
        return cls.from_dict(d, source)


def _as_2d(a: Any, width: int) -> np.ndarray:
    """An ``(N, k)`` float array; an empty input becomes ``(0, width)``."""
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return np.zeros((0, a.shape[-1] if a.ndim == 2 else width))
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    return a


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    return x
