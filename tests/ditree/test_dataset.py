"""The expert dataset file: round trip, hashes, schema errors, and the ``ditree collect`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ditree.cli import main
from ditree.data.dataset import DatasetError, ExpertDataset
from ditree.data.expert import collect
from envs.car import CarParams
from envs.errors import DitreeInputError
from envs.generators import maze

WORLD = maze(9, 13, seed=0)
"""A generated maze of 1 m corridors, like the training map."""


@pytest.fixture(scope="module")
def map_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("map") / f"{WORLD.name}.csv"
    WORLD.to_csv(path)
    return path


@pytest.fixture(scope="module")
def ds() -> ExpertDataset:
    return collect(WORLD, 5, seed=1, workers=1, progress=False)


@pytest.fixture()
def saved(ds, tmp_path):
    return ds.save(tmp_path / "d.npz")


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path, out, **changes):
    arrays = _arrays(path)
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(out, **arrays)
    return out


def test_round_trip_keeps_arrays_metadata_and_hash(ds, saved):
    back = ExpertDataset.load(saved, expected_robot_params=CarParams().to_dict())
    for name in ("states", "controls", "episode_ends", "final_states", "goals", "map_grid"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))
        assert getattr(back, name).dtype == getattr(ds, name).dtype
    assert back.metadata == ds.metadata
    assert back.content_hash() == ds.content_hash()
    assert back.world().content_hash() == WORLD.content_hash() == back.metadata["map_hash"]
    m = back.metadata
    assert m["robot"] == "car" and m["map_name"] == WORLD.name and m["dt"] == 0.02
    assert m["counts"]["episodes"] == 5 and m["seed"] == 1 and "expert" in m and "ditree_version" in m


def test_episode_slices_partition_the_rows(ds):
    ends = ds.episode_ends
    assert ds.states.shape == (ends[-1], 6) and ds.controls.shape == (ends[-1], 2)
    covered = np.concatenate([np.arange(ds.num_pairs)[ds.episode_slice(e)] for e in range(ds.num_episodes)])
    np.testing.assert_array_equal(covered, np.arange(ds.num_pairs))
    assert ds.episode_slice(-1) == ds.episode_slice(ds.num_episodes - 1)
    with pytest.raises(IndexError):
        ds.episode_slice(ds.num_episodes)
    np.testing.assert_array_equal(np.bincount(ds.episode_index()), ds.episode_lengths())


def test_content_hash_ignores_creation_time_but_not_data(ds):
    other = ExpertDataset(ds.states, ds.controls, ds.episode_ends, ds.final_states, ds.goals, ds.map_grid,
                          {**ds.metadata, "created": "another day", "collect_time_s": 99.0})
    assert other.content_hash() == ds.content_hash()
    states = ds.states.copy()
    states[0, 0] += 1e-3
    changed = ExpertDataset(states, ds.controls, ds.episode_ends, ds.final_states, ds.goals, ds.map_grid, ds.metadata)
    assert changed.content_hash() != ds.content_hash()


def test_dataset_error_is_a_ditree_input_error():
    assert issubclass(DatasetError, DitreeInputError) and issubclass(DatasetError, ValueError)


def test_truncated_and_garbage_files_are_reported(saved, tmp_path):
    raw = saved.read_bytes()
    short = tmp_path / "short.npz"
    short.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"short\.npz.*(unreadable|corrupt)"):
        ExpertDataset.load(short)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file at all")
    with pytest.raises(DatasetError, match=r"junk\.npz.*(unreadable|corrupt)"):
        ExpertDataset.load(junk)
    with pytest.raises(DatasetError, match="no such dataset file"):
        ExpertDataset.load(tmp_path / "nothing.npz")


def test_missing_array_is_named(saved, tmp_path):
    out = _rewrite(saved, tmp_path / "m.npz", controls=None)
    with pytest.raises(DatasetError, match=r"m\.npz: missing array\(s\) controls"):
        ExpertDataset.load(out)


def test_wrong_shape_and_dtype_are_named(ds, saved, tmp_path):
    out = _rewrite(saved, tmp_path / "s.npz", controls=ds.controls[:, :1].copy())
    with pytest.raises(DatasetError, match=r"s\.npz: array 'controls' has shape \(\d+, 1\), expected \(\d+, 2\)"):
        ExpertDataset.load(out)
    out = _rewrite(saved, tmp_path / "g.npz", goals=ds.goals[:-1].copy())
    with pytest.raises(DatasetError, match=r"array 'goals' has shape \(4, 2\), expected \(5, 2\)"):
        ExpertDataset.load(out)
    out = _rewrite(saved, tmp_path / "t.npz", states=ds.states.astype(np.float64))
    with pytest.raises(DatasetError, match=r"array 'states' has dtype float64, expected float32"):
        ExpertDataset.load(out)


def test_bad_episode_ends_are_named(ds, saved, tmp_path):
    ends = ds.episode_ends.copy()
    ends[[1, 2]] = ends[[2, 1]]
    with pytest.raises(DatasetError, match="strictly increasing"):
        ExpertDataset.load(_rewrite(saved, tmp_path / "e.npz", episode_ends=ends))
    ends = ds.episode_ends.copy()
    ends[-1] -= 1
    with pytest.raises(DatasetError, match=f"must end at the number of rows {ds.num_pairs}"):
        ExpertDataset.load(_rewrite(saved, tmp_path / "f.npz", episode_ends=ends))


def test_bad_metadata_json_is_named(saved, tmp_path):
    out = _rewrite(saved, tmp_path / "j.npz", metadata=np.array("{not json"))
    with pytest.raises(DatasetError, match=r"j\.npz: metadata is not valid JSON"):
        ExpertDataset.load(out)
    meta = json.loads(str(_arrays(saved)["metadata"]))
    meta["format_version"] = 99
    out = _rewrite(saved, tmp_path / "v.npz", metadata=np.array(json.dumps(meta)))
    with pytest.raises(DatasetError, match="format_version is 99"):
        ExpertDataset.load(out)


def test_other_robot_parameters_are_refused(saved):
    other = CarParams(C2=12.0).to_dict()
    with pytest.raises(DatasetError, match=r"other robot parameters \(C2: file 15\.5 vs expected 12\.0\)"):
        ExpertDataset.load(saved, expected_robot_params=other)
    ExpertDataset.load(saved)  # without expectations it loads


def test_cli_collects_describes_plots_and_reports_bad_files(map_csv, tmp_path, capsys):
    out, png = tmp_path / "c.npz", tmp_path / "c.png"
    rc = main(["collect", "--map", str(map_csv), "--episodes", "4", "--out", str(out), "--seed", "2",
               "--workers", "1", "--quiet", "--plot", str(png)])
    assert rc == 0 and out.is_file() and png.stat().st_size > 10_000
    assert "4 episodes" in capsys.readouterr().out
    assert main(["collect", "--stats", str(out)]) == 0
    text = capsys.readouterr().out
    assert "expert:" in text and "speed v (m/s)" in text and "steering rate" in text
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert main(["collect", "--stats", str(bad)]) == 2
    assert "bad.npz" in capsys.readouterr().err
    assert main(["collect", "--map", str(map_csv), "--episodes", "3"]) == 2
    assert "--out" in capsys.readouterr().err


# ----------------------------------------------------------------------------- executed controls (action noise)
@pytest.fixture(scope="module")
def noisy_ds() -> ExpertDataset:
    from ditree.data.expert import ExpertConfig

    return collect(WORLD, 3, seed=1, workers=1, progress=False,
                   cfg=ExpertConfig(action_noise=0.3, noise_fraction=1.0))


def test_executed_controls_round_trip_and_enter_the_hash(noisy_ds, tmp_path):
    assert noisy_ds.executed_controls is not None
    assert noisy_ds.applied_controls is noisy_ds.executed_controls
    back = ExpertDataset.load(noisy_ds.save(tmp_path / "n.npz"))
    np.testing.assert_array_equal(back.executed_controls, noisy_ds.executed_controls)
    assert back.content_hash() == noisy_ds.content_hash()
    d = noisy_ds
    without = ExpertDataset(d.states, d.controls, d.episode_ends, d.final_states, d.goals, d.map_grid, d.metadata)
    assert without.content_hash() != d.content_hash() and without.applied_controls is without.controls


def test_files_without_executed_controls_load_and_bad_ones_are_named(ds, saved, noisy_ds, tmp_path):
    assert ExpertDataset.load(saved).executed_controls is None
    assert "executed_controls" not in _arrays(saved)
    path = noisy_ds.save(tmp_path / "n.npz")
    out = _rewrite(path, tmp_path / "x.npz", executed_controls=noisy_ds.executed_controls[:-1].copy())
    with pytest.raises(DatasetError, match=r"x\.npz: array 'executed_controls' has shape \(\d+, 2\), expected"):
        ExpertDataset.load(out)
    bad = noisy_ds.executed_controls.copy()
    bad[0, 0] = np.nan
    out = _rewrite(path, tmp_path / "y.npz", executed_controls=bad)
    with pytest.raises(DatasetError, match="'executed_controls' holds non-finite"):
        ExpertDataset.load(out)


def test_cli_collects_with_action_noise(map_csv, tmp_path, capsys):
    out = tmp_path / "n.npz"
    rc = main(["collect", "--map", str(map_csv), "--episodes", "3", "--out", str(out), "--seed", "2", "--workers", "1",
               "--quiet", "--action-noise", "0.3", "--noise-fraction", "1"])
    assert rc == 0 and ExpertDataset.load(out).executed_controls is not None
    capsys.readouterr()
    assert main(["collect", "--stats", str(out)]) == 0
    assert "action noise:" in capsys.readouterr().out
    assert main(["collect", "--map", str(map_csv), "--episodes", "3", "--out", str(out), "--noise-fraction", "2"]) == 2
    assert "noise_fraction" in capsys.readouterr().err
