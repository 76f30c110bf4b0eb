"""dynobench's file formats: problem instances and solutions (docs/robots.md; the ``dynobench`` suite of
the data directory holds the benchmark's files and a README describing them).

An instance (``envs/<robot>/<instance>.yaml``)::

    name: <string>                       # optional
    environment:
      min: [xmin, ymin]                  # bounds on the robot's reference point
      max: [xmax, ymax]
      obstacles:                         # axis-aligned boxes (full side lengths) and circles
        - {type: box, center: [cx, cy], size: [sx, sy]}
        - {type: sphere, center: [cx, cy], size: [r]}
    robots:
      - {type: <registered robot>, start: [...], goal: [...]}   # full states

A solution: header fields (``cost`` = N * dt, ``feasible`` and the ``*_feas`` flags, ``start``,
``goal``, ``goal_distance``, ...), ``num_states`` and ``states`` (N+1 rows), ``num_actions`` and
``actions`` (N rows), one action per ``dt`` of the robot's model.

Every malformed file is a one-line :class:`~envs.errors.DynobenchFormatError` naming the file and
the field (``environment.obstacles[2].size``, ``states[17]``, ...).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.errors import DynobenchFormatError

__all__ = ["DynobenchInstance", "DynobenchSolution", "load_instance", "load_solution", "write_solution"]

FEASIBILITY_KEYS = ("feasible", "traj_feas", "goal_feas", "start_feas", "col_feas", "x_bounds_feas", "u_bounds_feas")
"""The solution header's 0/1 flags, in dynobench's order."""


@dataclass(frozen=True, eq=False)
class DynobenchInstance:
    """One single-robot dynobench problem.

    ``environment`` is the file's raw ``environment`` mapping (for ``BoxWorld.from_dynobench_environment``);
    ``env_min`` / ``env_max`` ``(2,)`` bound the reference point (m); ``boxes`` ``(N, 4)`` = [cx, cy, sx, sy]
    (full sides, m) and ``circles`` ``(M, 3)`` = [cx, cy, r] are its obstacles, in file order (the
    obstacle index ``i`` of a message is boxes first, then circles); ``start`` and ``goal`` ``(S,)``.
    """

    name: str
    robot: str
    environment: dict[str, Any]
    env_min: np.ndarray
    env_max: np.ndarray
    boxes: np.ndarray
    circles: np.ndarray
    start: np.ndarray
    goal: np.ndarray
    source: str
    obstacle_fields: tuple[str, ...] = ()
    """The file field of each obstacle (boxes first, then circles), e.g. ``environment.obstacles[3]``."""


@dataclass(frozen=True, eq=False)
class DynobenchSolution:
    """A solution file: ``states`` ``(N+1, S)``, ``actions`` ``(N, C)``, ``cost`` (s; None when absent),
    ``header``: every other top-level field as read (flags, distances, ``info``...)."""

    states: np.ndarray
    actions: np.ndarray
    cost: float | None
    header: dict[str, Any] = field(default_factory=dict)
    source: str = "solution"

    @property
    def feasible(self) -> bool | None:
        """The file's own ``feasible`` flag (None when absent)."""
        f = self.header.get("feasible")
        return None if f is None else bool(f)


# ---------------------------------------------------------------------------------------- reading
def _read_yaml(path: str | Path, what: str) -> tuple[dict[str, Any], str]:
    import yaml

    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise DynobenchFormatError(f"{src}: {what} file not found")
    text = p.read_text()
    if not text.strip():
        raise DynobenchFormatError(f"{src}: empty {what} file")
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise DynobenchFormatError(f"{src}: not valid YAML{where} ({problem}; truncated file?)") from None
    if not isinstance(d, dict):
        raise DynobenchFormatError(f"{src}: expected a mapping of fields at the top level, got {type(d).__name__}")
    return d, src


def _get(d: dict[str, Any], key: str, src: str, where: str = "") -> Any:
    if not isinstance(d, dict):
        raise DynobenchFormatError(f"{src}: {where or 'top level'} must be a mapping, got {d!r:.60}")
    if key not in d or d[key] is None:
        raise DynobenchFormatError(f"{src}: missing field {where + '.' if where else ''}{key}")
    return d[key]


