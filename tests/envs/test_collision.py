"""Collision checking: analytic SAT vs PyBullet (random and grazing poses), hand-made cases, checked rollouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.car import Car
from envs.collision import AnalyticCollisionChecker, checked_rollout, make_checker
from envs.footprint import CAR_FOOTPRINT
from envs.generators import forest, maze, rooms, serpentine
from envs.pybullet_world import DEFAULT_MARGIN, PyBulletCollisionChecker, near_contact_poses
from envs.suites import suite_map
from envs.world import GridMap

CAR = Car()
HL, HW = CAR_FOOTPRINT.half_length, CAR_FOOTPRINT.half_width


@pytest.fixture(scope="module")
def worlds() -> dict[str, GridMap]:
    """Generated worlds: corridors, open space with single-cell obstacles, rooms, a serpentine."""
    return {
        "maze": maze(21, 25, seed=0, loop_fraction=0.2),
        "forest": forest(20, 20, seed=1, density=0.2),
        "rooms": rooms(21, 21, seed=2),
        "serpentine": serpentine(15, 21, seed=3),
        "wide_maze": maze(25, 25, seed=4, corridor=2),
    }


@pytest.fixture(scope="module")
def pybullet_checkers(worlds):
    checkers = {name: PyBulletCollisionChecker(w) for name, w in worlds.items()}
    yield checkers
    for c in checkers.values():
        c.close()


def uniform_poses(world: GridMap, n: int, rng: np.random.Generator) -> np.ndarray:
    x0, x1, y0, y1 = world.bounds
    return np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), rng.uniform(-math.pi, math.pi, n)])


def test_analytic_and_pybullet_agree_on_random_and_near_contact_poses(worlds, pybullet_checkers):
    rng = np.random.default_rng(0)
    total = disagree = false_free = far = near_total = 0
    report = []
    for name, world in worlds.items():
        # 1,200 poses anywhere in the map (walls included) + 1,200 placed within 10 um..3 mm of a
        # wall face or wall corner, on either side
        poses = np.concatenate([uniform_poses(world, 1200, rng), near_contact_poses(world, 1200, rng)])
        exact = AnalyticCollisionChecker(world).collides(poses)
        got = pybullet_checkers[name].collides(poses)
        # PyBullet's 1 um margin may only matter for a pose that grazes some wall within it
        grazing = AnalyticCollisionChecker(world, CAR_FOOTPRINT.inflated(1.5 * DEFAULT_MARGIN)).collides(poses)
        differ = got != exact
        d, ff, fa = int(differ.sum()), int((exact & ~got).sum()), int((differ & ~grazing).sum())
        total, disagree, false_free, far = total + len(poses), disagree + d, false_free + ff, far + fa
        near_total += 1200
        report.append(
            f"{name}: {d} disagree, {ff} PyBullet-free overlaps, {exact[1200:].mean():.0%} near-contact colliding"
        )
        assert 0.2 < exact[1200:].mean() < 0.9  # the near-contact set really straddles contact
    assert total >= 10_000 and near_total >= 5_000
    msg = (
        f"{disagree} of {total} poses disagree ({false_free} where PyBullet says free but the rectangle overlaps "
        f"a wall, {far} not within 1.5 um of contact): " + "; ".join(report)
    )
    assert false_free == 0, msg
    assert far == 0, msg
    assert disagree <= 2, msg  # grazing some other wall within 1 um by chance: about 1 in 25,000 poses


@pytest.mark.requires_data
def test_a_car_body_does_not_inherit_its_previous_contact():
    """Regression: Bullet re-validates old contact points under the new pose, and a point whose car
    moved along the contact normal survives (here as 1.38 m "deep" after the car left the wall).
    Found by the agreement benchmark; the checker now empties the manifolds of cars that had contacts."""
    world = GridMap.from_csv(suite_map("ditree_car", "random_huge"))
    inside = np.array([[3.60638, -9.69007, -0.71491]])
    free = np.array([[3.47577, -8.30904, -1.37768]])
    exact = AnalyticCollisionChecker(world)
    assert exact.collides(inside)[0] and not exact.collides(free)[0]
    with PyBulletCollisionChecker(world, broad_phase=False) as checker:
        assert checker.collides(inside)[0]
        assert not checker.collides(free)[0]
        assert not checker.collides(free)[0]


def test_pybullet_is_conservative_on_grazing_poses(worlds, pybullet_checkers):
    """Within 1 nm..10 um of contact PyBullet may call a free pose colliding (its margin), never the reverse."""
    rng = np.random.default_rng(1)
    world = worlds["forest"]
    poses = near_contact_poses(world, 4000, rng, min_offset=1e-9, max_offset=1e-5)
    exact = AnalyticCollisionChecker(world).collides(poses)
    got = pybullet_checkers["forest"].collides(poses)
    false_free = exact & ~got
    assert not false_free.any(), f"{false_free.sum()} overlapping poses called free by PyBullet"
    extra = got & ~exact
    # every extra collision comes within the margin (1 um; sqrt(2) um at a box corner) of a wall
    within_margin = AnalyticCollisionChecker(world, CAR_FOOTPRINT.inflated(1.5 * DEFAULT_MARGIN)).collides(poses)
    assert within_margin[extra].all(), f"{(extra & ~within_margin).sum()} poses far from contact called colliding"
    assert extra.any()  # the grazing band is exercised


def test_broad_phase_changes_nothing_but_the_work(worlds):
    rng = np.random.default_rng(2)
    world = worlds["maze"]
    poses = np.concatenate([uniform_poses(world, 3000, rng), near_contact_poses(world, 1000, rng)])
    poses = np.concatenate([poses, [[100.0, 0.0, 0.0], [np.nan, 0.0, 0.0], [0.0, 0.0, np.inf]]])
    with (
        PyBulletCollisionChecker(world, broad_phase=True) as fast,
        PyBulletCollisionChecker(world, broad_phase=False) as slow,
    ):
        a, b = fast.collides(poses), slow.collides(poses)
        np.testing.assert_array_equal(a, b)
        assert a[-3:].all()  # outside the map or not finite: collision
        assert fast.n_narrow < 0.5 * fast.n_queries and slow.n_narrow == len(poses) - 3
    np.testing.assert_array_equal(a[:-3], AnalyticCollisionChecker(world).collides(poses[:-3]))


def test_batches_of_every_size_agree(worlds):
    world = worlds["rooms"]
    rng = np.random.default_rng(3)
    poses = np.concatenate([uniform_poses(world, 300, rng), near_contact_poses(world, 300, rng)])
    exact = AnalyticCollisionChecker(world).collides(poses)
    with PyBulletCollisionChecker(world, broad_phase=False, batch_size=7) as small:
        # shrinking and growing batches: unused cars must be parked, no stale contact may survive
        for chunk in (600, 5, 1, 333, 64):
            got = np.concatenate([small.collides(poses[i : i + chunk]) for i in range(0, len(poses), chunk)])
            np.testing.assert_array_equal(got, exact)
    for broad in (True, False):  # the one-pose fast path, after batches too
        with PyBulletCollisionChecker(world, broad_phase=broad) as one:
            one.collides(poses[200:])
            got = np.array([one.collides(q[None])[0] for q in poses[:300]])
            np.testing.assert_array_equal(got, exact[:300])
            got = np.array([one.collides_pose(*q) for q in poses[300:]])
            np.testing.assert_array_equal(got, exact[300:])


# ---------------------------------------------------------------- hand-made cases
def corridor_world() -> GridMap:
    """An L-shaped corridor: row 1 from col 1 to col 3, then col 3 down to row 3 (5 x 5 map)."""
    g = np.ones((5, 5), dtype=np.uint8)
    g[1, 1:4] = 0
    g[1:4, 3] = 0
    return GridMap(g, name="L")


@pytest.fixture(params=["analytic", "pybullet"])
def checker_kind(request):
    return request.param


def check(world: GridMap, kind: str, poses) -> np.ndarray:
    checker = make_checker(world, backend=kind)
    try:
        return checker.collides(np.asarray(poses, dtype=float))
    finally:
        if kind == "pybullet":
            checker.close()


def test_hand_made_cases(checker_kind):
    w = corridor_world()
    x, y = w.cell_to_xy(1, 1)
    poses = [
        [x, y, 0.0],  # centred in a free cell: free
        [x, y, 1.0],
        [x - 0.5 + HL - 0.01, y, 0.0],  # nose... the rear 1 cm into the wall on the left
        [x, y + 0.5 - HW + 0.001, 0.0],  # the left side 1 mm into the wall above
        [x, y + 0.5 - HW - 0.001, 0.0],  # 1 mm clear of it
        [x - 0.5 + HL + 2e-6, y, 0.0],  # 2 um clear of the wall on the left: free
        [x + 0.5, y, 0.0],  # between two free cells: free
        [x - 0.5, y, 0.0],  # straddling the left wall's edge: collision
        [x, y, math.pi / 2],  # turned 90 deg in a 1 m corridor: free
    ]
    np.testing.assert_array_equal(check(w, checker_kind, poses), [0, 0, 1, 1, 0, 0, 0, 1, 0])


def test_exact_touching():
    """Touching is free for the exact test; PyBullet's 1 um margin calls it a collision (conservative),
    unless the margin is switched off."""
    w = corridor_world()
    x, y = w.cell_to_xy(1, 1)
    touching = np.array([[x - 0.5 + HL, y, 0.0], [x, y + 0.5 - HW, 0.0], [x, y + 0.5 - HL, math.pi / 2]])
    assert not AnalyticCollisionChecker(w).collides(touching).any()
    with PyBulletCollisionChecker(w) as conservative:
        assert conservative.collides(touching).all()
    with PyBulletCollisionChecker(w, margin=0.0) as exact:
        assert not exact.collides(touching).any()
        assert exact.collides(touching - [1e-9, 0.0, 0.0])[0]  # 1 nm of overlap on an axis-aligned face


def test_car_at_45_degrees_in_the_corridor_corner(checker_kind):
    w = corridor_world()
    # the inner corner of the L: the top-right corner of wall cell (2, 2)
    corner = w.cell_to_xy(2, 2) + 0.5
    u = np.array([1.0, 1.0]) / math.sqrt(2)  # diagonal away from the corner, into the bend
    poses = []
    for yaw, reach in ((math.pi / 4, HL), (-math.pi / 4, HW)):  # long or short axis towards the corner
        for t in (reach + 0.002, reach - 0.002):
            poses.append([*(corner + t * u), yaw])
    poses.append([*w.cell_to_xy(1, 3), math.pi / 4])  # centred in the bend cell: free
    poses.append([*w.cell_to_xy(1, 3), 3 * math.pi / 4])
    np.testing.assert_array_equal(check(w, checker_kind, poses), [0, 1, 0, 1, 0, 0])


# ---------------------------------------------------------------- checked rollouts
def open_world(H: int = 7, W: int = 12) -> GridMap:
    g = np.zeros((H, W), dtype=np.uint8)
    g[0], g[-1], g[:, 0], g[:, -1] = 1, 1, 1, 1
    return GridMap(g, name="open")


def per_step(checker, states: np.ndarray) -> np.ndarray:
    """Collision of every state ``(N, T+1, 6)``, one query per state."""
    N, T1, _ = states.shape
    return np.array([[checker.collides(states[n, t][None])[0] for t in range(T1)] for n in range(N)])


def test_straight_drive_into_a_wall(checker_kind):
    w = open_world()
    checker = make_checker(w, backend=checker_kind)
    # three cars in row 3 heading +x at different speeds, towards the east wall at x = 5
    starts = np.array([CAR.rest_state(*w.cell_to_xy(3, c), 0.0) for c in (2, 5, 8)])
    starts[:, 3] = [3.0, 2.0, 1.0]
    starts[:, 4] = 1.0
    T = 120
    goal = w.cell_to_xy(3, 9)  # 1.5 m before the wall, reached by all before they crash
    res = checked_rollout(CAR, checker, starts, np.zeros((3, T, 2)), goal=goal, goal_radius=0.5)
    truth = per_step(checker, res.states)
    assert not truth[:, 0].any()
    first = np.array([np.flatnonzero(row)[0] for row in truth])
    np.testing.assert_array_equal(res.first_collision, first)
    # the first collision is where the nose passes the wall face (x = 5 - 1 = 4 m ... the wall cell
    # col 11 starts at x = 5): the state before is clear of it, the state at it is not
    nose = res.states[np.arange(3), first, 0] + HL
    nose_before = res.states[np.arange(3), first - 1, 0] + HL
    assert np.all(nose > 5.0) and np.all(nose_before <= 5.0)
    d = np.linalg.norm(res.states[..., :2] - goal, axis=-1)
    first_goal = np.array([np.flatnonzero(row[1:] <= 0.5)[0] + 1 for row in d])
    np.testing.assert_array_equal(res.first_goal, first_goal)
    assert np.all(first_goal < first)
    np.testing.assert_array_equal(res.valid_length, first_goal)
    # with no goal the usable prefix ends just before the crash
    no_goal = checked_rollout(CAR, checker, starts, np.zeros((3, T, 2)))
    np.testing.assert_array_equal(no_goal.first_goal, [-1, -1, -1])
    np.testing.assert_array_equal(no_goal.valid_length, first - 1)
    # a goal behind the wall is never reached: the hit after the crash does not count
    behind = checked_rollout(
        CAR, checker, starts, np.zeros((3, T, 2)), goal=[5.5, w.cell_to_xy(3, 9)[1]], goal_radius=0.6
    )
    np.testing.assert_array_equal(behind.first_goal, [-1, -1, -1])
    if checker_kind == "pybullet":
        checker.close()


def find_brief_graze(world: GridMap, T: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Rollouts at full steering lock that clip the corner of a wall block for 1-3 steps, none of
    them a multiple of 4 (the steps the paper's reference code checks). Returns (starts, collisions)."""
    rng = np.random.default_rng(7)
    checker = AnalyticCollisionChecker(world)
    corner = world.cell_to_xy(3, 5) + [-0.5, -0.5]  # bottom-left corner of the wall block
    n = 20000
    starts = np.zeros((n, 6))
    starts[:, :2] = corner + rng.uniform(-0.9, 0.0, (n, 2))
    starts[:, 2] = rng.uniform(-math.pi, math.pi, n)
    starts[:, 3] = rng.uniform(1.0, 4.0, n)
    starts[:, 4] = 1.0
    starts[:, 5] = rng.choice([-0.4, 0.4], n)
    states = CAR.rollout(starts, np.zeros((n, T, 2)))
    coll = checker.collides(states.reshape(-1, 6)).reshape(n, T + 1)
    steps = np.arange(T + 1)
    runs = np.abs(np.diff(coll.astype(int), axis=1)).sum(axis=1)  # 2 = one run inside the window
    brief = ~coll[:, 0] & (runs == 2) & (coll.sum(axis=1) <= 3) & ~(coll & (steps % 4 == 0)).any(axis=1)
    return starts[brief], coll[brief]


