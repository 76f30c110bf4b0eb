"""Generated worlds: seeded, bordered, one connected free space; start/goal pairs; bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from envs.errors import DitreeInputError
from envs.generators import (
    GENERATORS,
    free_space_connected,
    generate,
    generated_problem,
    maze,
    random_start_goal,
    rooms,
    serpentine,
)
from envs.lower_bound import geodesic_distance
from envs.world import random_maze

SHAPES = [(15, 15), (21, 31), (12, 9)]


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_same_seed_same_world_other_seed_other_world(kind):
    a, b = generate(kind, 21, 21, seed=3), generate(kind, 21, 21, seed=3)
    np.testing.assert_array_equal(a.grid, b.grid)
    assert a.name == f"{kind}_21x21_s3"
    others = [generate(kind, 21, 21, seed=s).grid for s in (4, 5, 6)]
    assert any(not np.array_equal(a.grid, o) for o in others)


@pytest.mark.parametrize("kind", list(GENERATORS))
@pytest.mark.parametrize("shape", SHAPES)
def test_worlds_have_a_wall_border_and_one_connected_free_space(kind, shape):
    for seed in range(8):
        g = generate(kind, *shape, seed=seed).grid
        assert g.shape == shape
        assert g[0].all() and g[-1].all() and g[:, 0].all() and g[:, -1].all()
        assert free_space_connected(g) and 0.1 < (g == 0).mean() < 0.95


def test_connectivity_check_sees_a_cut():
    g = np.ones((5, 7), dtype=np.uint8)
    g[1:4, 1:6] = 0
    assert free_space_connected(g)
    g[1:4, 3] = 1
    assert not free_space_connected(g)


def test_shape_parameters_do_what_they_say():
    np.testing.assert_array_equal(maze(15, 21, seed=2).grid, random_maze(15, 21, seed=2).grid)
    wide = maze(25, 25, seed=1, corridor=2).grid  # corridors 2 cells wide between 1-cell walls
    assert wide[1:3, 1:3].sum() == 0 and wide[:, 1:3].any()
    assert wide[1:23:3, 1:23:3].sum() == 0 and wide[1:23:3, 2:23:3].sum() == 0  # every room is 2 x 2 free
    r = rooms(31, 31, seed=0, room=4, door=2).grid
    assert (r == 1).sum() > 4 * 31  # inner walls beyond the border
    s = serpentine(15, 15, seed=0, corridor=2).grid
    assert free_space_connected(s) and (s == 0).mean() < 0.8


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_start_and_goal_are_free_far_apart_and_seeded(kind):
    world = generate(kind, 21, 21, seed=1)
    start, deg, goal = random_start_goal(world, seed=7)
    assert (start, deg, goal) == random_start_goal(world, seed=7)
    assert world.is_free_cell(*start) and world.is_free_cell(*goal) and deg in (0.0, 90.0, 180.0, 270.0)
    assert geodesic_distance(world, start, goal) > 5.0
    p = generated_problem(kind, 1, 21, 21)
    assert p.world.name == world.name and p.meta["generator"] == {"kind": kind, "seed": 1, "rows": 21, "cols": 21}


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(DitreeInputError, match="unknown world kind 'cave'"):
        generate("cave", 9, 9, 0)
    with pytest.raises(DitreeInputError, match=r"takes no parameter\(s\) \['density'\]"):
        generate("maze", 9, 9, 0, density=0.3)
    with pytest.raises(DitreeInputError, match="density must lie in"):
        generate("forest", 9, 9, 0, density=0.9)
    with pytest.raises(DitreeInputError, match="cannot hold a corridor 5 cells wide"):
        maze(5, 5, seed=0, corridor=5)
    with pytest.raises(DitreeInputError, match="rows and cols must be integers >= 3"):
        rooms(2, 9, seed=0)
