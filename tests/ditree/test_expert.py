"""The expert: grid paths, smoothing, and collected demonstrations (real car, real checkers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ditree.data.expert import ExpertConfig, ExpertRunner, collect
from ditree.data.gridpath import GridPaths, resample, round_corners
from envs.car import Car, wrap_angle
from envs.collision import AnalyticCollisionChecker, make_checker
from envs.generators import maze
from envs.lower_bound import grid_distances
from envs.suites import suite_map
from envs.world import GridMap


@pytest.fixture(scope="module")
def world() -> GridMap:
    """A generated maze of 1 m corridors, like the training map."""
    return maze(11, 13, seed=0)


@pytest.fixture(scope="module")
def d4rl() -> GridMap:
    """The training map (its corridors are named by cell in the tests that use it)."""
    return GridMap.from_csv(suite_map("ditree_car", "d4rl_large"))


@pytest.fixture(scope="module")
def dataset(world):
    return collect(world, 20, seed=3, workers=1, progress=False)


def _pybullet(world, footprint):
    try:
        return make_checker(world, footprint, backend="pybullet")
    except Exception:  # noqa: BLE001 - PyBullet world not available: analytic-only checks
        return None


# ----------------------------------------------------------------------------- grid paths
def test_grid_paths_match_geodesic_distances_and_never_cut_corners(world):
    paths = GridPaths(world)
    for a in (0, 7, len(paths.cells) - 1):
        ref = grid_distances(world, tuple(paths.cells[a]))
        np.testing.assert_allclose(paths.dist[a], ref[paths.cells[:, 0], paths.cells[:, 1]])
        for b in (3, len(paths.cells) // 2):
            cells = paths.cell_path(a, b)
            assert tuple(cells[0]) == tuple(paths.cells[a]) and tuple(cells[-1]) == tuple(paths.cells[b])
            step = np.diff(cells, axis=0)
            assert np.all(np.abs(step).max(axis=1) == 1)
            assert not world.is_wall_cell(cells[:, 0], cells[:, 1]).any()
            diag = np.all(step != 0, axis=1)
            r, c = cells[:-1][diag], cells[:-1][diag]
            assert not world.is_wall_cell(r[:, 0] + step[diag, 0], c[:, 1]).any()
            assert not world.is_wall_cell(r[:, 0], c[:, 1] + step[diag, 1]).any()


@pytest.mark.requires_data
def test_round_corners_keeps_half_a_cell_of_clearance_around_a_corridor_corner(d4rl):
    world = d4rl
    paths = GridPaths(world)
    a, b = paths.index_of(1, 1), paths.index_of(3, 4)  # down the left corridor, then right
    centres = world.cell_to_xy(*paths.cell_path(a, b).T)
    xy, _heading, kappa = resample(round_corners(centres, 0.45), 0.05)
    assert np.all(np.hypot(*np.diff(xy, axis=0).T) <= 0.05 + 1e-9)
    np.testing.assert_allclose(xy[[0, -1]], centres[[0, -1]])
    # the arc never approaches a wall closer than the straight centre line does (0.5 m)
    walls = world.cell_to_xy(*np.argwhere(world.grid == 1).T)  # (K, 2) wall cell centres
    gap = np.maximum(np.abs(xy[:, None, :] - walls[None]) - 0.5, 0.0)
    clearance = np.hypot(gap[..., 0], gap[..., 1]).min(axis=1)
    assert clearance.min() >= 0.5 - 1e-9
    assert np.abs(kappa).max() == pytest.approx(1 / 0.45, rel=0.1)


# ----------------------------------------------------------------------------- collection
def test_kept_episodes_are_collision_free_with_margin_and_reach_their_goal(world, dataset):
    car = Car()
    cfg = ExpertConfig()
    exact = AnalyticCollisionChecker(world, car.footprint)
    safe = AnalyticCollisionChecker(world, car.footprint.inflated(cfg.safety_margin))
    pyb = _pybullet(world, car.footprint)
    assert dataset.num_episodes == 20
    for e in range(dataset.num_episodes):
        s = dataset.episode_states(e).astype(float)
        assert not exact.collides(s).any()
        assert not safe.collides(s).any()
        if pyb is not None:
            assert not pyb.collides(s).any()
        d = np.hypot(*(s[:, :2] - dataset.goals[e]).T)
        assert d[-1] <= cfg.goal_radius + 1e-5  # the episode ends inside the goal disc ...
        assert np.all(d[:-1] > cfg.goal_radius - 1e-5)  # ... at the first state there
        assert np.all((s[:, 3] >= 0) & (np.abs(s[:, 5]) <= 0.4 + 1e-6))


def test_controls_reproduce_the_recorded_states(world, dataset):
    car = Car()
    for e in range(dataset.num_episodes):
        s = dataset.episode_states(e).astype(np.float64)
        u = dataset.controls[dataset.episode_slice(e)].astype(np.float64)
        sim = car.rollout(s[:1], u[None])[0]
        # recorded in float32: agreement to float32 rounding, accumulated over the episode
        assert np.abs(sim[:, :2] - s[:, :2]).max() < 1e-3
        assert np.abs(wrap_angle(sim[:, 2] - s[:, 2])).max() < 1e-3
    # and exactly in float64, straight from the expert
    runner = ExpertRunner(world)
    res = runner.run_batch(np.random.default_rng(0), 8)
    for ep in res.episodes:
        sim = car.rollout(ep.states[:1], ep.controls[None])[0]
        np.testing.assert_allclose(sim[:-1], ep.states, atol=1e-12)
        np.testing.assert_allclose(sim[-1], ep.final_state, atol=1e-12)


def test_controls_stay_within_bounds_and_metadata_counts_add_up(dataset):
    car = Car()
    assert np.all(dataset.controls >= car.control_low - 1e-6) and np.all(dataset.controls <= car.control_high + 1e-6)
    c = dataset.metadata["counts"]
    assert c["episodes"] == 20 and c["pairs"] == dataset.num_pairs
    assert c["solved"] + sum(c["rejected"].values()) == c["attempted"]
    assert c["solved"] >= 20 and 0 < c["success_rate"] <= 1


def test_data_covers_starts_in_motion_and_goals_behind_the_car(dataset):
    first = dataset.states[np.r_[0, dataset.episode_ends[:-1]]]
    assert np.any(first[:, 3] > 0.2) and np.any(first[:, 3] == 0)
    to_goal = dataset.goals - first[:, :2]
    off = np.abs(wrap_angle(np.arctan2(to_goal[:, 1], to_goal[:, 0]) - first[:, 2]))
    assert np.any(off > 2.5)  # goals well behind the car were reached (it turned around)
    assert dataset.metadata["counts"]["behind_solved"] > 0


@pytest.mark.requires_data
def test_expert_turns_around_in_a_one_metre_corridor(d4rl):
    """At rest in the middle of the top-right corridor facing east, goal to the west: no reverse
    gear, so the expert must turn around within the corridor walls."""
    world = d4rl
    cfg = ExpertConfig()
    runner = ExpertRunner(world, cfg)
    start_cell, goal_cell = np.array([[3, 9]]), np.array([[3, 5]])
    start = np.r_[world.cell_to_xy(3, 9), 0.0, 0.0, 0.0, 0.0][None]
    goal = world.cell_to_xy(3, 5)[None]
    res = runner.solve(start, start_cell, goal, goal_cell, np.array([3.0]), keep_failed=True)
    assert res.behind[0] and res.status[0] == 0, f"failed to turn around: status {res.status[0]}"
    s = np.concatenate([res.episodes[0].states, res.episodes[0].final_state[None]])
    assert not runner.safe.collides(s).any()
    # the turn-around happened inside the corridor row (walls 0.5 m above and below its centre)
    turned = np.flatnonzero(np.abs(wrap_angle(s[:, 2])) > math.pi / 2)[0]
    assert np.all(np.abs(s[: turned + 1, 1] - start[0, 1]) < 0.5)


def test_same_seed_same_dataset_with_two_workers(world):
    a = collect(world, 6, seed=11, workers=2, progress=False)
    b = collect(world, 6, seed=11, workers=2, progress=False)
    c = collect(world, 6, seed=12, workers=2, progress=False)
    assert a.content_hash() == b.content_hash()
    for name in ("states", "controls", "episode_ends", "goals"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.content_hash() != c.content_hash()
    assert a.metadata["workers"] == 2 and a.num_episodes == 6


def test_expert_config_rejects_bad_values():
    with pytest.raises(ValueError, match="speed_min"):
        ExpertConfig(speed_min=5.0, speed_max=4.0)
    with pytest.raises(ValueError, match="moving_start_prob"):
        ExpertConfig(moving_start_prob=1.5)
    with pytest.raises(ValueError, match="safety_margin"):
        ExpertConfig(safety_margin=-0.1)
    with pytest.raises(ValueError, match="swing_times"):
        ExpertConfig(swing_times=(0.3,))
    assert ExpertConfig.from_dict(ExpertConfig().to_dict()) == ExpertConfig()


def test_maps_without_room_for_the_expert_are_refused_with_the_map_name():
    from envs.errors import DitreeInputError

    corridor = GridMap(np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]], dtype=np.uint8), name="stub_corridor")
    with pytest.raises(DitreeInputError, match="stub_corridor.*min_goal_distance"):
        ExpertRunner(corridor)


# ----------------------------------------------------------------------------- DART-style noise
NOISY = ExpertConfig(action_noise=0.3, noise_fraction=1.0, noise_hold=0.2)


def test_noisy_episodes_label_clean_controls_and_executed_controls_reproduce_the_states(world):
    ds = collect(world, 10, seed=5, workers=1, cfg=NOISY, progress=False)
    car = Car()
    assert ds.executed_controls is not None and ds.executed_controls.shape == ds.controls.shape
    assert ds.metadata["expert"]["action_noise"] == 0.3 and ds.metadata["noise"]["solved"] >= 10
    # the labels are not what was executed ...
    differs = np.any(np.abs(ds.executed_controls - ds.controls) > 1e-3, axis=1)
    assert differs.mean() > 0.5
    for u in (ds.controls, ds.executed_controls):
        assert np.all(u >= car.control_low - 1e-6) and np.all(u <= car.control_high + 1e-6)
    exact = AnalyticCollisionChecker(world, car.footprint)
    pyb = _pybullet(world, car.footprint)
    drift = []
    for e in range(ds.num_episodes):
        s = ds.episode_states(e).astype(np.float64)
        rows = ds.episode_slice(e)
        # ... the executed controls reproduce the states (to float32 rounding) ...
        sim = car.rollout(s[:1], ds.executed_controls[rows].astype(np.float64)[None])[0]
        assert np.abs(sim[:, :2] - s[:, :2]).max() < 1e-3
        assert np.abs(wrap_angle(sim[:, 2] - s[:, 2])).max() < 1e-3
        # ... and the labels do not: re-simulating them ends elsewhere
        clean = car.rollout(s[:1], ds.controls[rows].astype(np.float64)[None])[0]
        drift.append(np.hypot(*(clean[-1, :2] - s[-1, :2])))
        # what was executed is collision-free with the exact footprint and reaches the goal
        assert not exact.collides(s).any()
        if pyb is not None:
            assert not pyb.collides(s).any()
        assert np.hypot(*(s[-1, :2] - ds.goals[e])) <= ExpertConfig().goal_radius + 1e-5
    assert max(drift) > 0.2


def test_noisy_labels_are_the_expert_law_at_the_visited_states(world):
    """Replaying the recorded (perturbed) states through a fresh copy of the tracking law gives
    back exactly the recorded labels: they are the expert's clean controls there."""
    from ditree.data.expert import PurePursuitExpert, build_references

    runner = ExpertRunner(world, NOISY)
    starts, s_cells, goals, g_cells, v_des = runner.sample_problems(np.random.default_rng(4), 6)
    refs = build_references(runner.paths, starts, s_cells, goals, g_cells, v_des, NOISY)
    side = np.ones(6)
    sim = runner.simulate(starts, goals, refs, v_des, side, noisy=np.ones(6, bool),
                          noise_rng=np.random.default_rng(9))
    assert np.abs(sim.executed - sim.controls).max() > 0.1
    law = PurePursuitExpert(runner.car, NOISY, refs, side)
    for t in range(int(sim.end.max())):
        rows = np.flatnonzero(t < sim.end)
        np.testing.assert_allclose(law(sim.states[rows, t], rows), sim.controls[rows, t], atol=1e-12)
    # the executed controls re-simulate the states exactly in float64
    for b in range(6):
        e = sim.end[b]
        out = Car().rollout(sim.states[b, :1], sim.executed[b, None, :e])[0]
        np.testing.assert_allclose(out, sim.states[b, : e + 1], atol=1e-12)


def test_noise_off_keeps_the_data_and_metadata_as_before(world):
    ds = collect(world, 3, seed=2, workers=1, progress=False)
    assert ds.executed_controls is None and "action_noise" not in ds.metadata["expert"]
    assert "noise" not in ds.metadata
    half = collect(world, 3, seed=2, workers=1, cfg=ExpertConfig(action_noise=0.3, noise_fraction=0.0),
                   progress=False)  # a zero fraction is no noise at all
    np.testing.assert_array_equal(half.states, ds.states)
    assert half.executed_controls is None


def test_noise_settings_are_validated():
    with pytest.raises(ValueError, match="noise_fraction"):
        ExpertConfig(action_noise=0.2, noise_fraction=1.5)
    with pytest.raises(ValueError, match="action_noise"):
        ExpertConfig(action_noise=-0.1)
    assert ExpertConfig.from_dict(NOISY.to_dict()) == NOISY
    assert ExpertConfig.from_dict(ExpertConfig().to_dict()) == ExpertConfig()
