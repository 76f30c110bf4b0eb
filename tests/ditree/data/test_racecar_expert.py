"""The racecar expert: real PyBullet episodes in a tiny map solve, stay collision-free at every
step, repeat with the seed, save/load through ExpertDataset and re-simulate from their first state."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from ditree.cli import main
from ditree.data.dataset import DatasetError, ExpertDataset
from ditree.data.racecar_expert import RacecarExpertConfig, RacecarExpertRunner, collect
from envs.collision import AnalyticCollisionChecker
from envs.errors import DitreeInputError
from envs.racecar import RACECAR_CELL_SIZE, Racecar, RacecarParams
from envs.world import GridMap

# a loop with a dead end, 2 m per cell (the racecar's scale)
GRID = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [1, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1],
        [1, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
    ]
)
CFG = RacecarExpertConfig(min_goal_distance=4.0, max_goal_distance=10.0)


@pytest.fixture(scope="module")
def world() -> GridMap:
    return GridMap(GRID, cell_size=RACECAR_CELL_SIZE, name="loop")


@pytest.fixture(scope="module")
def ds(world) -> ExpertDataset:
    return collect(world, 4, seed=0, workers=1, cfg=CFG, progress=False)


def test_episodes_reach_the_goal_collision_free_at_every_step(ds, world):
    assert ds.robot == "racecar" and ds.num_episodes == 4
    assert ds.states.shape[1] == 24 and ds.controls.shape[1] == 2 and ds.final_states.shape == (4, 24)
    exact = AnalyticCollisionChecker(world, Racecar().footprint)
    for e in range(ds.num_episodes):
        s = ds.episode_states(e).astype(float)
        assert not exact.collides(s).any(), f"episode {e} touches a wall"
        d = np.hypot(*(s[:, :2] - ds.goals[e]).T)
        assert d[-1] <= CFG.goal_radius + 1e-5 and (d[:-1] > CFG.goal_radius - 1e-5).all()
    lo, hi = ds.metadata["robot_params"]["wheel_speed_min"], ds.metadata["robot_params"]["wheel_speed_max"]
    assert (ds.controls[:, 0] >= lo).all() and (ds.controls[:, 0] <= hi).all()
    assert (np.abs(ds.controls[:, 1]) <= 0.5 + 1e-6).all()
    m = ds.metadata
    assert m["cell_size"] == RACECAR_CELL_SIZE and m["map_hash"] == world.content_hash()
    assert m["robot_params"] == asdict(RacecarParams()) and m["expert"]["min_goal_distance"] == 4.0
    c = m["counts"]
    assert c["solved"] >= 4 and c["attempted"] == c["solved"] + sum(c["rejected"].values())


def test_same_seed_same_data_and_noise_keeps_clean_labels(world):
    noisy = RacecarExpertConfig(min_goal_distance=4.0, max_goal_distance=10.0, action_noise=0.3)
    a = collect(world, 1, seed=5, workers=1, cfg=noisy, progress=False)
    b = collect(world, 1, seed=5, workers=1, cfg=noisy, progress=False)
    assert a.content_hash() == b.content_hash()
    assert a.executed_controls is not None
    assert np.abs(a.executed_controls - a.controls).max() > 1.0  # noise was executed, labels are clean
    c = collect(world, 1, seed=6, workers=1, cfg=noisy, progress=False)
    assert c.content_hash() != a.content_hash()


def test_saved_file_loads_and_resimulates(ds, tmp_path):
    back = ExpertDataset.load(ds.save(tmp_path / "rc.npz"), expected_robot_params=asdict(RacecarParams()))
    assert back.content_hash() == ds.content_hash() and back.robot == "racecar"
    car = Racecar()
    for e in range(back.num_episodes):
        rows = back.episode_slice(e)
        x0 = back.states[rows.start].astype(float)[None]
        sim = car.rollout(x0, back.applied_controls[rows].astype(float)[None])[0]
        # the expert simulates from float32-exact starts with float32-exact controls: bit for bit
        np.testing.assert_array_equal(sim.astype(np.float32), back.episode_states(e))


def test_bad_input_errors(world, tmp_path, capsys, ds):
    with pytest.raises(ValueError, match="speed_min"):
        RacecarExpertConfig(speed_min=-1.0)
    with pytest.raises(ValueError, match="max_goal_distance"):
        RacecarExpertConfig(min_goal_distance=8.0, max_goal_distance=4.0)
    with pytest.raises(DitreeInputError, match="start_offset"):
        RacecarExpertRunner(world, RacecarExpertConfig(start_offset=1.0))
    with pytest.raises(DitreeInputError, match="loop.*apart"):
        RacecarExpertRunner(world, RacecarExpertConfig(min_goal_distance=50.0, max_goal_distance=60.0))
    # a racecar file whose states have the car's width
    with pytest.raises(DatasetError, match=r"'states' has shape \(\d+, 6\), expected \(N, 24\)"):
        ExpertDataset(ds.states[:, :6], ds.controls, ds.episode_ends, ds.final_states[:, :6], ds.goals, ds.map_grid,
                      ds.metadata)
    with pytest.raises(DatasetError, match="'tank' is not a known robot"):
        ExpertDataset(ds.states, ds.controls, ds.episode_ends, ds.final_states, ds.goals, ds.map_grid,
                      {**ds.metadata, "robot": "tank"})
    csv = tmp_path / "loop.csv"
    csv.write_text("\n".join(",".join(map(str, r)) for r in GRID))
    assert main(["collect", "--robot", "racecar", "--map", str(csv), "--episodes", "0", "--out", "x.npz"]) == 2
    assert "--episodes" in capsys.readouterr().err
    assert main(["collect", "--robot", "racecar", "--map", str(csv), "--episodes", "1", "--out", "x.npz",
                 "--cell-size", "-2"]) == 2
    assert "--cell-size" in capsys.readouterr().err


def test_cli_stats_describes_a_racecar_file(ds, tmp_path, capsys):
    path = ds.save(tmp_path / "rc.npz")
    png = tmp_path / "rc.png"
    assert main(["collect", "--stats", str(path), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "robot racecar" in text and "forward speed (m/s)" in text and "control wheel_speed" in text
    assert png.stat().st_size > 10_000
