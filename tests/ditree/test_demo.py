"""``ditree demo``: a real plan of a generated world, without the benchmark data directory, and the
pictures drawn from it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ditree.api import available_planners
from ditree.cli import main
from ditree.commands.demo import DEMO_WORLD
from ditree.render import render_scene, wall_boxes
from envs.generators import generated_problem
from envs.suites import DATA_ENV
from envs.world import GridMap
from planners.results import PlanResult


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo with DITREE_DATA pointing nowhere: it must not need the benchmark data."""
    out = tmp_path_factory.mktemp("demo")
    import contextlib
    import io

    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DATA_ENV, str(out / "no_data_here"))
        with contextlib.redirect_stdout(buf):
            rc = main(["demo", "--out", str(out), "--time-limit", "30"])
    return rc, out, buf.getvalue()


def test_demo_plans_and_reports(demo):
    rc, out, text = demo
    assert rc == 0, text
    res = PlanResult.from_json(out / "plan.json")
    if "ditree" not in available_planners():
        assert "note: planner 'ditree' is not registered" in text and res.planner == "rrt"
    elif res.planner != "ditree":  # registered but not usable (e.g. no checkpoint): says so and why
        assert "note: planner 'ditree' is not usable here" in text and res.planner == "rrt"
    world = DEMO_WORLD
    name = f"{world.kind}_{world.rows}x{world.cols}_s{world.seed}"
    assert res.success and res.validated and res.map == name and res.suite is None
    assert res.tree_edges and len(res.tree_edges) > 1  # saved with the tree, for `ditree plot`
    for f in ("plan.png", "drive.gif", "scene.png", "plan.json", f"{name}.csv"):
        assert str(out / f) in text


def test_demo_world_is_saved_and_plot_finds_it(demo, tmp_path, monkeypatch):
    _, out, _ = demo
    res = PlanResult.from_json(out / "plan.json")
    w = DEMO_WORLD
    ref = generated_problem(w.kind, w.seed, w.rows, w.cols)
    assert GridMap.from_csv(out / f"{res.map}.csv").content_hash() == ref.world.content_hash()
    np.testing.assert_allclose(res.states[0], ref.start)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "no_data_here"))
    assert main(["plot", str(out / "plan.json"), "--out", str(tmp_path / "again.png"), "--no-tree"]) == 0


def test_demo_images(demo):
    _, out, _ = demo
    for name in ("plan.png", "scene.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.size[0] >= 300 and im.size[1] >= 300
            a = np.asarray(im.convert("RGB"), dtype=float)
            assert a.std() > 10  # a picture, not a blank canvas
    with Image.open(out / "drive.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames >= 10
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"), dtype=float)
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"), dtype=float)
        assert np.abs(first - last).mean() > 0.5  # the car moved and the path was drawn
    assert (out / "drive.gif").stat().st_size < 3_000_000


def test_scene_shows_the_walls_and_the_path(tmp_path):
    """TinyRenderer image of the bare problem vs. with a path: the path changes pixels; wall boxes
    cover exactly the wall cells."""
    problem = generated_problem("rooms", 0, 20, 20)
    boxes = wall_boxes(problem.world)
    area = sum(4 * hx * hy for _, _, hx, hy in boxes)
    assert area == pytest.approx(problem.world.grid.sum() * problem.world.cell_size**2)
    bare = render_scene(problem, None, tmp_path / "bare.png", width=320, height=240)
    u = np.zeros((1, 100, 2))
    u[0, :20, 0] = 2.0
    states = problem.robot.rollout(problem.start[None], u)[0]
    res = PlanResult(success=True, planner="test", seed=0, time_s=0.0, states=states, controls=u[0])
    with_path = render_scene(problem, res, tmp_path / "path.png", width=320, height=240, racecar=False)
    a = np.asarray(Image.open(bare).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(with_path).convert("RGB"), dtype=float)
    assert a.shape == (240, 320, 3) and a.std() > 10
    assert (np.abs(a - b).sum(-1) > 30).sum() > 20


def test_plan_json_roundtrip_keeps_tree(demo):
    _, out, _ = demo
    d = json.loads((out / "plan.json").read_text())
    assert d["tree"] and len(d["tree"]["edges"]) == len(PlanResult.from_json(out / "plan.json").tree_edges)
