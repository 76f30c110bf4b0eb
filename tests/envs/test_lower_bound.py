"""The duration lower bound: exact where the answer is known, below the grid geodesic, close to an
independent fine-grid shortest path, and below every validated path the planners return."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from envs.car import Car
from envs.lower_bound import clearance_margin, duration_lower_bound, geodesic_distance
from envs.problem import Problem, suite_problem, suite_scenario_list, test_problem, validation_problem
from envs.robot import make_robot
from envs.world import GridMap

CAR = Car()


def _grid_bound(p: Problem) -> float:
    """The former bound: 8-connected grid geodesic between cell centres, minus the radius, at top speed."""
    d = geodesic_distance(p.world, p.start_cell, p.goal_cell)
    return max(d - p.goal_radius, 0.0) / p.robot.top_speed


def _straight(p: Problem) -> float:
    return max(float(np.linalg.norm(p.start[:2] - p.goal)) - p.goal_radius, 0.0) / p.robot.top_speed


def _open_map(h: int = 9, w: int = 12) -> GridMap:
    g = np.zeros((h, w), dtype=np.uint8)
    g[0, :] = g[-1, :] = g[:, 0] = g[:, -1] = 1
    return GridMap(g, name="open")


def _fine_grid_path(p: Problem, res: float = 0.05) -> float:
    """Independent reference (m): a 16-connected shortest path on a fine lattice of points at least the
    clearance margin from every wall (distance to the exact cell squares). Lattice paths are never
    shorter than the any-angle shortest path, and at most a few per cent longer."""
    w, s, m = p.world, p.world.cell_size, clearance_margin(p.robot)
    x_min, x_max, y_min, y_max = w.bounds
    xs, ys = np.arange(x_min + res / 2, x_max, res), np.arange(y_max - res / 2, y_min, -res)
    X, Y = np.meshgrid(xs, ys)
    walls = np.ones((w.shape[0] + 2, w.shape[1] + 2), dtype=bool)
    walls[1:-1, 1:-1] = w.grid.astype(bool)
    free = np.ones(X.shape, dtype=bool)
    for i, j in np.argwhere(walls):
        cx, cy = x_min + (j - 0.5) * s, y_max - (i - 0.5) * s
        dx, dy = np.maximum(np.abs(X - cx) - s / 2, 0), np.maximum(np.abs(Y - cy) - s / 2, 0)
        free &= np.hypot(dx, dy) >= m
    idx = -np.ones(X.shape, dtype=np.int64)
    idx[free] = np.arange(free.sum())
    rows, cols, weights = [], [], []
    H, W = X.shape
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1)):
        r, c = np.nonzero(np.ones((H, W), dtype=bool))
        r2, c2 = r + dr, c + dc
        ok = (r2 < H) & (c2 >= 0) & (c2 < W)
        r, c, r2, c2 = r[ok], c[ok], r2[ok], c2[ok]
        good = free[r, c] & free[r2, c2]
        rows.append(idx[r[good], c[good]])
        cols.append(idx[r2[good], c2[good]])
        weights.append(np.full(good.sum(), res * math.hypot(dr, dc)))
    n = int(free.sum())
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    src = idx[np.argmin(np.abs(ys - p.start[1])), np.argmin(np.abs(xs - p.start[0]))]
    dist = dijkstra(graph.tocsr(), directed=False, indices=src)
    near_goal = np.hypot(X[free] - p.goal[0], Y[free] - p.goal[1]) <= p.goal_radius
    return float(dist[near_goal].min())


def test_clearance_margin_of_the_car():
    r, h = 0.1, CAR.top_speed * CAR.dt
    assert clearance_margin(CAR) == pytest.approx(math.sqrt(r * r - h * h / 4))
    assert 0 < clearance_margin(CAR) < 0.5 * CAR.footprint.width


def test_open_map_is_the_straight_line():
    world = _open_map()
    for start, goal in (((1, 1), (7, 10)), ((4, 2), (4, 9)), ((1, 10), (7, 1))):
        p = Problem.from_cells(world, start_cell=start, start_deg=0, goal_cell=goal, name="open")
        assert duration_lower_bound(p) == pytest.approx(_straight(p), abs=1e-12)
        assert duration_lower_bound(p) <= _grid_bound(p)


def test_goal_inside_the_radius_gives_zero():
    world = _open_map()
    p = Problem.from_cells(world, start_cell=(4, 4), start_deg=0, goal_cell=(4, 4), name="same")
    assert duration_lower_bound(p) == 0.0


def test_a_wall_in_the_way_makes_it_longer_than_the_straight_line():
    g = _open_map(9, 11).grid.copy()
    g[1:7, 5] = 1  # a wall from the top, open at the bottom (row 7)
    world = GridMap(g, name="wall")
    p = Problem.from_cells(world, start_cell=(1, 2), start_deg=0, goal_cell=(1, 8), name="wall")
    lb = duration_lower_bound(p)
    assert lb > _straight(p) * 1.5
    assert lb < _grid_bound(p)
    # The shortest path wraps the wall's grown tip, an octagon: its two lower-left and two
    # lower-right corners, so its length is known exactly.
    s, m = world.cell_size, clearance_margin(p.robot)
    cx, cy = world.cell_to_xy(6, 5)
    bottom = cy - s / 2
    corners = np.array([[cx - s / 2 - m, bottom], [cx - s / 2, bottom - m], [cx + s / 2, bottom - m],
                        [cx + s / 2 + m, bottom]])
    pts = np.concatenate([p.start[None, :2], corners, p.goal[None]])
    exact = (np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() - p.goal_radius) / p.robot.top_speed
    assert lb == pytest.approx(exact, rel=1e-9)


def test_unreachable_goal_is_infinite():
    g = _open_map(7, 9).grid.copy()
    g[:, 4] = 1
    p = Problem.from_cells(GridMap(g, name="split"), start_cell=(3, 1), start_deg=0, goal_cell=(3, 7), name="split")
    assert duration_lower_bound(p) == math.inf


def _all_paper_problems(robot=None) -> list[Problem]:
    kw = {} if robot is None else {"robot": robot}
    return [suite_problem(s.name, "ditree_car", **kw) for s in suite_scenario_list("ditree_car")]


@pytest.mark.requires_data
def test_never_above_the_grid_geodesic_and_never_below_the_straight_line():
    for p in _all_paper_problems():
        lb = duration_lower_bound(p)
        assert _straight(p) - 1e-9 <= lb <= _grid_bound(p) + 1e-9, p.name


@pytest.mark.requires_data
def test_racecar_maps_at_two_metre_cells():
    racecar = make_robot("racecar")
    for name in ("val_maze_small", "val_maze_xlarge"):
        p = validation_problem(name, robot=racecar)
        assert p.world.cell_size == 2.0
        lb = duration_lower_bound(p)
        assert _straight(p) < lb <= _grid_bound(p), name


@pytest.mark.requires_data
@pytest.mark.parametrize("name", ["Race Track", "narrow", "random large2"])
def test_close_to_an_independent_fine_grid_path_and_below_it(name):
    p = test_problem(name)
    ref = _fine_grid_path(p) / p.robot.top_speed
    lb = duration_lower_bound(p)
    assert lb <= ref
    assert lb >= 0.95 * ref  # tight: lattice paths are at most a few per cent longer


@pytest.mark.requires_data
@pytest.mark.parametrize("planner", ["rrt", "sst"])
def test_below_every_validated_planner_path(planner):
    from ditree.api import plan

    for name in ("val_maze_small", "val_maze_large", "val_maze_xlarge"):
        p = validation_problem(name)
        res = plan(p, planner=planner, time_limit=20.0, seed=0)
        assert res.success and res.validated, (name, res.reason)
        assert res.lower_bound_s == pytest.approx(duration_lower_bound(p))
        assert res.path_duration_s >= res.lower_bound_s, name
        assert res.duration_ratio >= 1.0
