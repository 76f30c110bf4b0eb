"""A GIF of a plan: optionally the tree growing, then the car driving the path (matplotlib frames,
written with Pillow).

Frames are subsampled so that a GIF stays small (a few hundred kB to ~3 MB) and renders in a few
seconds whatever the path length: at most ``max_drive_frames`` driving frames (real-time playback
when the path is short enough, faster otherwise) and ``tree_frames`` frames of tree growth.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from PIL import Image

from ditree.viz import draw_problem, footprint_corners
from envs.problem import Problem


def drive_frame_indices(n_states: int, dt: float, fps: int, max_frames: int) -> np.ndarray:
    """Indices into the path's ``n_states`` states for the driving frames: real time at ``fps``
    (one frame per ``1/(fps*dt)`` states) unless that exceeds ``max_frames``; always ends at the
    last state."""
    if n_states <= 0:
        return np.zeros(0, dtype=int)
    step = max(1, round(1.0 / (fps * dt)))
    idx = np.arange(0, n_states, step)
    if len(idx) > max_frames:
        idx = np.unique(np.linspace(0, n_states - 1, max_frames).round().astype(int))
    if idx[-1] != n_states - 1:
        idx = np.r_[idx, n_states - 1]
    return idx


def animate_plan(problem: Problem, result, out_gif: str | Path, fps: int = 15, show_tree: bool = True,
                 tree_frames: int = 20, max_drive_frames: int = 90, hold_frames: int = 10, size_in: float = 5.5,
                 dpi: int = 90) -> Path:
    """Write a GIF of ``result`` (a :class:`~planners.results.PlanResult`) on ``problem``.

    ``fps`` frames per second; ``show_tree`` first grows the tree (when the result carries its
    edges) in ``tree_frames`` frames; the car then drives the path in at most ``max_drive_frames``
    frames and the last frame is held for ``hold_frames`` frames. ``size_in`` x ``size_in`` inches
    at ``dpi`` gives the image size (495 x 495 px by default). Returns the path of the GIF.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    states = np.asarray(result.states)
    edges = [np.asarray(e)[:, :2] for e in (result.tree_edges or [])] if show_tree else []
    n_tree = min(tree_frames, len(edges)) if edges else 0
    drive = drive_frame_indices(len(states), result.dt, fps, max_drive_frames)
    n_frames = n_tree + len(drive) + (hold_frames if len(drive) else 0)
    if n_frames == 0:
        n_frames = 1

    fig, ax = plt.subplots(figsize=(size_in, size_in), dpi=dpi)
    draw_problem(ax, problem)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(labelsize=6)
    tree = LineCollection([], colors="tab:gray", linewidths=0.4, alpha=0.6)
    ax.add_collection(tree)
    color = "tab:blue" if result.success else "tab:orange"
    (trail,) = ax.plot([], [], color=color, lw=1.8)
    car = PolyCollection([], closed=True, facecolors=color, edgecolors="k", linewidths=0.8)  # every body
    ax.add_collection(car)
    title = ax.set_title("", fontsize=8)

    def update(frame: int):
        if frame < n_tree:
            k = round(len(edges) * (frame + 1) / n_tree)
            tree.set_segments(edges[:k])
            title.set_text(f"{result.planner}: growing the tree ({k}/{len(edges)} edges)")
            return tree, trail, car, title
        if frame == n_tree:
            tree.set_segments(edges)
        if not len(drive):
            title.set_text(f"{result.planner}: no path")
            return tree, trail, car, title
        i = drive[min(frame - n_tree, len(drive) - 1)]
        trail.set_data(states[: i + 1, 0], states[: i + 1, 1])
        car.set_verts(list(footprint_corners(problem.robot, states[i : i + 1])[0]))
        title.set_text(f"{result.planner}: t = {i * result.dt:.2f} s, v = {states[i, 3]:.2f} m/s")
        return tree, trail, car, title

    # Blitting: the map is drawn once; each frame restores it and draws only the moving artists.
    # Once the tree is complete it joins the background, so driving frames do not redraw it.
    moving = [tree, trail, car, title]
    for a in moving:
        a.set_animated(True)
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for frame in range(n_frames):
        update(frame)
        if frame == n_tree:
            tree.set_animated(False)
            moving.remove(tree)
            canvas.draw()
            background = canvas.copy_from_bbox(fig.bbox)
        canvas.restore_region(background)
        for a in moving:
            fig.draw_artist(a)
        frames.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    plt.close(fig)
    # One palette for all frames (from the last, which shows everything): faster than quantising
    # each frame, and no colour flicker between frames.
    palette = frames[-1].quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]

    out = Path(out_gif)
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return out
