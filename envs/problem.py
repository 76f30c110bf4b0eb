"""Planning problems and the DiTree scenario files (docs/maps.md).

Scenario CSV columns: ``scenario_name,maze_name,start_row,start_col,start_deg,goal_row,goal_col``;
the map is ``<maps dir>/<maze_name>.csv``. The start state is the start cell's centre with the given
heading (degrees, 0 = +x, 90 = +y) at rest; the goal is the goal cell's centre.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from envs.car import Car
from envs.collision import AnalyticCollisionChecker
from envs.errors import ScenarioError
from envs.world import GridMap

if TYPE_CHECKING:
    from envs.robot import Robot

SCENARIO_COLUMNS = ("scenario_name", "maze_name", "start_row", "start_col", "start_deg", "goal_row", "goal_col")

BENCHMARK_DIR = Path(__file__).resolve().parent / "benchmarks" / "ditree_car"
"""The paper's maps and scenarios, shipped with the package."""
MAPS_DIR = BENCHMARK_DIR / "maps"
TEST_SCENARIOS = BENCHMARK_DIR / "test_scenarios.csv"
VALIDATION_SCENARIOS = BENCHMARK_DIR / "validation_scenarios.csv"


@dataclass(frozen=True)
class Scenario:
    """One row of a scenario file."""

    name: str
    map_name: str
    start_row: int
    start_col: int
    start_deg: float
    goal_row: int
    goal_col: int


@dataclass(frozen=True, eq=False)
class Problem:
    """A planning query: robot, world, start state ``(6,)``, goal position ``(2,)`` (m), goal radius (m)."""

    robot: Robot
    world: GridMap
    start: np.ndarray
    goal: np.ndarray
    goal_radius: float = 0.5
    name: str = "problem"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        start = np.asarray(self.start, dtype=float).reshape(-1)
        goal = np.asarray(self.goal, dtype=float).reshape(-1)
        if start.shape != (self.robot.state_dim,):
            raise ValueError(f"{self.name}: start must have {self.robot.state_dim} entries, got {start.shape}")
        if goal.shape != (2,):
            raise ValueError(f"{self.name}: goal must be (x, y), got {goal.shape}")
        if not self.goal_radius > 0:
            raise ValueError(f"{self.name}: goal_radius must be positive, got {self.goal_radius}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "goal", goal)
        checker = AnalyticCollisionChecker(self.world, self.robot.footprint)
        if checker.collides(start[None, :3])[0]:
            raise ScenarioError(f"{self.name}: the start pose {start[:3].round(3).tolist()} is in collision")
        if not self.world.is_free_point(goal)[()]:
            raise ScenarioError(f"{self.name}: the goal {goal.round(3).tolist()} lies in a wall or outside the map")

    @classmethod
    def from_cells(
        cls,
        world: GridMap,
        start_cell: tuple[int, int],
        start_deg: float,
        goal_cell: tuple[int, int],
        *,
        robot: Robot | None = None,
        goal_radius: float = 0.5,
        name: str = "problem",
    ) -> Problem:
        """Build a problem from grid cells; raises :class:`ScenarioError` naming a bad cell."""
        robot = robot or Car()
        where = f"map {world.name!r}" + (f" ({world.source})" if world.source else "")
        for what, (r, c) in (("start", start_cell), ("goal", goal_cell)):
            if not world.in_bounds(r, c):
                raise ScenarioError(
                    f"{name}: {what} cell (row {r}, col {c}) is outside the {world.shape[0]}x{world.shape[1]} {where}"
                )
            if world.is_wall_cell(r, c):
                raise ScenarioError(f"{name}: {what} cell (row {r}, col {c}) is a wall in {where}")
        sx, sy = world.cell_to_xy(*start_cell)
        start = robot.rest_state(float(sx), float(sy), math.radians(start_deg))
        goal = world.cell_to_xy(*goal_cell)
        meta = {"start_cell": list(start_cell), "start_deg": start_deg, "goal_cell": list(goal_cell), "map": world.name}
        return cls(robot, world, start, goal, goal_radius, name, meta)

    @property
    def start_cell(self) -> tuple[int, int]:
        r, c = self.world.xy_to_cell(self.start[:2])
        return int(r), int(c)

    @property
    def goal_cell(self) -> tuple[int, int]:
        r, c = self.world.xy_to_cell(self.goal)
        return int(r), int(c)


def _parse_int(path: Path, lineno: int, column: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ScenarioError(f"{path}:{lineno}: column {column!r} must be an integer, got {value!r}") from None


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Read a scenario CSV; raises :class:`ScenarioError` naming the file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"scenario file not found: {path}")
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines()
    if not any(l.strip() for l in lines):
        raise ScenarioError(f"{path}: the scenario file is empty")
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader)]
    missing = [c for c in SCENARIO_COLUMNS if c not in header]
    if missing:
        raise ScenarioError(f"{path}:1: missing column(s) {missing}; expected {list(SCENARIO_COLUMNS)}")
    idx = {c: header.index(c) for c in SCENARIO_COLUMNS}
    out: list[Scenario] = []
    for lineno, row in enumerate(reader, start=2):
        if not row or not any(f.strip() for f in row):
            continue
        if len(row) < len(header):
            raise ScenarioError(f"{path}:{lineno}: expected {len(header)} fields, got {len(row)}")
        fields = {c: row[idx[c]] for c in SCENARIO_COLUMNS}
        get = fields.__getitem__
        try:
            deg = float(get("start_deg").strip())
        except ValueError:
            raise ScenarioError(f"{path}:{lineno}: column 'start_deg' must be a number, got {get('start_deg')!r}") from None
        out.append(
            Scenario(
                name=get("scenario_name").strip(),
                map_name=get("maze_name").strip(),
                start_row=_parse_int(path, lineno, "start_row", get("start_row")),
                start_col=_parse_int(path, lineno, "start_col", get("start_col")),
                start_deg=deg,
                goal_row=_parse_int(path, lineno, "goal_row", get("goal_row")),
                goal_col=_parse_int(path, lineno, "goal_col", get("goal_col")),
            )
        )
    if not out:
        raise ScenarioError(f"{path}: no scenarios (only a header)")
    return out


