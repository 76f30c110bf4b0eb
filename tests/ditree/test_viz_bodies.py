"""Drawings of a two-body robot (tests/conftest.py's TrailerCar): every body is drawn, in the
matplotlib pictures, the GIF and the PyBullet TinyRenderer scene."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from PIL import Image
from two_body_robot import TrailerCar

from ditree.animate import animate_plan
from ditree.render import render_scene
from ditree.viz import draw_footprints, draw_path, footprint_corners, plot_plan
from envs.problem import Problem
from envs.world import GridMap
from planners.results import PlanResult


class CarAlone(TrailerCar):
    """The same robot with its trailer left out (one body), to see what the trailer adds."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies = self.bodies[:1]

    def footprint_poses(self, states):
        return super().footprint_poses(states)[..., :1, :]


def _plan(robot):
    g = np.zeros((6, 8), dtype=np.uint8)
    g[0] = g[-1] = 1
    g[:, 0] = g[:, -1] = 1
    start = np.array([-2.0, 0.0, 0.0, 0.8])
    u = np.tile([0.5, 0.3], (40, 1))
    s = robot.rollout(start[None], u[None])[0]
    problem = Problem(robot, GridMap(g, 1.0, "room"), start, s[-1, :2], goal_radius=0.3)
    return problem, PlanResult(success=True, planner="test", seed=0, time_s=0.0, dt=robot.dt, states=s, controls=u,
                               robot=robot.name)


def test_footprints_draw_every_body(trailer_car):
    states = np.array([[0.0, 0.0, 0.0, 0.5], [1.0, 0.5, 1.0, 0.0], [-1.0, 0.2, -2.0, 2.5]])
    corners = footprint_corners(trailer_car, states)
    assert corners.shape == (3, 2, 4, 2)
    np.testing.assert_allclose(corners[:, 1], trailer_car.bodies[1].corners(trailer_car.footprint_poses(states)[:, 1]))
    fig, ax = plt.subplots()
    draw_footprints(ax, trailer_car, states)
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 1 and len(polys[0].get_paths()) == 6  # 3 states x 2 bodies
    plt.close(fig)


def _pixels(draw) -> np.ndarray:
    fig, ax = plt.subplots(figsize=(3, 3), dpi=60)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    draw(ax)
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return out


def test_pictures_gif_and_scene_show_the_trailer(trailer_car, tmp_path):
    problem, res = _plan(trailer_car)
    with_trailer = _pixels(lambda ax: draw_path(ax, res.states, trailer_car, dt=res.dt))
    car_only = _pixels(lambda ax: draw_path(ax, res.states, CarAlone(), dt=res.dt))
    assert (with_trailer != car_only).any(axis=-1).sum() > 100  # the trailers add pixels
    png = plot_plan(problem, res, tmp_path / "plan.png")
    with Image.open(png) as im:
        assert im.format == "PNG"
    frames = []  # (first, last) driving frame of each GIF
    for name, (prob, r) in (("two", (problem, res)), ("one", _plan(CarAlone()))):
        gif = animate_plan(prob, r, tmp_path / f"{name}.gif", max_drive_frames=8, hold_frames=0)
        with Image.open(gif) as im:
            assert im.format == "GIF" and im.n_frames == 8
            frames.append([np.asarray(im.convert("RGB"))])
            im.seek(im.n_frames - 1)
            frames[-1].append(np.asarray(im.convert("RGB")))
    # at the start the two GIFs differ by the start's trailer; at the end also by the moving trailer
    # (palettes differ a little between the GIFs: count clearly different pixels only)
    at_start, at_end = (
        (np.abs(frames[0][i].astype(int) - frames[1][i]).sum(axis=-1) > 90).sum() for i in (0, 1)
    )
    assert at_end > at_start + 100, (at_start, at_end)


@pytest.mark.parametrize("racecar", [False, True])
def test_tiny_renderer_scene_draws_every_body(trailer_car, tmp_path, racecar):
    problem, res = _plan(trailer_car)
    a = render_scene(problem, res, tmp_path / "two.png", width=160, height=120, racecar=racecar)
    one_problem, one_res = _plan(CarAlone())
    b = render_scene(one_problem, one_res, tmp_path / "one.png", width=160, height=120, racecar=racecar)
    with Image.open(a) as ia, Image.open(b) as ib:
        assert (np.asarray(ia) != np.asarray(ib)).any(axis=-1).sum() > 20  # the trailer boxes show
