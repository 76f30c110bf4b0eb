"""``ditree world``: a generated map CSV that loads back, its picture, the plan command it prints."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from ditree.cli import main
from envs.generators import generate
from envs.world import GridMap


@pytest.mark.parametrize("kind, extra", [
    ("maze", ["--corridor", "2"]),
    ("forest", ["--density", "0.25"]),
    ("rooms", ["--room", "3", "--door", "2"]),
    ("serpentine", []),
])
def test_world_writes_a_csv_that_loads_back_and_a_png(tmp_path, capsys, kind, extra):
    out = tmp_path / "w" / "my.csv"
    assert main(["world", "--kind", kind, "--seed", "3", "--out", str(out), "--rows", "17", "--cols", "19", *extra]) == 0
    text = capsys.readouterr().out
    w = GridMap.from_csv(out)
    params = {k.lstrip("-").replace("-", "_"): (float(v) if "." in v else int(v)) for k, v in zip(extra[::2], extra[1::2])}
    np.testing.assert_array_equal(w.grid, generate(kind, 17, 19, 3, **params).grid)  # same seed, same world
    with Image.open(out.with_suffix(".png")) as im:
        assert im.format == "PNG" and min(im.size) > 300
        assert np.asarray(im.convert("L"), dtype=float).std() > 10
    m = re.search(r"ditree plan --map (\S+) --start (\d+),(\d+),(\S+) --goal (\d+),(\d+)", text)
    assert m and m.group(1) == str(out)
    r, c, gr, gc = (int(m.group(i)) for i in (2, 3, 5, 6))
    assert w.is_free_cell(r, c) and w.is_free_cell(gr, gc)


def test_the_printed_query_plans(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["world", "--kind", "maze", "--seed", "0", "--rows", "9", "--cols", "9", "--out", str(out)]) == 0
    cmd = re.search(r"ditree plan (.*) --planner ditree", capsys.readouterr().out).group(1).split()
    assert main(["plan", *cmd, "--planner", "rrt", "--time-limit", "20", "--seed", "0"]) == 0
    assert "rrt m: solved" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--kind", "forest", "--corridor", "2"], "--kind forest takes no --corridor"),
    (["--kind", "maze", "--rows", "2"], "rows and cols must be integers >= 3"),
    (["--kind", "maze", "--out", "x.txt"], "must end in .csv"),
])
def test_bad_world_arguments_are_one_line(tmp_path, capsys, argv, message):
    if "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "x.csv")]
    assert main(["world", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_box_world_writes_a_dynobench_instance_of_the_generated_problem(tmp_path, capsys):
    from envs.box_generators import box_problem
    from envs.dynobench import instance_problem, load_instance
    from envs.registry import make_robot

    out = tmp_path / "kink.yaml"
    argv = ["world", "--kind", "kink", "--robot", "car1_v0", "--seed", "2", "--out", str(out), "--param", "bends=2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"ditree plan --dynobench {out} --goal-tol 0.25" in text
    loaded = instance_problem(load_instance(out))
    made = box_problem("kink", 2, make_robot("car1_v0"), bends=2)
    np.testing.assert_allclose(loaded.world.boxes, made.world.boxes)
    np.testing.assert_allclose(loaded.world.bounds, made.world.bounds)
    np.testing.assert_allclose(loaded.start, made.start)
    np.testing.assert_allclose(loaded.goal_region.state, made.goal_region.state)
    with Image.open(out.with_suffix(".png")) as im:
        assert im.format == "PNG" and np.asarray(im.convert("L"), dtype=float).std() > 10


@pytest.mark.parametrize("argv, message", [
    (["--kind", "trap", "--param", "wide=2"], "box world kind 'trap' takes no parameter(s) ['wide']"),
    (["--kind", "trap", "--param", "depth"], "--param 'depth': expected NAME=VALUE"),
    (["--kind", "kink", "--corridor", "2"], "--kind kink takes no --corridor; box worlds take --param"),
    (["--kind", "maze", "--robot", "car"], "--robot and --param are for box worlds only"),
    (["--kind", "open", "--robot", "bike"], "bike"),
])
def test_bad_box_world_arguments_are_one_line(tmp_path, capsys, argv, message):
    assert main(["world", *argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