def _numbers(value: Any, src: str, name: str, length: int | None = None) -> np.ndarray:
    """A flat list of finite numbers (``length`` of them when given) -> ``(length,)``."""
    if not isinstance(value, (list, tuple)):
        raise DynobenchFormatError(f"{src}: {name} must be a list of numbers, got {value!r:.60}")
    bad = [v for v in value if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise DynobenchFormatError(f"{src}: {name} holds a non-number {bad[0]!r:.40}")
    a = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(a)):
        raise DynobenchFormatError(f"{src}: {name} holds a non-finite number {a.tolist()}")
    if length is not None and len(a) != length:
        raise DynobenchFormatError(f"{src}: {name} must have {length} numbers, got {len(a)}")
    return a


def _rows(value: Any, src: str, name: str, width: int | None) -> np.ndarray:
    """A list of rows of ``width`` numbers (the first row's width when None) -> ``(N, width)``."""
    if not isinstance(value, (list, tuple)):
        raise DynobenchFormatError(f"{src}: {name} must be a list of rows, got {value!r:.60}")
    if width is None and value:
        width = len(value[0]) if isinstance(value[0], (list, tuple)) else None
    rows = [_numbers(r, src, f"{name}[{i}]", width) for i, r in enumerate(value)]
    return np.asarray(rows, dtype=float).reshape(len(rows), width or 0)


def _robot(type_name: Any, src: str):
    from envs.registry import make_robot, registered_robots

    if not isinstance(type_name, str) or type_name not in registered_robots():
        raise DynobenchFormatError(f"{src}: robots[0].type: unknown robot {type_name!r}; registered robots: "
                                   f"{', '.join(registered_robots())}")
    return make_robot(type_name)


def load_instance(path: str | Path, check_collision: bool = True) -> DynobenchInstance:
    """Read a dynobench instance file. With ``check_collision``, a start or goal whose footprint
    penetrates an obstacle is an error (``envs.penetration``)."""
    d, src = _read_yaml(path, "instance")
    env = _get(d, "environment", src)
    env_min = _numbers(_get(env, "min", src, "environment"), src, "environment.min", 2)
    env_max = _numbers(_get(env, "max", src, "environment"), src, "environment.max", 2)
    if not np.all(env_min < env_max):
        raise DynobenchFormatError(f"{src}: environment.min {env_min.tolist()} must be below environment.max "
                                   f"{env_max.tolist()}")
    obstacles = env.get("obstacles") or []
    if not isinstance(obstacles, list):
        raise DynobenchFormatError(f"{src}: environment.obstacles must be a list, got {obstacles!r:.60}")
    boxes, circles, box_fields, circle_fields = [], [], [], []
    for i, ob in enumerate(obstacles):
        where = f"environment.obstacles[{i}]"
        kind = _get(ob, "type", src, where)
        center = _numbers(_get(ob, "center", src, where), src, f"{where}.center", 2)
        size = _get(ob, "size", src, where)
        if kind == "box":
            s = _numbers(size, src, f"{where}.size", 2)
            if not np.all(s > 0):
                raise DynobenchFormatError(f"{src}: {where}.size must be positive, got {s.tolist()}")
            boxes.append([*center, *s])
            box_fields.append(where)
        elif kind == "sphere":
            s = _numbers(size, src, f"{where}.size")
            if len(s) < 1 or not s[0] > 0:
                raise DynobenchFormatError(f"{src}: {where}.size must start with a positive radius, got {s.tolist()}")
            circles.append([*center, s[0]])
            circle_fields.append(where)
        else:
            raise DynobenchFormatError(f"{src}: {where}.type must be 'box' or 'sphere', got {kind!r}")
    robots = _get(d, "robots", src)
    if not isinstance(robots, list) or not robots:
        raise DynobenchFormatError(f"{src}: robots must be a non-empty list, got {robots!r:.60}")
    if len(robots) > 1:
        raise DynobenchFormatError(f"{src}: robots lists {len(robots)} robots; only single-robot instances are supported")
    r = robots[0]
    robot = _robot(_get(r, "type", src, "robots[0]"), src)
    start = _numbers(_get(r, "start", src, "robots[0]"), src, "robots[0].start", robot.state_dim)
    goal = _numbers(_get(r, "goal", src, "robots[0]"), src, "robots[0].goal", robot.state_dim)
    name = d.get("name")
    inst = DynobenchInstance(
        name=str(name) if name is not None else Path(src).stem, robot=robot.name, environment=env,
        env_min=env_min, env_max=env_max, boxes=np.asarray(boxes, dtype=float).reshape(-1, 4),
        circles=np.asarray(circles, dtype=float).reshape(-1, 3), start=start, goal=goal, source=src,
        obstacle_fields=(*box_fields, *circle_fields))
    if check_collision:
        from envs.penetration import bodies_penetration

        for which, state in (("start", start), ("goal", goal)):
            depth, ob = bodies_penetration(robot.bodies, robot.footprint_poses(state[None]), inst.boxes, inst.circles)
            if depth[0] > 0:
                raise DynobenchFormatError(f"{src}: robots[0].{which} {state.tolist()} is in collision with "
                                           f"{inst.obstacle_fields[ob[0]]} (penetration {depth[0]:.3g} m)")
    return inst