def find_scenario(scenarios: list[Scenario], name: str, source: str = "scenario file") -> Scenario:
    for s in scenarios:
        if s.name == name:
            return s
    raise ScenarioError(f"{source}: no scenario named {name!r}; known: {[s.name for s in scenarios]}")


def problem_from_scenario(
    scenario: Scenario,
    maps_dir: str | Path = MAPS_DIR,
    *,
    robot: Robot | None = None,
    cell_size: float | None = None,
    goal_radius: float = 0.5,
) -> Problem:
    """The :class:`Problem` of a scenario row, loading ``<maps_dir>/<map_name>.csv``.

    ``cell_size`` (m) defaults to the robot's ``map_cell_size`` (1 m for the car, whose maps these
    are; 2 m for the larger racecar) or 1 m.
    """
    if cell_size is None:
        cell_size = float(getattr(robot, "map_cell_size", 1.0))
    world = GridMap.from_csv(Path(maps_dir) / f"{scenario.map_name}.csv", cell_size=cell_size)
    p = Problem.from_cells(
        world,
        (scenario.start_row, scenario.start_col),
        scenario.start_deg,
        (scenario.goal_row, scenario.goal_col),
        robot=robot,
        goal_radius=goal_radius,
        name=scenario.name,
    )
    p.meta["scenario"] = scenario.name
    return p


def load_problem(scenarios_csv: str | Path, name: str, maps_dir: str | Path | None = None, **kw) -> Problem:
    """Convenience: the problem of scenario ``name`` in ``scenarios_csv`` (maps next to it by default)."""
    scenarios_csv = Path(scenarios_csv)
    maps_dir = Path(maps_dir) if maps_dir is not None else scenarios_csv.parent / "maps"
    return problem_from_scenario(find_scenario(load_scenarios(scenarios_csv), name, str(scenarios_csv)), maps_dir, **kw)


def validation_problem(name: str = "val_maze_small", **kw) -> Problem:
    """One of the paper's 3 validation scenarios, from the shipped benchmark data."""
    return load_problem(VALIDATION_SCENARIOS, name, MAPS_DIR, **kw)


def test_problem(name: str, **kw) -> Problem:
    """One of the paper's 15 test scenarios, from the shipped benchmark data."""
    return load_problem(TEST_SCENARIOS, name, MAPS_DIR, **kw)


test_problem.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
