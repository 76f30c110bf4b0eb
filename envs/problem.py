"""Planning problems and the DiTree scenario files (docs/maps.md).

Scenario CSV columns: ``scenario_name,maze_name,start_row,start_col,start_deg,goal_row,goal_col``;
the map is ``<maps dir>/<maze_name>.csv``. The paper's scenario files are the ``ditree_car`` suite
of the benchmark data directory (:mod:`envs.suites`): :func:`suite_problem`, :func:`test_problem`. The start state is the start cell's centre with the given
heading (degrees, 0 = +x, 90 = +y) at rest; the goal is the goal cell's centre.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from envs.car import Car
from envs.collision import AnalyticCollisionChecker, robot_collides
from envs.errors import ScenarioError
from envs.goal import DiscGoal, GoalRegion, StateGoal
from envs.suites import get_suite, suite_maps_dir, suite_scenarios
from envs.world import GridMap, World

if TYPE_CHECKING:
    from envs.robot import Robot

SCENARIO_COLUMNS = ("scenario_name", "maze_name", "start_row", "start_col", "start_deg", "goal_row", "goal_col")

DEFAULT_SUITE = "ditree_car"
"""The suite whose maps a scenario file's maps default to."""


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
    """A planning query: robot, world, start state ``(S,)`` and a goal region (``envs.goal``).

    The goal is given either as a position ``goal`` ``(2,)`` (m) with ``goal_radius`` (m): the
    disc goal of the DiTree scenarios; or as a region object passed as ``goal``: a
    :class:`~envs.goal.DiscGoal` or a :class:`~envs.goal.StateGoal` (a full goal state and a
    tolerance in the robot's metric, e.g. ``StateGoal.for_robot(robot, state, 0.3)``). Either way:

    - ``goal_region`` decides success (planners, validator, results);
    - ``goal`` is the goal *position* ``(2,)`` (what targets, the policy and drawings aim at) and
      ``goal_radius`` the region's ``position_radius`` (for a state goal: tolerance / position
      weight, a disc containing every goal state's position; lower bounds use it).

    :meth:`with_goal` swaps the goal region. ``dataclasses.replace`` keeps working: a region passed
    as ``goal`` wins; for a disc problem, ``goal`` and ``goal_radius`` define the disc; for a state
    goal, a ``goal`` position must be the goal state's. The start must be collision-free; a disc
    goal's centre must be free; a state goal must match the robot (shape, angle components in
    [-pi, pi], the robot's angle indices) and its footprint must be collision-free
    (:class:`ScenarioError` naming the problem otherwise).
    """

    robot: Robot
    world: World
    start: np.ndarray
    goal: np.ndarray
    goal_radius: float = 0.5
    name: str = "problem"
    meta: dict = field(default_factory=dict)
    goal_region: GoalRegion | None = None

    def __post_init__(self) -> None:
        start = np.asarray(self.start, dtype=float).reshape(-1)
        if start.shape != (self.robot.state_dim,):
            raise ValueError(f"{self.name}: start must have {self.robot.state_dim} entries, got {start.shape}")
        region = self._region()
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "goal_region", region)
        object.__setattr__(self, "goal", region.position)
        object.__setattr__(self, "goal_radius", region.position_radius)
        checker = AnalyticCollisionChecker(self.world, self.robot.bodies)
        contains = getattr(self.world, "contains_reference", None)  # a BoxWorld's bounds
        if contains is not None and not contains(start[:2]):
            raise ScenarioError(f"{self.name}: the start position {start[:2].round(3).tolist()} is outside the "
                                f"world's bounds {list(self.world.bounds)} (xmin, ymin, xmax, ymax)")
        if robot_collides(self.robot, checker, start[None])[0]:  # every body
            raise ScenarioError(f"{self.name}: the start pose {start[:3].round(3).tolist()} is in collision")
        goal = region.position
        if not self.world.is_free_point(goal)[()]:
            raise ScenarioError(f"{self.name}: the goal {goal.round(3).tolist()} lies in a wall or outside the map")
        if isinstance(region, StateGoal):
            self._check_state_goal(region, checker)

    def _region(self) -> GoalRegion:
        """The goal region the constructor arguments describe (see the class docstring)."""
        if isinstance(self.goal, (DiscGoal, StateGoal)):
            return self.goal
        goal = np.asarray(self.goal, dtype=float).reshape(-1)
        if goal.shape != (2,):
            raise ValueError(f"{self.name}: goal must be (x, y) or a goal region (envs.goal), got {goal.shape}")
        if isinstance(self.goal_region, StateGoal):
            if not np.array_equal(goal, self.goal_region.position):
                raise ValueError(f"{self.name}: goal {goal.tolist()} is not the position of the state goal "
                                 f"{self.goal_region.position.tolist()}; pass the new region as goal (Problem.with_goal)")
            return self.goal_region
        if not self.goal_radius > 0:
            raise ValueError(f"{self.name}: goal_radius must be positive, got {self.goal_radius}")
        return DiscGoal(goal, self.goal_radius)

    def _check_state_goal(self, region: StateGoal, checker: AnalyticCollisionChecker) -> None:
        robot, g = self.robot, region.state
        if g.shape != (robot.state_dim,):
            raise ScenarioError(f"{self.name}: the goal state must have the {robot.name}'s {robot.state_dim} entries "
                                f"({', '.join(robot.state_names)}), got {len(g)}")
        if tuple(region.angle_indices) != tuple(robot.angle_indices):
            raise ScenarioError(f"{self.name}: the goal's angle indices {list(region.angle_indices)} are not the "
                                f"{robot.name}'s {list(robot.angle_indices)}")
        for i in robot.angle_indices:
            if not -math.pi <= g[i] <= math.pi:
                raise ScenarioError(f"{self.name}: goal state {robot.state_names[i]} = {g[i]:g} rad is not in "
                                    "[-pi, pi] (angles wrap)")
        if robot_collides(robot, checker, g[None])[0]:  # every body
            raise ScenarioError(f"{self.name}: the goal pose {g[:3].round(3).tolist()} is in collision")

    def with_goal(self, goal: GoalRegion) -> Problem:
        """This problem with another goal region (a :class:`~envs.goal.DiscGoal` or
        :class:`~envs.goal.StateGoal`); validated like the constructor's. ``meta`` is copied, without
        a ``goal_cell`` that no longer holds the goal."""
        meta = dict(self.meta)
        cell = meta.get("goal_cell")
        if cell is not None and tuple(self.world.xy_to_cell(goal.position).tolist()) != tuple(cell):
            del meta["goal_cell"]
        return replace(self, goal=goal, goal_region=None, meta=meta)

    @classmethod
    def from_dynobench(cls, path: str | Path, goal_tol: float = 0.03) -> Problem:
        """The problem of a dynobench instance file (``envs/<robot>/<instance>.yaml``): its robot, a
        :class:`~envs.box_world.BoxWorld`, its start, and its goal state within ``goal_tol`` in the
        robot's metric (0.03, the benchmark's acceptance). Bad files are one-line errors naming the
        file and the field (:class:`~envs.errors.DynobenchFormatError`)."""
        from envs.dynobench import instance_problem, load_instance

        return instance_problem(load_instance(path), goal_tol)

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
    maps_dir: str | Path | None = None,
    *,
    robot: Robot | None = None,
    cell_size: float | None = None,
    goal_radius: float | None = None,
) -> Problem:
    """The :class:`Problem` of a scenario row, loading ``<maps_dir>/<map_name>.csv``
    (``maps_dir`` defaults to the ``ditree_car`` suite's maps in the data directory).

    ``cell_size`` (m) and ``goal_radius`` (m) default to the robot's registered ``map_cell_size``
    (1 m for the car, whose maps these are; 2 m for the larger racecar) and ``goal_tolerance``
    (``envs.registry``; 0.5 m for both).
    """
    if cell_size is None or goal_radius is None:
        from envs.registry import robot_spec

        spec = robot_spec(robot.name if robot is not None else "car")
        cell_size = float(spec.map_cell_size) if cell_size is None else cell_size
        goal_radius = float(spec.goal_tolerance) if goal_radius is None else goal_radius
    if maps_dir is None:
        maps_dir = suite_maps_dir(DEFAULT_SUITE)
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


