"""Generated box worlds and problems: seeded, at the robot's scale, connected, unlike the benchmark's."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from envs.box_generators import (
    BOX_KINDS,
    BOX_PARAMS,
    box_kind_for,
    box_problem,
    box_world,
    layout_occupancy,
    layout_similarity,
    occupancy_similarity,
    robot_scale,
)
from envs.box_world import BoxWorld
from envs.errors import DitreeInputError
from envs.goal import StateGoal
from envs.lower_bound import box_world_distance_to_goal, clearance_margin
from envs.registry import make_robot, robot_spec

DYNOBENCH_ROBOTS = ("unicycle1_v0", "unicycle1_v1", "unicycle1_v2", "unicycle2_v0", "car1_v0")
SIMILARITY_LIMIT = 0.65
"""Generated worlds stay below this against every benchmark instance (the benchmark's own car and
unicycle kinks, the same layout drawn twice, score 0.67 against each other)."""


@pytest.fixture(scope="module")
def robots():
    return {name: make_robot(name) for name in DYNOBENCH_ROBOTS}


@pytest.mark.parametrize("kind", BOX_KINDS)
def test_same_seed_same_problem_other_seed_other_world(kind, robots):
    r = robots["car1_v0"]
    a, b = box_problem(kind, 5, r), box_problem(kind, 5, r)
    assert a.world.content_hash() == b.world.content_hash()
    np.testing.assert_array_equal(a.start, b.start)
    np.testing.assert_array_equal(a.goal_region.state, b.goal_region.state)
    assert a.meta == b.meta
    assert box_world(kind, 5, r).content_hash() == a.world.content_hash()
    others = {box_world(kind, s, r).content_hash() for s in (6, 7, 8)}
    assert a.world.content_hash() not in others and len(others) == 3


@pytest.mark.parametrize("robot_name", DYNOBENCH_ROBOTS)
@pytest.mark.parametrize("kind", BOX_KINDS)
def test_every_kind_gives_a_valid_connected_problem_for_every_robot(kind, robot_name, robots):
    r = robots[robot_name]
    sc = robot_scale(r)
    for seed in (0, 1):
        p = box_problem(kind, seed, r)  # Problem checks: start and goal poses collision-free, in bounds
        assert isinstance(p.world, BoxWorld) and isinstance(p.goal_region, StateGoal)
        assert p.goal_region.tolerance == robot_spec(robot_name).goal_tolerance
        g = p.goal_region.state
        np.testing.assert_allclose(g, r.rest_state(*g[:3]))  # at rest
        np.testing.assert_allclose(p.start, r.rest_state(*p.start[:3]))
        assert np.linalg.norm(g[:2] - p.start[:2]) >= 2 * sc.diag
        # at the robot's scale: a few metres across for these 0.5 m robots
        assert 2.0 <= max(p.world.width_m, p.world.height_m) <= 12.0
        # connected: an independent check, the visibility graph among the obstacles grown by the
        # clearance the footprint's inscribed disc keeps, finds a path to the goal
        d = box_world_distance_to_goal(p.world, p.start[:2], p.goal, 1e-6, clearance_margin(r))
        assert math.isfinite(d) and d >= np.linalg.norm(g[:2] - p.start[:2]) - 1e-6
        rec = p.meta["generator"]
        assert (rec["kind"], rec["seed"], rec["robot"]) == (kind, seed, robot_name)
        again = box_problem(rec["kind"], rec["seed"], r, **rec["params"])
        assert again.world.content_hash() == p.world.content_hash()


def test_given_parameters_are_used_and_recorded(robots):
    r = robots["unicycle1_v0"]
    P = robot_scale(r).passage
    p = box_problem("kink", 3, r, corridor=P, bends=3)
    assert p.meta["generator"]["params"] == {"corridor": P, "bends": 3}
    assert p.meta["generator"]["drawn"]["corridor"] == round(P, 4)
    assert p.meta["generator"]["drawn"]["bends"] == 3
    w = box_world("corridor", 3, r, walls=2, door=P, thickness=0.2)
    assert p.world.content_hash() != w.content_hash()
    perpendicular = box_problem("parked", 2, r, style="perpendicular")
    assert perpendicular.meta["generator"]["drawn"]["style"] == "perpendicular"
    assert box_problem("open", 0, r, obstacles=0).world.boxes.shape == (0, 4)
    assert box_problem("trap", 1, r, goal_tol=0.1).goal_region.tolerance == 0.1
    assert json.loads(json.dumps(p.meta)) == p.meta  # datasets can store it


def test_passages_are_at_least_the_body_diagonal_plus_the_margin(robots):
    r = robots["unicycle1_v0"]
    sc = robot_scale(r)
    assert sc.passage == pytest.approx(math.hypot(0.5, 0.25) * 1.1)
    assert robot_scale(robots["car1_v0"]).train_length == pytest.approx(0.9)
    # a door of exactly the least width: still a connected problem (the raster finds the door)
    p = box_problem("corridor", 4, r, door=sc.passage, walls=3)
    assert math.isfinite(box_world_distance_to_goal(p.world, p.start[:2], p.goal, 1e-6, clearance_margin(r)))
    with pytest.raises(DitreeInputError, match=r"corridor = 0\.4 m is narrower than 0\.615 m.*unicycle1_v0"):
        box_world("kink", 0, r, corridor=0.4)


@pytest.mark.parametrize(
    ("kind", "params", "match"),
    [
        ("maze", {}, r"unknown box world kind 'maze'; known: \['trap'"),
        ("trap", {"corridor": 1.0}, r"kind 'trap' takes no parameter\(s\) \['corridor'\]"),
        ("kink", {"bends": 0}, r"kink': bends must be an integer in \[1, 8\], got 0"),
        ("kink", {"bends": 2.5}, r"bends must be an integer"),
        ("clutter", {"density": 0.9}, r"density must lie in \[0, 0.5\], got 0.9"),
        ("parked", {"style": "diagonal"}, r"style must be 'parallel' or 'perpendicular', got 'diagonal'"),
        ("trap", {"thickness": -1.0}, r"thickness must be a positive length \(m\), got -1.0"),
        ("trap", {"span": 1.0, "mouth": 2.0}, r"mouth 2 m is wider than the span 1 m"),
        ("open", {"margin": 0.0}, r"margin must be a positive number"),
        ("open", {"obstacles": "two"}, r"obstacles must be a number, got 'two'"),
    ],
)
def test_bad_kind_or_parameter_is_a_one_line_error_naming_it(kind, params, match, robots):
    with pytest.raises(DitreeInputError, match=match):
        box_problem(kind, 0, robots["unicycle1_v0"], **params)


def test_bad_seed_and_goal_tolerance(robots):
    r = robots["unicycle1_v0"]
    with pytest.raises(DitreeInputError, match="seed must be an integer >= 0, got -1"):
        box_world("open", -1, r)
    with pytest.raises(DitreeInputError, match="goal_tol must be a positive number, got 0"):
        box_problem("open", 0, r, goal_tol=0)


def test_box_kind_for_is_deterministic_and_covers_every_kind_per_block():
    kinds = [box_kind_for(i, 11) for i in range(4 * len(BOX_KINDS))]
    assert kinds == [box_kind_for(i, 11) for i in range(4 * len(BOX_KINDS))]
    for b in range(4):
        assert sorted(kinds[b * len(BOX_KINDS):(b + 1) * len(BOX_KINDS)]) == sorted(BOX_KINDS)
    assert kinds != [box_kind_for(i, 12) for i in range(4 * len(BOX_KINDS))]
    assert {box_kind_for(i, 0, ("trap", "open")) for i in range(6)} == {"trap", "open"}
    with pytest.raises(DitreeInputError, match=r"unknown box world kind\(s\) \['maze'\]"):
        box_kind_for(0, 0, ("trap", "maze"))
    assert set(BOX_PARAMS) == set(BOX_KINDS)


def test_layout_similarity_sees_turned_copies_and_tells_layouts_apart():
    a = BoxWorld((0, 0, 6, 4), np.array([[1.0, 1.0, 0.4, 1.6], [4.0, 3.0, 2.0, 0.5]]))
    assert layout_similarity(a, a) == pytest.approx(1.0)
    # the same layout turned a quarter and mirrored, in other bounds: still the same layout
    turned = BoxWorld((10, 10, 14, 16), np.array([[10 + 3.0, 10 + 1.0, 1.6, 0.4], [10 + 1.0, 10 + 4.0, 0.5, 2.0]]))
    turned_occ = layout_occupancy(turned)
    assert occupancy_similarity(layout_occupancy(a), turned_occ) == pytest.approx(layout_similarity(a, turned))
    assert layout_similarity(a, turned) > 0.9
    other = BoxWorld((0, 0, 6, 4), np.array([[3.0, 2.0, 1.0, 1.0]]))
    assert layout_similarity(a, other) == 0.0
    empty = BoxWorld((0, 0, 3, 3))
    assert layout_similarity(empty, BoxWorld((0, 0, 5, 5))) == 1.0
    assert layout_similarity(empty, a) == 0.0


@pytest.mark.requires_data("dynobench")
def test_generated_worlds_do_not_reproduce_the_benchmark_layouts(robots):
    from envs.dynobench import instance_problem, load_instance, suite_instance_names, suite_instance_path

    bench = {n: layout_occupancy(instance_problem(load_instance(suite_instance_path(n))).world)
             for n in suite_instance_names()}
    assert len(bench) == 11
    worst = (0.0, "")
    scales = set()
    for name in DYNOBENCH_ROBOTS:
        sc = robot_scale(robots[name])
        if sc in scales:  # the unicycles share one shape, hence the same worlds
            continue
        scales.add(sc)
        for i in range(200):
            kind = box_kind_for(i, 19)
            occ = layout_occupancy(box_world(kind, 1000 + i, robots[name]))
            worst = max(worst, (max(occupancy_similarity(occ, b) for b in bench.values()), f"{name} {kind} {1000 + i}"))
    assert worst[0] < SIMILARITY_LIMIT, worst


def test_sst_solves_generated_unicycle_problems(robots):
    from ditree.api import plan

    r = robots["unicycle1_v0"]
    for kind, seed in (("trap", 0), ("kink", 1), ("parked", 2)):
        result = plan(box_problem(kind, seed, r), "sst", time_limit=5.0, seed=0)
        assert result.success, (kind, seed, result.message if hasattr(result, "message") else result)
