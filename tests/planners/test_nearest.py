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
