"""``ditree plot``: redraw saved plan results (PNG and GIF), resolve the map, fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ditree.api import plan
from ditree.cli import main
from ditree.commands.plot import problem_for_result
from envs.problem import test_problem
from envs.suites import suite_maps_dir
from planners.results import PlanResult

pytestmark = pytest.mark.requires_data  # plans of the paper's scenarios (ditree_car suite)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plot")
    res = plan(test_problem("shapes2"), planner="rrt", time_limit=20, seed=3)
    assert res.success
    path = tmp / "shapes2.json"
    res.to_json(path, include_tree=True)
    return path


def test_plot_png_and_gif(saved, tmp_path, capsys):
    png, gif = tmp_path / "a.png", tmp_path / "a.gif"
    assert main(["plot", str(saved), "--out", str(png)]) == 0
    assert main(["plot", str(saved), "--out", str(gif), "--fps", "10"]) == 0
    assert f"wrote {png}" in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.format == "PNG" and min(im.size) > 300
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames > 5


def test_plot_default_output_next_to_json(saved):
    assert main(["plot", str(saved), "--no-tree"]) == 0
    assert saved.with_suffix(".png").is_file()


def test_problem_resolved_from_scenario_and_map(saved, tmp_path):
    res = PlanResult.from_json(saved)
    assert res.suite == "ditree_car"
    p = problem_for_result(res)  # found through the suite the result names
    ref = test_problem("shapes2")
    assert p.name == "shapes2" and np.allclose(p.start, ref.start) and np.allclose(p.goal, ref.goal)
    # an unknown scenario on a known map: drawn on the map, from the path's first to its last state
    d = json.loads(saved.read_text())
    d["scenario"] = "my own query"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(d))
    p2 = problem_for_result(PlanResult.from_json(other), suite_maps_dir("ditree_car"))
    assert p2.world.name == "shapes" and np.allclose(p2.start, res.states[0])
    assert np.allclose(p2.goal, res.states[-1, :2])
    assert main(["plot", str(other), "--out", str(tmp_path / "o.png")]) == 0
    # a result written before suites were recorded: its map is looked up in ditree_car
    legacy = {k: v for k, v in json.loads(saved.read_text()).items() if k != "suite"}
    p3 = problem_for_result(PlanResult.from_dict(legacy))
    assert p3.name == "shapes2" and np.allclose(p3.start, ref.start)


@pytest.mark.parametrize("case, message", [
    ("suffix", "must end in .png or .gif"),
    ("missing", "result file not found"),
    ("nomap", "no map 'no_such_map'"),
])
def test_plot_errors(saved, tmp_path, capsys, case, message):
    target = saved
    out = tmp_path / "x.png"
    if case == "suffix":
        out = tmp_path / "x.jpg"
    elif case == "missing":
        target = tmp_path / "nope.json"
    else:
        d = json.loads(saved.read_text())
        d["map"], d["scenario"] = "no_such_map", "nothing"
        target = tmp_path / "nomap.json"
        target.write_text(json.dumps(d))
    assert main(["plot", str(target), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ditree plot: error:") and message in err