def suite_scenario_list(suite: str = DEFAULT_SUITE, split: str | None = None,
                        data_dir: str | Path | None = None) -> list[Scenario]:
    """The scenarios of ``split`` of ``suite`` (every split, in order, when ``split`` is None)."""
    splits = [split] if split is not None else list(get_suite(suite).splits)
    return [s for sp in splits for s in load_scenarios(suite_scenarios(suite, sp, data_dir))]


def suite_problem(
    scenario: str,
    suite: str = DEFAULT_SUITE,
    *,
    split: str | None = None,
    data_dir: str | Path | None = None,
    **kw,
) -> Problem:
    """The problem of scenario ``scenario`` of a benchmark suite (any split unless ``split`` is given),
    with its maps from the suite. ``meta["suite"]`` names the suite. ``kw``: :func:`problem_from_scenario`.
    Raises :class:`~envs.errors.DataDirError` when the suite is missing (one line: what to set).

    A suite of instance files (``dynobench``) names its problems ``ROBOT/INSTANCE`` (e.g.
    ``car1_v0/bugtrap_0``); ``kw`` may then give ``goal_tol``."""
    if get_suite(suite).instances is not None:
        from envs.dynobench import instance_problem, load_instance, suite_instance_path

        p = instance_problem(load_instance(suite_instance_path(scenario, data_dir)), **kw)
        p.meta["suite"] = suite
        return p
    scenarios = suite_scenario_list(suite, split, data_dir)
    where = f"suite {suite}" + (f" ({split})" if split else "")
    p = problem_from_scenario(find_scenario(scenarios, scenario, where), suite_maps_dir(suite, data_dir), **kw)
    p.meta["suite"] = suite
    return p


def validation_problem(name: str = "val_maze_small", **kw) -> Problem:
    """One of the paper's 3 validation scenarios (suite ``ditree_car``, split ``validation``)."""
    return suite_problem(name, DEFAULT_SUITE, split="validation", **kw)


def test_problem(name: str, **kw) -> Problem:
    """One of the paper's 15 test scenarios (suite ``ditree_car``, split ``test``)."""
    return suite_problem(name, DEFAULT_SUITE, split="test", **kw)


test_problem.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
