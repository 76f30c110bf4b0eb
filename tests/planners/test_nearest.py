"""The incremental nearest-neighbour structures agree with brute force while points are inserted."""

import numpy as np
import pytest

from planners.nearest import BruteNearest, GridNearest, LogKDTree

BOUNDS = (-5.0, 5.0, -4.0, 4.0)


@pytest.mark.parametrize("make", [lambda: LogKDTree(dim=2, buffer=16), lambda: GridNearest(BOUNDS, cell=0.5)],
                         ids=["logkd", "grid"])
def test_agrees_with_brute_force_during_insertion(make):
    rng = np.random.default_rng(3)
    index, brute = make(), BruteNearest(2)
    for step in range(80):
        # clustered growth like a tree, plus a few far points; queries anywhere in the map
        centre = rng.uniform(-4, 4, 2)
        pts = centre + rng.normal(0, 0.3, (int(rng.integers(1, 40)), 2))
        index.add(pts)
        brute.add(pts)
        q = rng.uniform(-5, 5, (50, 2))
        i, d = index.query(q)
        _, e = brute.query(q)
        np.testing.assert_allclose(d, e, rtol=0, atol=1e-12, err_msg=f"step {step}")
        np.testing.assert_allclose(np.linalg.norm(brute.points[i] - q, axis=1), e, atol=1e-12)
        # the newest points are visible at once
        last = pts[-1:]
        assert index.query(last)[1][0] == 0.0
    assert len(index) == len(brute)


def test_masked_and_radius_queries_agree_with_brute_force():
    rng = np.random.default_rng(5)
    index = LogKDTree(dim=3, buffer=8)
    pts = np.empty((0, 3))
    for _ in range(30):
        new = rng.uniform(-2, 2, (int(rng.integers(1, 30)), 3))
        index.add(new)
        pts = np.concatenate([pts, new])
        alive = rng.random(len(pts)) < 0.3
        key = rng.random(len(pts))
        q = rng.uniform(-2, 2, (40, 3))
        d = np.linalg.norm(q[:, None] - pts[None], axis=-1)
        ids, dist = index.query(q, alive=alive)
        if alive.any():
            np.testing.assert_allclose(dist, np.where(alive[None], d, np.inf).min(1), atol=1e-12)
            assert alive[ids].all()
        else:
            assert (ids == -1).all()
        r = 0.7
        best = index.query_radius_min(q, r, key, alive, k=len(pts))
        within = (d <= r) & alive[None]
        expect = np.where(within.any(1), np.argmin(np.where(within, key[None], np.inf), axis=1), -1)
        np.testing.assert_array_equal(best, expect)


def test_radius_min_is_exact_with_few_neighbours_asked_and_ties_go_to_the_smallest_id():
    rng = np.random.default_rng(7)
    index = LogKDTree(dim=2, buffer=8)
    pts = rng.uniform(-1, 1, (300, 2))
    for chunk in np.array_split(pts, 17):
        index.add(chunk)
    key = rng.integers(0, 4, len(pts)).astype(float)  # many equal keys
    alive = rng.random(len(pts)) < 0.5
    q = rng.uniform(-1, 1, (60, 2))
    within = (np.linalg.norm(q[:, None] - pts[None], axis=-1) <= 0.6) & alive[None]
    k = np.where(within, key[None], np.inf)
    expect = np.where(within.any(1), np.argmin(k, axis=1), -1)  # argmin: the first (smallest) id of the least key
    np.testing.assert_array_equal(index.query_radius_min(q, 0.6, key, alive, k=2), expect)
    # the approximation: an alive point within r wherever the exact answer exists, never a cheaper one
    approx = index.query_radius_min(q, 0.6, key, alive, k=2, exact=False)
    got = approx >= 0
    assert np.all(expect[got] >= 0) and within[np.flatnonzero(got), approx[got]].all()
    assert np.all(key[approx[got]] >= key[expect[got]])
    assert np.any(key[approx[got]] > key[expect[got]])  # k=2 per block really is an approximation here


def test_drop_dead_answers_as_keeping_every_point():
    """With points that die for good, an index that leaves dead points out of its blocks answers
    every alive query exactly as one that keeps them, and both agree with brute force."""
    rng = np.random.default_rng(11)
    lean, full = LogKDTree(dim=3, buffer=8, drop_dead=True), LogKDTree(dim=3, buffer=8)
    pts = np.empty((0, 3))
    alive = np.zeros(0, dtype=bool)
    for _ in range(60):
        new = rng.uniform(-2, 2, (int(rng.integers(1, 20)), 3))
        pts = np.concatenate([pts, new])
        alive = np.concatenate([alive, np.ones(len(new), bool)])
        alive &= rng.random(len(alive)) > 0.1  # some die, none come back
        lean.add(new, alive)
        full.add(new)
        key = np.floor(rng.random(len(pts)) * 5)
        q = rng.uniform(-2, 2, (30, 3))
        a, b = lean.query(q, alive=alive), full.query(q, alive=alive)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(lean.query_radius_min(q, 0.8, key, alive, k=4),
                                      full.query_radius_min(q, 0.8, key, alive, k=4))
    assert lean._dropped > 0 and len(lean) == len(pts)
    held = sum(len(ids) if ids is not None else s1 - s0 for s0, s1, _, ids in lean._blocks)
    assert held < lean._buf_start  # the dead are really left out
    with pytest.raises(ValueError, match="must pass alive"):
        lean.query(q)
    with pytest.raises(ValueError, match="needs alive"):
        lean.add(q)