def load_solution(path: str | Path, robot: Any = None) -> DynobenchSolution:
    """Read a dynobench solution file; with ``robot``, its states and actions must have the robot's
    ``state_dim`` and ``control_dim`` numbers each. ``num_states`` / ``num_actions``, when present,
    must match the rows (a truncated file does not), and there must be one action fewer than states."""
    d, src = _read_yaml(path, "solution")
    def counted(key: str, width: int | None) -> np.ndarray:
        rows = _rows(_get(d, key, src), src, key, width)
        n = d.get(f"num_{key}")
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int):
                raise DynobenchFormatError(f"{src}: num_{key} must be an integer, got {n!r:.40}")
            if n != len(rows):
                raise DynobenchFormatError(f"{src}: num_{key} is {n} but {key} has {len(rows)} rows (truncated file?)")
        return rows

    states = counted("states", None if robot is None else robot.state_dim)
    if len(states) == 0:
        raise DynobenchFormatError(f"{src}: states is empty")
    actions = counted("actions", None if robot is None else robot.control_dim)
    if len(actions) != len(states) - 1:
        raise DynobenchFormatError(f"{src}: {len(states)} states need {len(states) - 1} actions, got {len(actions)}")
    cost = d.get("cost")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost)):
        raise DynobenchFormatError(f"{src}: cost must be a number, got {cost!r:.40}")
    header = {k: v for k, v in d.items() if k not in ("states", "actions", "cost")}
    return DynobenchSolution(states=states, actions=actions, cost=None if cost is None else float(cost),
                             header=header, source=src)


# ---------------------------------------------------------------------------------------- writing
def _num(v: float) -> str:
    v = float(v)
    return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _row(r: np.ndarray) -> str:
    return "[" + ",".join(_num(v) for v in r) + "]"


