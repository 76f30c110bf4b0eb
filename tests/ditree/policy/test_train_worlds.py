"""Training on datasets over many worlds: features computed world by world (identical to before
for one world), ``ditree train --data A.npz B.npz`` on a two-world box dataset of the unicycle
(real dynamics, random controls), and the checkpoint it writes loads and samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ditree.cli import main
from ditree.data.dataset import DatasetError, Episode, ExpertDataset
from ditree.policy import PolicyConfig, TrainConfig, load_policy
from ditree.policy.features import precompute_features
from ditree.policy.train import dataset_features, prepare_data
from envs.box_world import BoxWorld
from envs.local_map import LocalMapSpec, TorchLocalMapper
from envs.registry import make_robot

TINY = PolicyConfig(hidden_dim=64, num_blocks=2, map_channels=(4, 8), map_embed_dim=32, cond_dim=64, time_embed_dim=16)
ROBOT = "unicycle1_v0"
BOX_A = BoxWorld((0.0, 0.0, 4.0, 3.0), np.array([[2.0, 1.5, 0.6, 0.8]]), np.array([[1.0, 2.3, 0.3]]), name="box_a")
BOX_B = BoxWorld((-2.0, -2.0, 2.0, 2.0), np.array([[0.5, -0.5, 0.4, 1.2], [-1.0, 1.0, 0.5, 0.5]]), name="box_b")


def random_episodes(worlds, per_world: int, T: int, seed: int) -> list[Episode]:
    """Random controls of the unicycle from free starts in each world (its real dynamics)."""
    robot, rng, eps = make_robot(ROBOT), np.random.default_rng(seed), []
    for w, world in enumerate(worlds):
        for xy in world.sample_free_points(rng, per_world):
            x = np.array(robot.rest_state(float(xy[0]), float(xy[1]), float(rng.uniform(-np.pi, np.pi))))
            u = robot.sample_controls(rng, (T,))
            states = [x]
            for t in range(T):
                states.append(np.asarray(robot.step(states[-1], u[t])))
            eps.append(Episode(np.array(states), u, w, world.sample_free_points(rng, 1)[0], states[-1]))
    return eps


def _box_dataset(worlds, per_world: int, T: int, seed: int) -> ExpertDataset:
    meta = {"dt": make_robot(ROBOT).dt, "robot_params": make_robot(ROBOT).params.to_dict(), "seed": seed}
    return ExpertDataset.from_episodes(ROBOT, random_episodes(worlds, per_world, T, seed), worlds, meta)


def test_one_world_features_are_bit_identical_to_the_single_map_path(tiny_car_dataset):
    ds = tiny_car_dataset(episodes=6, T=20)
    as_v2 = ExpertDataset(ds.states, ds.controls, ds.episode_ends, ds.final_states, ds.goals, metadata=ds.metadata,
                          worlds=[ds.world()], episode_world=np.zeros(6, dtype=np.int64))
    old = precompute_features(ds.states, ds.controls, ds.episode_ends, ds.goals, ds.world(), LocalMapSpec(20, 0.2),
                              20.0, robot=make_robot("car"))  # what prepare_data computed before worlds existed
    tcfg = TrainConfig(val_fraction=0.25)
    prepared = [prepare_data(d, TINY, tcfg, torch.device("cpu")) for d in (ds, as_v2, ExpertDataset.concat([ds]))]
    for p in prepared:
        for key in ("vel", "prev_control", "target", "local_map", "last_row"):
            np.testing.assert_array_equal(getattr(p, key).numpy(), old[key])
        np.testing.assert_array_equal(p.controls.numpy(), ds.controls)
        np.testing.assert_array_equal(p.train_rows.numpy(), prepared[0].train_rows.numpy())


def test_multi_world_features_use_each_episodes_world():
    ds = _box_dataset([BOX_A, BOX_B, BOX_A.__class__(BOX_A.bounds, name="empty")], 2, 9, seed=2)
    ds = ExpertDataset.concat([ds, _box_dataset([BOX_B], 1, 5, seed=3)])  # world 1 used again, out of order
    spec, robot = LocalMapSpec(20, 0.1), make_robot(ROBOT)
    f = dataset_features(ds, spec, 10.0, robot)
    assert f["local_map"].shape == (ds.num_pairs, 20, 20)
    for e in range(ds.num_episodes):
        rows = ds.episode_slice(e)
        one = precompute_features(ds.states[rows], ds.controls[rows], [rows.stop - rows.start], ds.goals[e:e + 1],
                                  ds.world_of(e), spec, 10.0, robot=robot)
        for key in ("vel", "prev_control", "target", "local_map"):
            np.testing.assert_array_equal(f[key][rows], one[key])
        assert (f["episode"][rows] == e).all() and (f["last_row"][rows] == rows.stop - 1).all()
    # the data can tell: cropping every row in world 0 gives other crops
    wrong = precompute_features(ds.states, ds.controls, ds.episode_ends, ds.goals, BOX_A, spec, 10.0, robot=robot)
    assert (wrong["local_map"] != f["local_map"]).any()


def test_cli_trains_on_two_box_world_files_and_the_checkpoint_samples(tiny_car_dataset, tmp_path, capsys):
    a = _box_dataset([BOX_A], 6, 25, seed=0).save(tmp_path / "a.npz")
    b = _box_dataset([BOX_B], 6, 25, seed=1).save(tmp_path / "b.npz")
    out = tmp_path / "uni.pt"
    rc = main(["train", "--data", str(a), str(b), "--out", str(out), "--epochs", "2", "--batch-size", "32",
               "--max-steps-per-epoch", "3", "--warmup-steps", "2", "--hidden-dim", "32", "--num-blocks", "1",
               "--cond-dim", "32", "--map-embed-dim", "16", "--device", "cpu", "--no-progress", "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    assert "robot unicycle1_v0" in capsys.readouterr().out
    meta = json.loads(out.with_suffix(".json").read_text())
    cat = ExpertDataset.concat([ExpertDataset.load(a), ExpertDataset.load(b)])
    tr = meta["training"]
    assert tr["data_path"] == f"{a}, {b}" and tr["data_hash"] == cat.content_hash()
    assert tr["n_train_rows"] + tr["n_val_rows"] == cat.num_pairs == 300 and len(tr["history"]) == 2
    assert np.isfinite(tr["final_train_loss"]) and tr["mirror_p"] == 0.5
    assert len(tr["data_metadata"]["sources"]) == 2
    policy = load_policy(out)
    robot = make_robot(ROBOT)
    assert policy.robot.name == ROBOT and policy.config.control_dim == 2 and policy.config.vel_dim == 0
    for world in (BOX_A, BOX_B):
        mapper = TorchLocalMapper(world, policy.local_map_spec)
        rng = np.random.default_rng(0)
        x = np.column_stack([world.sample_free_points(rng, 5), rng.uniform(-np.pi, np.pi, 5)])
        chunks = policy.act(x, np.zeros((5, 2)), world.sample_free_points(rng, 5), mapper,
                            generator=torch.Generator().manual_seed(0))
        assert chunks.shape == (5, policy.config.pred_horizon, 2) and np.isfinite(chunks).all()
        assert (chunks >= robot.control_low.astype(np.float32)).all()
        assert (chunks <= robot.control_high.astype(np.float32)).all()
    # files of another robot are refused, naming both files
    car = tiny_car_dataset(episodes=2, T=10).save(tmp_path / "car.npz")
    assert main(["train", "--data", str(a), str(car), "--out", str(tmp_path / "x.pt"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "a.npz is for robot 'unicycle1_v0'" in err and "car.npz for 'car'" in err


def test_a_multi_world_grid_dataset_of_the_car_trains(tiny_car_dataset):
    """The car in two grid worlds (one of them the tiny dataset's): prepare_data and a few steps."""
    from ditree.policy.train import train_policy

    d1 = tiny_car_dataset(episodes=4, T=30, seed=0)
    d2 = tiny_car_dataset(episodes=4, T=30, seed=1)
    cat = ExpertDataset.concat([d1, d2])
    assert cat.num_worlds == 2
    res = train_policy(cat, None, TINY, TrainConfig(epochs=1, batch_size=32, max_steps_per_epoch=2, warmup_steps=1,
                                                    val_fraction=0.25), device="cpu", progress=False, log=lambda s: None)
    assert len(res.history) == 1 and np.isfinite(res.history[0]["train_loss"])
    with pytest.raises(DatasetError, match="2 worlds, so no single world"):
        cat.world()


def test_a_checkpoint_records_a_summary_of_its_data_not_every_episode():
    from ditree.policy.train import metadata_summary

    meta = {"robot": "unicycle1_v0", "episodes_meta": [{"kind": "trap"}] * 40,
            "collect_time_s": {"wall_s": 3.0, "plan_time_s": [0.1] * 40}, "counts": {"episodes": 40}}
    s = metadata_summary(meta)
    assert s == {"robot": "unicycle1_v0", "episodes_meta_count": 40, "collect_time_s": {"wall_s": 3.0},
                 "counts": {"episodes": 40}}
    assert meta["episodes_meta"] and "plan_time_s" in meta["collect_time_s"]  # the dataset's own record is untouched