def test_a_brief_graze_between_every_4th_step_is_caught(checker_kind):
    g = np.zeros((9, 11), dtype=np.uint8)
    g[0], g[-1], g[:, 0], g[:, -1] = 1, 1, 1, 1
    g[1:4, 5:8] = 1  # a wall block hanging from the top wall
    w = GridMap(g, name="graze")
    starts, truth = find_brief_graze(w)
    assert len(starts) >= 5, "no brief grazing rollout constructed"
    starts, truth = starts[:20], truth[:20]
    checker = make_checker(w, backend=checker_kind)
    res = checked_rollout(CAR, checker, starts, np.zeros((len(starts), truth.shape[1] - 1, 2)))
    first = np.array([np.flatnonzero(row)[0] for row in truth])
    np.testing.assert_array_equal(res.first_collision, first)
    np.testing.assert_array_equal(per_step(checker, res.states), truth)
    assert np.all(first % 4 != 0) and truth.sum(axis=1).max() <= 3
    # checking only every 4th state would have missed every one of these collisions
    assert not checker.collides(res.states[:, 4::4].reshape(-1, 6)).any()
    if checker_kind == "pybullet":
        checker.close()


def test_checked_rollout_goal_and_valid_length_on_a_batch():
    w = open_world()
    checker = AnalyticCollisionChecker(w)
    starts = np.array([CAR.rest_state(*w.cell_to_xy(3, 2), 0.0)] * 2)
    starts[:, 3], starts[:, 4] = 2.0, 1.0
    goals = np.array([w.cell_to_xy(3, 4), w.cell_to_xy(1, 2)])  # per-sequence goals: one ahead, one off the path
    res = checked_rollout(CAR, checker, starts, np.zeros((2, 40, 2)), goal=goals, goal_radius=0.5)
    assert res.first_goal[0] > 0 and res.first_goal[1] == -1
    d0 = np.linalg.norm(res.states[0, :, :2] - goals[0], axis=1)
    assert d0[res.first_goal[0]] <= 0.5 < d0[res.first_goal[0] - 1]
    np.testing.assert_array_equal(res.first_collision, [-1, -1])
    np.testing.assert_array_equal(res.valid_length, [res.first_goal[0], 40])
