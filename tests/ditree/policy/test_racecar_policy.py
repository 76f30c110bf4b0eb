"""The policy pipeline for a second robot: a tiny real racecar dataset (PyBullet physics), a tiny
real training run through ``ditree train``, a racecar checkpoint saved and loaded, DiTree with it
solving a small room at 2 m cells (validated by re-simulation), and clear errors whenever a policy
meets another robot. The car's checkpoint keeps loading as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ditree.api import plan
from ditree.cli import main as cli_main
from ditree.data.dataset import FORMAT_VERSION as DATASET_FORMAT
from ditree.data.dataset import ExpertDataset
from ditree.dp import DPParams, PolicyRolloutPlanner
from ditree.planner import DiTreeParams, DiTreePlanner
from ditree.policy import CheckpointError, FlowPolicy, PolicyConfig, load_policy, save_policy, shipped_checkpoint
from ditree.policy.train import mirror_some, prepare_data, robot_of
from envs.car import Car
from envs.errors import DitreeInputError
from envs.local_map import TorchLocalMapper
from envs.problem import Problem, validation_problem
from envs.racecar import Racecar, RacecarParams
from envs.world import GridMap

ROOM = np.array(
    [
        [1, 1, 1, 1, 1],
        [1, 0, 0, 0, 1],
        [1, 0, 0, 0, 1],
        [1, 1, 1, 1, 1],
    ],
    dtype=np.uint8,
)
"""A 3 x 2 cell room at 2 m cells: 6 m x 4 m of free space."""
TINY_FLAGS = ["--hidden-dim", "64", "--num-blocks", "2", "--cond-dim", "64", "--map-embed-dim", "32"]


def room() -> GridMap:
    return GridMap(ROOM.copy(), 2.0, name="room")


def racecar_dataset(rc: Racecar, episodes: int = 12, T: int = 60, seed: int = 0) -> ExpertDataset:
    """A real racecar ExpertDataset: a goal-seeking steering law, slowing in turns, simulated
    by PyBullet in the room (all episodes stepped together, one control period at a time)."""
    rng = np.random.default_rng(seed)
    world = room()
    goals = world.sample_free_points(rng, episodes)
    x = np.tile(rc.rest_state(0.0, 0.0, 0.0), (episodes, 1))
    x[:, :2] = world.sample_free_points(rng, episodes)
    x[:, 2] = rng.uniform(-np.pi, np.pi, episodes)
    cruise = rng.uniform(20.0, 50.0, episodes)  # rad/s of the rear wheels, per episode
    S, U = np.zeros((episodes, T, 24)), np.zeros((episodes, T, 2))
    for t in range(T):
        bearing = np.arctan2(goals[:, 1] - x[:, 1], goals[:, 0] - x[:, 0]) - x[:, 2]
        bearing = (bearing + np.pi) % (2 * np.pi) - np.pi
        u = np.stack([cruise * (0.5 + 0.5 * np.cos(bearing)), np.clip(1.5 * bearing, -0.5, 0.5)], 1)
        S[:, t], U[:, t] = x, u
        x = rc.step(x, u)
    meta = {"format_version": DATASET_FORMAT, "robot": "racecar", "robot_params": rc.params.to_dict(),
            "cell_size": 2.0, "map_name": "room"}
    return ExpertDataset(S.reshape(-1, 24), U.reshape(-1, 2), np.arange(1, episodes + 1) * T, x, goals, ROOM.copy(), meta)


@pytest.fixture(scope="module")
def racecar():
    rc = Racecar()
    yield rc
    rc.close()


@pytest.fixture(scope="module")
def data(racecar) -> ExpertDataset:
    return racecar_dataset(racecar)


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory) -> tuple:
    """Train through the CLI and return the paths (no crop flags: the racecar's registered policy
    defaults, 0.4 m pixels and a 40 m target scale, fill them in)."""
    d = tmp_path_factory.mktemp("rc")
    data.save(d / "rc.npz")
    out = d / "rc.pt"
    torch.set_num_threads(1)
    rc = cli_main(["train", "--data", str(d / "rc.npz"), "--out", str(out), "--epochs", "4", "--batch-size", "64",
                   "--lr", "3e-3", "--warmup-steps", "5", "--val-fraction", "0.2", "--no-progress",
                   *TINY_FLAGS])
    assert rc == 0
    return out, json.loads(out.with_suffix(".json").read_text())


def small_room_problem(robot) -> Problem:
    return Problem.from_cells(room(), start_cell=(2, 1), start_deg=0.0, goal_cell=(1, 3), robot=robot,
                              goal_radius=0.6, name="room")


# ---------------------------------------------------------------------------------------- training
def test_racecar_training_records_robot_and_crop(checkpoint, racecar):
    out, meta = checkpoint
    assert meta["robot"] == {"name": "racecar", "params": RacecarParams().to_dict(),
                             "control_names": list(racecar.control_names),
                             "policy_feature_names": list(racecar.policy_feature_names)}
    assert meta["local_map"] == {"size": 20, "resolution": 0.4}
    cfg = meta["policy_config"]
    assert cfg["vel_dim"] == 5 and cfg["control_dim"] == 2 and cfg["target_scale_m"] == 40.0
    h = meta["training"]["history"]
    assert len(h) == 4 and h[-1]["train_loss"] < h[0]["train_loss"]
    policy = load_policy(out)
    assert isinstance(policy.robot, Racecar) and policy.robot.params == racecar.params
    assert policy.local_map_spec.resolution == 0.4
    # bounds: the racecar's wheel-speed and steering range, whatever the noise
    x = np.tile(racecar.rest_state(0.0, -1.0, 0.5), (4, 1))
    u = policy.act(x, np.zeros((4, 2)), np.tile([4.0, 1.0], (4, 1)), TorchLocalMapper(room(), policy.local_map_spec),
                   noise=torch.full((4, 64, 2), 50.0))
    assert u.shape == (4, 64, 2)
    assert np.allclose(u.max((0, 1)), racecar.control_high) and (u >= racecar.control_low).all()
    # round trip: saved again and reloaded, the same samples
    save_policy(policy, out.with_name("again.pt"))
    again = load_policy(out.with_name("again.pt"), robot=racecar)
    noise = torch.randn(4, 64, 2, generator=torch.Generator().manual_seed(1))
    mapper = TorchLocalMapper(room(), policy.local_map_spec)
    args = (x, np.zeros((4, 2)), np.tile([4.0, 1.0], (4, 1)), mapper)
    np.testing.assert_array_equal(again.act(*args, noise=noise), policy.act(*args, noise=noise))


def test_racecar_features_mirror_and_normaliser(data, racecar):
    from ditree.policy.config import TrainConfig

    assert robot_of(data).name == "racecar"
    cfg = PolicyConfig(vel_dim=5, map_resolution=0.4, target_scale_m=40.0)
    prep = prepare_data(data, cfg, TrainConfig(val_fraction=0.2), torch.device("cpu"))
    np.testing.assert_allclose(prep.vel.numpy(), racecar.policy_features(data.states.astype(float)), atol=1e-5)
    # mirror-symmetrised statistics: every mirror-odd feature and control has mean 0
    odd = np.array(racecar.policy_feature_mirror_signs) < 0
    assert np.abs(prep.normalizer.vel_mean.numpy()[odd]).max() < 1e-6
    assert abs(float(prep.normalizer.control_mean[1])) < 1e-6 and float(prep.normalizer.control_mean[0]) > 10
    b = prep.batch(prep.train_rows[:16], 64)
    m = mirror_some(b, 1.0, torch.Generator().manual_seed(0), racecar)
    signs = torch.tensor(racecar.policy_feature_mirror_signs, dtype=torch.float32)
    assert torch.equal(m["vel"], b["vel"] * signs) and torch.equal(m["actions"][..., 1], -b["actions"][..., 1])
    assert torch.equal(m["actions"][..., 0], b["actions"][..., 0])


# ---------------------------------------------------------------------------------------- planning
def test_ditree_with_the_racecar_checkpoint_solves_a_small_room(checkpoint, racecar):
    out, _ = checkpoint
    problem = small_room_problem(racecar)
    params = {"checkpoint": str(out), "batch_size": 8, "n_chunks": 4, "epsilon": 0.3, "device": "cpu"}
    r = plan(problem, planner="ditree", time_limit=30, seed=0, **params)
    assert r.success and r.validated, r.reason
    assert r.robot == "racecar" and r.states.shape[1] == 24 and r.controls.shape[1] == 2
    assert np.linalg.norm(r.states[-1, :2] - problem.goal) <= problem.goal_radius
    assert r.counters["policy_calls"] > 0 and r.profile["policy"] > 0
    assert (r.controls >= racecar.control_low).all() and (r.controls <= racecar.control_high).all()
    again = plan(problem, planner="ditree", time_limit=30, seed=0, **params)
    np.testing.assert_array_equal(again.states, r.states)


# ---------------------------------------------------------------------------------------- mismatches
@pytest.mark.requires_data
def test_a_policy_meets_only_its_own_robot(checkpoint, racecar):
    out, _ = checkpoint
    with pytest.raises(CheckpointError, match="trained for robot 'racecar', not 'car'"):
        load_policy(out, robot=Car())
    with pytest.raises(CheckpointError, match="trained for robot 'car', not 'racecar'"):
        load_policy(shipped_checkpoint("car"), robot="racecar")
    with pytest.raises(CheckpointError, match="other robot parameters: steer_max=0.5 \\(yours 0.4\\)"):
        load_policy(out, robot=Racecar(RacecarParams(steer_max=0.4)))
    rc_policy = load_policy(out)
    car_problem = validation_problem("val_maze_small")
    with pytest.raises(DitreeInputError, match="trained for robot 'racecar'.*problem's robot is 'car'"):
        DiTreePlanner(DiTreeParams(batch_size=4, device="cpu"), policy=rc_policy).solve(car_problem, 5, 0)
    with pytest.raises(DitreeInputError, match="trained for robot 'car'.*problem's robot is 'racecar'"):
        car_checkpoint = f"{shipped_checkpoint('car')}.pt"  # given explicitly: dp does not switch to the racecar's
        PolicyRolloutPlanner(DPParams(device="cpu", checkpoint=car_checkpoint)).solve(small_room_problem(racecar), 5, 0)
    with pytest.raises(DitreeInputError, match="vel_dim=3.*'racecar' has 5 policy features"):
        FlowPolicy(PolicyConfig(), racecar)
    # a racecar dataset's states do not fit the car
    from ditree.policy.features import precompute_features

    with pytest.raises(DitreeInputError, match="robot 'car' has 6-D states"):
        precompute_features(np.zeros((4, 24)), np.zeros((4, 2)), np.array([4]), np.zeros((1, 2)), room())


@pytest.mark.requires_data
def test_shipped_car_checkpoint_still_loads_as_a_car_and_round_trips(tmp_path):
    policy = load_policy(robot="car")
    assert isinstance(policy.robot, Car) and policy.metadata["robot"]["name"] == "car"
    assert policy.config.vel_dim == 3
    np.testing.assert_array_equal(policy.control_low.numpy(), [-10.0, -2.0])
    np.testing.assert_array_equal(policy.control_high.numpy(), [10.0, 2.0])
    save_policy(policy, tmp_path / "car.pt")
    again = load_policy(tmp_path / "car.pt", robot=Car())
    meta = json.loads((tmp_path / "car.json").read_text())
    # a re-saved shipped checkpoint gains the names of the network's inputs and outputs
    assert meta["robot"] == {**policy.metadata["robot"], "control_names": ["dD", "ddelta"],
                             "policy_feature_names": ["v", "D", "delta"]}
    assert meta["normalizer"] == policy.metadata["normalizer"]
    p = validation_problem("val_maze_small")
    x = np.tile(p.start, (3, 1))
    mapper = TorchLocalMapper(p.world, policy.local_map_spec)
    noise = torch.randn(3, 64, 2, generator=torch.Generator().manual_seed(0))
    args = (x, np.zeros((3, 2)), np.tile(p.goal, (3, 1)), mapper)
    np.testing.assert_array_equal(again.act(*args, noise=noise), policy.act(*args, noise=noise))


def test_closed_loop_check_runs_the_racecar(checkpoint, racecar):
    from ditree.policy.evaluate import closed_loop, random_queries

    policy = load_policy(checkpoint[0])
    starts, goals = random_queries(room(), 3, seed=0, min_dist_m=2.0, robot=racecar)
    assert starts.shape == (3, 24) and np.allclose(starts[:, 3:], racecar.rest_state(0, 0, 0)[3:])
    res = closed_loop(policy, room(), starts, goals, goal_radius=0.6, max_steps=48, seed=0)
    assert res.steps.shape == (3,) and (res.steps > 0).all() and (res.steps <= 48).all()
    assert not (res.success & res.collided).any()
