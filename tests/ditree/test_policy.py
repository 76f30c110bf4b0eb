"""Tests of ditree.policy: tiny real training, deterministic batched sampling, checkpoints, features."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ditree.cli import main as cli_main
from ditree.data.dataset import ExpertDataset
from ditree.policy import CheckpointError, FlowPolicy, PolicyConfig, TrainConfig, load_policy, save_policy
from ditree.policy.features import car_frame_target, precompute_features
from ditree.policy.train import train_policy
from envs.car import Car, CarParams
from envs.errors import DitreeInputError
from envs.local_map import TorchLocalMapper, local_maps

TINY = PolicyConfig(hidden_dim=64, num_blocks=2, map_channels=(4, 8), map_embed_dim=32, cond_dim=64, time_embed_dim=16)


@pytest.fixture(scope="module")
def data(tiny_car_dataset) -> ExpertDataset:
    return tiny_car_dataset()


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "tiny.pt"
    tcfg = TrainConfig(epochs=5, batch_size=64, lr=3e-3, warmup_steps=5, val_fraction=0.25, seed=1)
    return train_policy(data, out, TINY, tcfg, device="cpu", progress=False, log=lambda s: None), out


def random_cond(B: int, seed: int = 0, S: int = 20) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "vel": torch.rand(B, 3, generator=g) * torch.tensor([3.0, 1.0, 0.8]) - torch.tensor([0.0, 0.0, 0.4]),
        "prev_control": (torch.rand(B, 2, generator=g) - 0.5) * torch.tensor([20.0, 4.0]),
        "target": torch.rand(B, 2, generator=g) - 0.5,
        "local_map": (torch.rand(B, S, S, generator=g) < 0.3).float() * 2 - 1,
    }


# ---------------------------------------------------------------------------------------- training
def test_tiny_training_loss_falls_and_history_is_recorded(trained):
    res, out = trained
    h = res.history
    assert [r["epoch"] for r in h] == [1, 2, 3, 4, 5]
    assert h[-1]["train_loss"] < 0.85 * h[0]["train_loss"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]
    assert all(math.isfinite(r["val_loss"]) for r in h)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["training"]["epochs"] == 5
    assert meta["training"]["final_val_loss"] == pytest.approx(h[-1]["val_loss"])


def test_resume_continues_exactly_like_an_uninterrupted_run(data, tmp_path):
    tcfg = TrainConfig(epochs=2, batch_size=64, lr=3e-3, warmup_steps=5, val_fraction=0.25, seed=3)
    quiet = {"device": "cpu", "progress": False, "log": lambda s: None}
    full = train_policy(data, tmp_path / "a.pt", TINY, tcfg, **quiet)

    def ctrl_c_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/2"):
            raise KeyboardInterrupt

    cut = train_policy(data, tmp_path / "b.pt", TINY, tcfg, device="cpu", progress=False, log=ctrl_c_after_first_epoch)
    assert cut.interrupted and cut.epochs_done == 1 and (tmp_path / "b.json").is_file()
    with pytest.raises(DitreeInputError, match="no training state"):
        train_policy(data, tmp_path / "c.pt", TINY, tcfg, resume=True, **quiet)
    resumed = train_policy(data, tmp_path / "b.pt", TINY, tcfg, resume=True, **quiet)
    assert resumed.epochs_done == 2
    for (k, a), b in zip(full.policy.state_dict().items(), resumed.policy.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_episode_split_keeps_episodes_whole(data):
    from ditree.policy.train import prepare_data

    d = prepare_data(data, TINY, TrainConfig(val_fraction=0.25), torch.device("cpu"))
    ep = np.repeat(np.arange(len(data.episode_ends)), np.diff(np.concatenate([[0], data.episode_ends])))
    tr, va = set(ep[d.train_rows.numpy()]), set(ep[d.val_rows.numpy()])
    assert tr and va and not tr & va and len(tr | va) == len(data.episode_ends)
    # chunks never cross an episode end: rows past the end repeat the episode's last control
    rows = torch.as_tensor(data.episode_ends[:3] - 2)
    acts = d.batch(rows, 64)["actions"]
    last = torch.as_tensor(data.controls[data.episode_ends[:3] - 1])
    assert torch.equal(acts[:, 1], last) and torch.equal(acts[:, -1], last)


def test_cli_train_writes_a_loadable_checkpoint(data, tmp_path, capsys):
    npz = data.save(tmp_path / "tiny.npz")
    out = tmp_path / "cli" / "p.pt"
    args = ["train", "--data", str(npz), "--out", str(out), "--epochs", "1", "--max-steps-per-epoch", "3",
            "--hidden-dim", "32", "--num-blocks", "1", "--no-progress", "--seed", "2"]
    assert cli_main(args) == 0
    assert "done: 1 epochs" in capsys.readouterr().out
    policy = load_policy(out)
    assert policy.config.hidden_dim == 32
    assert policy.metadata["training"]["data_hash"] == ExpertDataset.load(npz).content_hash()
    assert out.with_name("p.train.pt").is_file()
    assert cli_main([*args, "--resume", "--epochs", "2"]) == 0
    assert load_policy(out).metadata["training"]["epochs"] == 2
    assert cli_main(["train", "--data", str(tmp_path / "missing.npz"), "--out", str(out)]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert cli_main([*args, "--pred-horizon", "4", "--action-horizon", "6"]) == 2
    assert "action_horizon (6) exceeds pred_horizon (4)" in capsys.readouterr().err
    short = tmp_path / "short.pt"
    assert cli_main([*args[:4], str(short), *args[5:], "--pred-horizon", "16", "--action-horizon", "4"]) == 0
    assert (load_policy(short).config.pred_horizon, load_policy(short).config.action_horizon) == (16, 4)


# ---------------------------------------------------------------------------------------- sampling
def test_sampling_is_deterministic_with_fixed_noise_and_rows_match_single_calls(trained):
    policy = trained[0].policy
    cond = random_cond(7)
    noise = torch.randn(7, 64, 2, generator=torch.Generator().manual_seed(0))
    for steps in (1, 4):
        a = policy.sample(cond, num_steps=steps, noise=noise)
        b = policy.sample(cond, num_steps=steps, noise=noise.clone())
        assert a.shape == (7, 64, 2) and torch.equal(a, b)
        for i in (0, 3, 6):
            single = policy.sample({k: v[i : i + 1] for k, v in cond.items()}, num_steps=steps, noise=noise[i : i + 1])
            assert torch.allclose(single[0], a[i], atol=1e-5)
    other = policy.sample(cond, noise=torch.randn(7, 64, 2, generator=torch.Generator().manual_seed(1)), num_steps=4)
    assert not torch.allclose(other, policy.sample(cond, noise=noise, num_steps=4))


def test_samples_respect_control_bounds_even_for_extreme_noise(trained):
    policy = trained[0].policy
    u = policy.sample(random_cond(32), noise=50 * torch.randn(32, 64, 2))
    assert (u[..., 0].abs() <= 10.0).all() and (u[..., 1].abs() <= 2.0).all()
    assert (u[..., 0].abs() == 10.0).any()  # clipping really happened


def test_act_builds_the_conditioning_from_states_and_mapper(trained, data):
    policy = trained[0].policy
    world = data.world()
    rng = np.random.default_rng(0)
    B = 5
    states = np.zeros((B, 6), dtype=np.float32)
    states[:, :2] = world.sample_free_points(rng, B)
    states[:, 2:4] = rng.uniform(-3, 3, (B, 2))
    prev = rng.uniform(-1, 1, (B, 2)).astype(np.float32)
    targets = world.sample_free_points(rng, B).astype(np.float32)
    noise = torch.randn(B, 64, 2)
    out = policy.act(states, prev, targets, TorchLocalMapper(world, policy.local_map_spec), noise=noise)
    assert isinstance(out, np.ndarray) and out.shape == (B, 64, 2)
    cond = {
        "vel": torch.as_tensor(states[:, 3:6]),
        "prev_control": torch.as_tensor(prev),
        "target": torch.as_tensor(car_frame_target(states.astype(float), targets.astype(float), 20.0), dtype=torch.float32),
        "local_map": torch.as_tensor(local_maps(world, states)),
    }
    np.testing.assert_allclose(out, policy.sample(cond, noise=noise).numpy(), atol=1e-5)
    with pytest.raises(DitreeInputError, match="states must be"):
        policy.act(states[:, :3], prev, targets, TorchLocalMapper(world))


def test_bad_conditioning_is_rejected_with_its_name():
    policy = FlowPolicy(TINY)
    cond = random_cond(2)
    with pytest.raises(DitreeInputError, match="local_map"):
        policy.sample({**cond, "local_map": torch.zeros(2, 10, 10)})
    with pytest.raises(DitreeInputError, match="lacks"):
        policy.sample({k: v for k, v in cond.items() if k != "target"})
    with pytest.raises(DitreeInputError, match="noise"):
        policy.sample(cond, noise=torch.zeros(2, 8, 2))


def test_config_validation():
    with pytest.raises(DitreeInputError, match="arch"):
        PolicyConfig(arch="transformer")
    with pytest.raises(DitreeInputError, match="action_horizon"):
        PolicyConfig(action_horizon=80)
    with pytest.raises(DitreeInputError, match="mirror_p"):
        TrainConfig(mirror_p=1.5)
    assert PolicyConfig.from_dict(PolicyConfig().to_dict()) == PolicyConfig()


def test_unet_variant_runs_and_is_batch_consistent():
    policy = FlowPolicy(PolicyConfig(arch="unet", unet_channels=(8, 16), map_channels=(4, 8), cond_dim=32)).eval()
    cond, noise = random_cond(3), torch.randn(3, 64, 2)
    a = policy.sample(cond, noise=noise, num_steps=2)
    b = policy.sample({k: v[1:2] for k, v in cond.items()}, noise=noise[1:2], num_steps=2)
    assert a.shape == (3, 64, 2) and torch.allclose(a[1], b[0], atol=1e-5)


# ---------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(trained, tmp_path):
    policy = trained[0].policy
    save_policy(policy, tmp_path / "p.pt", {"note": "x"})
    loaded = load_policy(tmp_path / "p.pt", robot=Car())
    assert loaded.config == policy.config and not loaded.training
    cond, noise = random_cond(4), torch.randn(4, 64, 2)
    assert torch.equal(loaded.sample(cond, noise=noise), policy.sample(cond, noise=noise))
    meta = loaded.metadata
    for key in ("format_version", "policy_config", "normalizer", "robot", "local_map", "package_version", "training"):
        assert key in meta
    assert torch.load(tmp_path / "p.pt", weights_only=True).keys() == policy.state_dict().keys()


def test_standardized_target_round_trip(data, tmp_path):
    cfg = PolicyConfig(**{**TINY.to_dict(), "standardize_target": True})
    tcfg = TrainConfig(epochs=1, batch_size=64, warmup_steps=2, val_fraction=0.25, max_steps_per_epoch=3)
    res = train_policy(data, tmp_path / "t.pt", cfg, tcfg, device="cpu", progress=False, log=lambda s: None)
    std = res.policy.normalizer.target_std
    assert res.policy.normalizer.target_mean[1] == pytest.approx(0.0, abs=1e-6) and (std < 1).all()
    loaded = load_policy(tmp_path / "t.pt")
    cond, noise = random_cond(3), torch.randn(3, 64, 2)
    assert torch.equal(loaded.sample(cond, noise=noise), res.policy.sample(cond, noise=noise))
    assert "target_std" in loaded.metadata["normalizer"]


def _copy_ck(src, dst_dir, name="q"):
    src_pt = src.with_suffix(".pt")
    meta = json.loads(src.with_suffix(".json").read_text())
    meta["weights_file"] = f"{name}.pt"
    (dst_dir / f"{name}.pt").write_bytes(src_pt.read_bytes())
    return meta


def test_incompatible_checkpoints_fail_clearly(trained, tmp_path):
    src = trained[1]
    meta = _copy_ck(src, tmp_path)
    js = tmp_path / "q.json"

    js.write_text(json.dumps(meta))
    load_policy(tmp_path / "q")  # sane copy loads
    with pytest.raises(CheckpointError, match="other robot parameters: m=0.043"):
        load_policy(js, robot=CarParams(m=0.05))

    bad = {**meta, "robot": {"name": "ant", "params": {}}}
    js.write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="ant"):
        load_policy(js)

    js.write_text(json.dumps({k: v for k, v in meta.items() if k != "policy_config"}))
    with pytest.raises(CheckpointError, match="missing key.*policy_config"):
        load_policy(js)

    js.write_text(json.dumps({**meta, "policy_config": {**meta["policy_config"], "hidden_dim": 32}}))
    with pytest.raises(CheckpointError, match="shape"):
        load_policy(js)

    js.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_policy(js)

    js.write_text(json.dumps(meta))
    raw = bytearray((tmp_path / "q.pt").read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\0" * 64
    (tmp_path / "q.pt").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(js)
    js.write_text(json.dumps({**meta, "weights_sha256": None}))
    (tmp_path / "q.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_policy(js)
    with pytest.raises(CheckpointError, match="not found"):
        load_policy(tmp_path / "nothing.pt")
    assert issubclass(CheckpointError, DitreeInputError)


def test_shipped_checkpoint_loads_and_respects_bounds():
    from ditree.policy.checkpoint import CHECKPOINT_DIR, SHIPPED_NAME

    pt = CHECKPOINT_DIR / f"{SHIPPED_NAME}.pt"
    if not pt.is_file():
        pytest.skip("no shipped checkpoint yet")
    assert pt.stat().st_size < 20e6
    policy = load_policy(robot=Car())
    assert policy.num_parameters() <= 5_000_000
    cond = random_cond(64, seed=5)
    u = policy.sample(cond, num_steps=1, generator=torch.Generator().manual_seed(0))
    assert u.shape == (64, policy.config.pred_horizon, 2) and torch.isfinite(u).all()
    assert (u[..., 0].abs() <= 10.0).all() and (u[..., 1].abs() <= 2.0).all()
    assert policy.metadata["training"]["data_hash"]


# ---------------------------------------------------------------------------------------- features
def test_target_feature_is_rigid_motion_invariant_and_squashed():
    rng = np.random.default_rng(0)
    states = np.zeros((50, 6))
    states[:, :3] = rng.uniform(-5, 5, (50, 3))
    targets = rng.uniform(-30, 30, (50, 2))
    f = car_frame_target(states, targets, 20.0)
    th, t = 1.234, np.array([3.0, -7.0])
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    s2 = states.copy()
    s2[:, :2] = states[:, :2] @ R.T + t
    s2[:, 2] = states[:, 2] + th
    np.testing.assert_allclose(car_frame_target(s2, targets @ R.T + t, 20.0), f, atol=1e-9)
    d = np.linalg.norm(targets - states[:, :2], axis=1)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), np.tanh(d / 20.0), atol=1e-9)
    # straight ahead at yaw 0 -> +x; to the left -> +y; at the car -> 0
    ahead = car_frame_target(np.zeros((3, 6)), np.array([[5.0, 0.0], [0.0, 5.0], [0.0, 0.0]]))
    np.testing.assert_allclose(ahead, [[np.tanh(0.25), 0], [0, np.tanh(0.25)], [0, 0]], atol=1e-12)
    tt = car_frame_target(torch.as_tensor(states), torch.as_tensor(targets), 20.0)
    np.testing.assert_allclose(tt.numpy(), f, atol=1e-9)


def test_precomputed_features_and_mirror(data):
    f = precompute_features(data.states, data.controls, data.episode_ends, data.goals, data.world())
    starts = np.concatenate([[0], data.episode_ends[:-1]])
    assert (f["prev_control"][starts] == 0).all()
    np.testing.assert_array_equal(f["prev_control"][starts[1] + 1], data.controls[starts[1]])
    np.testing.assert_array_equal(f["local_map"][:10], local_maps(data.world(), data.states[:10]))
    from ditree.policy.train import mirror_some

    b = {"vel": torch.randn(64, 3), "prev_control": torch.randn(64, 2), "target": torch.randn(64, 2),
         "local_map": torch.randn(64, 20, 20), "actions": torch.randn(64, 64, 2)}
    m = mirror_some(b, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(m["vel"][:, :2], b["vel"][:, :2]) and torch.equal(m["vel"][:, 2], -b["vel"][:, 2])
    assert torch.equal(m["target"][:, 1], -b["target"][:, 1]) and torch.equal(m["local_map"], b["local_map"].flip(-1))
    assert torch.equal(m["actions"][..., 1], -b["actions"][..., 1])
    assert torch.equal(mirror_some(b, 0.0, torch.Generator())["actions"], b["actions"])
    half = mirror_some(b, 0.5, torch.Generator().manual_seed(0))
    flipped = half["vel"][:, 2] == -b["vel"][:, 2]
    assert 10 < int(flipped.sum()) < 54  # a per-row choice
    for k in b:  # each row is either untouched or fully mirrored
        assert torch.equal(half[k][flipped], m[k][flipped]) and torch.equal(half[k][~flipped], b[k][~flipped])
