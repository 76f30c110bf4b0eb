"""``ditree robots``: list the registered robots (``envs.registry``) with their state and control
layout, control period, footprint, map cell size, goal tolerance and shipped checkpoint.

Layout facts are read from a robot built with its default parameters, so they are what the
planners see. Robots registered by a user module appear when that module is imported
(``ditree --robot-module mypkg.myrobot robots``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

NAME = "robots"
HELP = "list the registered robots (state and control layout, dt, footprint, shipped checkpoint)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object per robot (one per line)")


def _bounds(low: Any, high: Any, i: int) -> list[float] | None:
    if low is None or high is None or not (np.isfinite(low[i]) or np.isfinite(high[i])):
        return None  # unbounded components (state_low/high hold +-inf there) show no bounds
    return [float(low[i]), float(high[i])]


def robot_summary(name: str) -> dict[str, Any]:
    """What ``ditree robots`` shows of the robot registered as ``name`` (plain JSON types)."""
    from envs.registry import robot_spec

    spec = robot_spec(name)
    robot = spec.make()
    angles = set(robot.angle_indices)
    s_low, s_high = getattr(robot, "state_low", None), getattr(robot, "state_high", None)
    bodies = getattr(robot, "bodies", None) or (robot.footprint,)
    return {
        "name": spec.name,
        "description": spec.description,
        "class": f"{type(robot).__module__}:{type(robot).__qualname__}",
        "state": [{"name": n, "angle": i in angles, "bounds": _bounds(s_low, s_high, i)}
                  for i, n in enumerate(robot.state_names)],
        "controls": [{"name": n, "bounds": _bounds(robot.control_low, robot.control_high, i)}
                     for i, n in enumerate(robot.control_names)],
        "dt": float(robot.dt),
        "footprint": [[float(b.length), float(b.width)] for b in bodies],
        "map_cell_size": float(spec.map_cell_size),
        "goal_tolerance": float(spec.goal_tolerance),
        "checkpoint": spec.checkpoint,
    }


def _fmt_bounds(b: list[float] | None) -> str:
    return "" if b is None else f" [{b[0]:g}, {b[1]:g}]"


def format_summary(d: dict[str, Any]) -> str:
    """The human-readable block of one :func:`robot_summary`."""
    state = ", ".join(f"{s['name']}{' (angle)' if s['angle'] else ''}{_fmt_bounds(s['bounds'])}" for s in d["state"])
    controls = ", ".join(f"{c['name']}{_fmt_bounds(c['bounds'])}" for c in d["controls"])
    bodies = " + ".join(f"{length:g} x {width:g} m" for length, width in d["footprint"])
    rows = [
        ("class", d["class"]),
        (f"state ({len(d['state'])})", state),
        (f"controls ({len(d['controls'])})", controls),
        ("dt", f"{d['dt']:g} s"),
        ("footprint", bodies),
        ("map cell size", f"{d['map_cell_size']:g} m"),
        ("goal tolerance", f"{d['goal_tolerance']:g} m"),
        ("checkpoint", d["checkpoint"] or "none"),
    ]
    head = f"{d['name']}: {d['description']}" if d["description"] else d["name"]
    return "\n".join([head, *(f"  {k:<15}{v}" for k, v in rows)])


def run(args: argparse.Namespace) -> int:
    from envs.registry import registered_robots

    for name in registered_robots():
        d = robot_summary(name)
        print(json.dumps(d) if args.json else format_summary(d) + "\n")
    return 0
