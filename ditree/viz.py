"""Pictures of worlds, trees, paths and robot footprints (matplotlib, headless).

A footprint is drawn body by body: pass a robot (every body of ``robot.bodies`` at
``robot.footprint_poses(states)``) or a single :class:`Footprint` (centred on the pose).

All functions draw onto a given ``Axes`` (or create a figure) and never call ``plt.show``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection, PatchCollection, PolyCollection
from matplotlib.patches import Circle, Rectangle

from envs.box_world import BoxWorld
from envs.footprint import Footprint
from envs.problem import Problem
from envs.world import World


def draw_world(ax, world: World) -> None:
    """Walls in dark grey, free space white, axes in metres. A :class:`BoxWorld`: its boxes and
    circles, and its ``bounds`` (the reference point's region) as a dashed rectangle."""
    if isinstance(world, BoxWorld):
        _draw_box_world(ax, world)
        return
    x0, x1, y0, y1 = world.bounds
    ax.imshow(world.grid, cmap="Greys", vmin=0, vmax=1.4, extent=(x0, x1, y0, y1), origin="upper",
              interpolation="nearest")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")


def _draw_box_world(ax, world: BoxWorld) -> None:
    x0, x1, y0, y1 = world.extent
    patches = [Rectangle((cx - sx / 2, cy - sy / 2), sx, sy) for cx, cy, sx, sy in world.boxes]
    patches += [Circle((cx, cy), r) for cx, cy, r in world.circles]
    ax.add_collection(PatchCollection(patches, facecolors="0.35", edgecolors="0.2", linewidths=0.5))
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=0.8, ec="0.4"))
    pad = 0.05 * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")


def footprint_corners(footprint, states: np.ndarray) -> np.ndarray:
    """Corners ``(N, K, 4, 2)`` of every body at states ``(N, >=3)``; ``footprint`` is a robot
    (``bodies`` posed by ``footprint_poses``) or one :class:`Footprint` centred on the pose."""
    states = np.atleast_2d(np.asarray(states, dtype=float))
    if isinstance(footprint, Footprint):
        return footprint.corners(states[:, :3])[:, None]
    poses = np.asarray(footprint.footprint_poses(states), dtype=float)  # (N, K, 3)
    return np.stack([b.corners(poses[:, k]) for k, b in enumerate(footprint.bodies)], axis=1)


def draw_footprints(ax, footprint, states: np.ndarray, color="tab:blue", alpha=0.5, **kw) -> None:
    """Rectangles of every body at states ``(N, >=3)``, each with a heading tick from its centre to
    its front edge. ``footprint``: a robot (all its bodies) or one :class:`Footprint`."""
    corners = footprint_corners(footprint, states)  # (N, K, 4, 2)
    flat = corners.reshape(-1, 4, 2)
    ax.add_collection(PolyCollection(flat, facecolors=color, edgecolors="k", linewidths=0.5, alpha=alpha, **kw))
    centre = flat.mean(axis=1)
    tip = 0.5 * (flat[:, 0] + flat[:, 3])  # middle of the front edge (corners CCW from front-left)
    ax.add_collection(LineCollection(np.stack([centre, tip], 1), colors="k", linewidths=0.8))


def draw_problem(ax, problem: Problem) -> None:
    """World, start footprint (green) and goal disc (red; for a goal state, the disc its positions lie
    in and the goal footprint's outline)."""
    draw_world(ax, problem.world)
    draw_footprints(ax, problem.robot, problem.start[None], color="tab:green", alpha=0.9)
    ax.add_patch(plt.Circle(tuple(problem.goal), problem.goal_radius, color="tab:red", alpha=0.35))
    ax.plot(*problem.goal, "r*", ms=10)
    state = getattr(problem.goal_region, "state", None)
    if state is not None:
        draw_footprints(ax, problem.robot.footprint, state[None], color="none", alpha=1.0)


def draw_edges(ax, segments, color="tab:gray", lw=0.4, alpha=0.6) -> None:
    """Tree edges: a list of ``(K_i, 2)`` xy polylines."""
    if len(segments):
        ax.add_collection(LineCollection(segments, colors=color, linewidths=lw, alpha=alpha))


def draw_path(ax, states: np.ndarray, footprint=None, every: float = 0.5, dt: float = 0.02,
              color="tab:blue") -> None:
    """The path ``(T+1, >=3)`` as a line, with footprints (a robot's bodies, or one
    :class:`Footprint`; none if None) every ``every`` seconds."""
    states = np.asarray(states)
    ax.plot(states[:, 0], states[:, 1], color=color, lw=1.8)
    if footprint is not None and len(states):
        k = max(1, round(every / dt))
        idx = np.r_[np.arange(0, len(states), k), len(states) - 1]
        draw_footprints(ax, footprint, states[idx], color=color, alpha=0.35)


def save_figure(fig, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_problem(problem: Problem, out: str | Path, title: str | None = None) -> Path:
    """Save a picture of the problem (map, start pose, goal)."""
    fig, ax = plt.subplots(figsize=(6, 6))
    draw_problem(ax, problem)
    ax.set_title(title or problem.name)
    return save_figure(fig, out)


def draw_plan(ax, problem: Problem, result, every: float = 0.5) -> None:
    """Problem, tree edges (light grey, when the result carries them) and the path with car
    footprints every ``every`` seconds (blue if the run succeeded, orange for a partial path)."""
    draw_problem(ax, problem)
    if result.tree_edges:
        draw_edges(ax, [np.asarray(e)[:, :2] for e in result.tree_edges])
    if len(result.states):
        draw_path(ax, result.states, problem.robot, every=every, dt=result.dt,
                  color="tab:blue" if result.success else "tab:orange")


def plot_plan(problem: Problem, result, out_png: str | Path, title: str | None = None, every: float = 0.5) -> Path:
    """Save a picture of a plan: map, start and goal, tree edges, path and car footprints.

    ``result`` is a :class:`planners.results.PlanResult`; ``every`` is the footprint spacing (s).
    """
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    draw_plan(ax, problem, result, every=every)
    if title is None:
        title = f"{problem.name}: {result.planner}, " + (
            f"{result.time_s:.2f} s, {result.nodes} nodes, path {result.path_length_m:.1f} m / {result.path_duration_s:.1f} s"
            if result.success else f"no path ({result.reason or 'failed'})"
        )
    ax.set_title(title, fontsize=9)
    return save_figure(fig, out_png)