def write_solution(path: str | Path, robot_name: str, states: np.ndarray, actions: np.ndarray,
                   instance: DynobenchInstance | None = None, goal_tol: float = 0.03,
                   info: str | None = None) -> Path:
    """Write a solution YAML in dynobench's format: ``states`` ``(N+1, S)``, ``actions`` ``(N, C)`` of
    robot ``robot_name``, ``cost = N * dt``. Robots whose steps saturate states (``effective_controls``,
    e.g. ``unicycle2_v0``) get the actions that dynobench's unclipped step needs to reproduce them.
    With ``instance``, the header's ``start``/``goal``, distances and feasibility flags come from the
    independent checker (``envs.dynobench_check``, goal tolerance ``goal_tol``); without it they are
    left out. Numbers are written in full precision. Returns the path written."""
    from envs.registry import make_robot

    robot = make_robot(robot_name)
    states = np.asarray(states, dtype=float).reshape(-1, robot.state_dim)
    actions = np.asarray(actions, dtype=float).reshape(-1, robot.control_dim)
    if len(states) == 0 or len(actions) != len(states) - 1:
        raise ValueError(f"write_solution: {len(states)} states need {max(len(states) - 1, 0)} actions, got "
                         f"{len(actions)}")
    if hasattr(robot, "effective_controls") and len(actions):
        actions = robot.effective_controls(states, actions)
    lines = []
    if instance is not None:
        from envs.dynobench_check import check_solution

        report = check_solution(instance, DynobenchSolution(states, actions, len(actions) * robot.dt),
                                goal_tol=goal_tol)
        t = report.tests
        flags = {"feasible": report.accepted, "traj_feas": t["dynamics"], "goal_feas": t["goal"],
                 "start_feas": t["start"], "col_feas": t["collision"],
                 "x_bounds_feas": t["state_bounds"] and t["world_box"], "u_bounds_feas": t["control_bounds"]}
        lines.append(f"cost: {_num(len(actions) * robot.dt)}")
        lines += [f"{k}: {int(bool(flags[k]))}" for k in FEASIBILITY_KEYS]
        lines += [f"start: {_row(instance.start)}", f"goal: {_row(instance.goal)}",
                  f"max_jump: {_num(report.max_jump)}", f"max_collision: {_num(report.max_penetration)}",
                  f"goal_distance: {_num(report.goal_distance)}", f"start_distance: {_num(report.start_distance)}",
                  f"x_bound_distance: {_num(max(report.state_bound_distance, report.world_box_distance))}",
                  f"u_bound_distance: {_num(report.control_bound_distance)}"]
    else:
        lines.append(f"cost: {_num(len(actions) * robot.dt)}")
    lines.append(f"num_states: {len(states)}")
    lines.append("states:")
    lines += [f"  - {_row(s)}" for s in states]
    lines.append(f"num_actions: {len(actions)}")
    lines.append("actions:" if len(actions) else "actions: []")
    lines += [f"  - {_row(a)}" for a in actions]
    lines.append(f"info: {json.dumps(info if info is not None else 'robot=' + robot.name)}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(lines) + "\n")
    return p


ACCEPT_GOAL_TOL = 0.03
"""dynobench's acceptance threshold on the final state's distance to the goal (the robot's metric)."""


def instance_problem(instance: DynobenchInstance, goal_tol: float = ACCEPT_GOAL_TOL):
    """The :class:`~envs.problem.Problem` of a dynobench instance: its robot (registry name), a
    :class:`~envs.box_world.BoxWorld` of its obstacles (``min``/``max`` bound the reference point),
    its start state, and its goal state as a :class:`~envs.goal.StateGoal` of tolerance
    ``goal_tol`` in the robot's metric (default: the benchmark's acceptance, 0.03)."""
    from envs.box_world import BoxWorld
    from envs.goal import StateGoal
    from envs.problem import Problem
    from envs.registry import make_robot

    robot = make_robot(instance.robot)
    # named as the suite addresses it (ROBOT/FILE STEM); the file's own ``name`` field is free text
    stem = Path(instance.source).stem if instance.source else instance.name
    world = BoxWorld.from_dynobench_environment(instance.environment, name=stem, source=instance.source)
    meta = {"instance": f"{instance.robot}/{stem}", "map": stem}
    return Problem(robot, world, instance.start, StateGoal.for_robot(robot, instance.goal, goal_tol),
                   name=f"{instance.robot}/{stem}", meta=meta)


def suite_instance_path(name: str, data_dir: str | Path | None = None) -> Path:
    """The instance file of ``ROBOT/INSTANCE`` (e.g. ``car1_v0/bugtrap_0``) in the ``dynobench`` suite
    of the data directory; an unknown name is a one-line error listing the suite's instances."""
    from envs.suites import suite_dir, suite_instances

    rows = suite_instances("dynobench", data_dir)
    known = [f"{r['robot']}/{r['instance']}" for r in rows]
    if name not in known:
        raise DynobenchFormatError(f"suite dynobench has no instance {name!r}; known: {', '.join(known)}")
    robot, inst = name.split("/", 1)
    return suite_dir("dynobench", data_dir) / "envs" / robot / f"{inst}.yaml"


def suite_instance_names(data_dir: str | Path | None = None) -> list[str]:
    """``ROBOT/INSTANCE`` of every instance of the ``dynobench`` suite, in its table's order."""
    from envs.suites import suite_instances

    return [f"{r['robot']}/{r['instance']}" for r in suite_instances("dynobench", data_dir)]
