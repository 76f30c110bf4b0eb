"""The policy for robots unlike the car: a first-order unicycle (state = pose, so no policy
features; asymmetric control bounds; no mirror) and a 3-control robot that declares a mirror.
Both are defined here, satisfy the Robot protocol, are trained for a few steps on synthetic data
made with the dataset code, sampled, and (the unicycle) planned with inside the RRT core."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ditree.data.augment import MirrorError, mirror_sample
from ditree.data.dataset import ExpertDataset
from ditree.planner import DiTreeParams, DiTreePlanner
from ditree.policy import CheckpointError, FlowPolicy, PolicyConfig, TrainConfig, load_policy
from ditree.policy.checkpoint import shipped_checkpoint
from ditree.policy.distill import DistillConfig, distill_policy, student_config
from ditree.policy.flow import flow_matching_loss
from ditree.policy.graphed import input_columns, pack_inputs, unpack_inputs
from ditree.policy.normalizer import Normalizer
from ditree.policy.policy import float32_bounds_inside
from ditree.policy.train import resolve_mirror_p, train_policy
from envs.car import Car
from envs.errors import DitreeInputError
from envs.footprint import Footprint
from envs.local_map import TorchLocalMapper
from envs.problem import Problem
from envs.robot import POLICY_ATTRS, Robot, check_policy_robot, check_robot
from envs.world import GridMap
from planners.validate import finalize

SMALL = {"pred_horizon": 16, "action_horizon": 4, "hidden_dim": 32, "num_blocks": 1, "map_channels": (4, 8),
         "map_embed_dim": 16, "cond_dim": 32, "time_embed_dim": 8, "unet_channels": (8, 16)}


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class UnicycleParams:
    v_min: float = 0.25
    v_max: float = 0.5
    w_min: float = -0.25
    w_max: float = 0.5

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> UnicycleParams:
        return cls(**d)


class Unicycle1:
    """dynobench's first-order unicycle (unicycle1_v2-like): state [x, y, yaw], controls [v, w]
    with v in [0.25, 0.5] m/s and w in [-0.25, 0.5] rad/s (turns left faster: no mirror), dt 0.1 s,
    a 0.5 x 0.25 m box. Its state is its pose: no policy features."""

    name = "unicycle1_test"
    state_dim = 3
    control_dim = 2
    state_names = ("x", "y", "yaw")
    angle_indices, distance_weights = (2,), (1.0, 0.5)
    control_names = ("v", "w")
    footprint = Footprint(0.5, 0.25)
    bodies = (footprint,)
    policy_feature_names: tuple[str, ...] = ()
    has_mirror = False

    def __init__(self, params: UnicycleParams | None = None) -> None:
        self.params = params or UnicycleParams()
        self.control_low = np.array([self.params.v_min, self.params.w_min])
        self.control_high = np.array([self.params.v_max, self.params.w_max])

    @property
    def dt(self) -> float:
        return 0.1

    @property
    def top_speed(self) -> float:
        return self.params.v_max

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """Explicit Euler, in closed form over the steps (yaw is a cumulative sum)."""
        x0, u = np.asarray(x0, dtype=float), np.asarray(controls, dtype=float)
        yaw = x0[:, 2:3] + np.concatenate([np.zeros((len(x0), 1)), np.cumsum(u[..., 1] * self.dt, axis=1)], 1)
        vx, vy = u[..., 0] * np.cos(yaw[:, :-1]) * self.dt, u[..., 0] * np.sin(yaw[:, :-1]) * self.dt
        zero = np.zeros((len(x0), 1))
        x = x0[:, 0:1] + np.concatenate([zero, np.cumsum(vx, axis=1)], 1)
        y = x0[:, 1:2] + np.concatenate([zero, np.cumsum(vy, axis=1)], 1)
        return np.stack([x, y, _wrap(yaw)], -1)

    def pose(self, states):
        return states[..., :3]

    def footprint_poses(self, states):
        return states[..., None, :3]  # (..., 1, 3)

    def speed(self, states):
        return np.zeros(np.shape(states)[:-1])

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        return np.array([x, y, _wrap(yaw)])

    def sample_controls(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(self.control_low, self.control_high, size=(*shape, 2))

    def policy_features(self, states):
        return states[..., 3:3]


@dataclass(frozen=True)
class OmniParams:
    a_max: float = 1.0
    w_max: float = 1.0
    s_max: float = 0.3

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Omni3:
    """A 3-control robot that declares a mirror: state [x, y, yaw, v], controls [a (m/s^2), w
    (rad/s), s (sideways speed, m/s)]; one policy feature, v. The mirror negates y, yaw, w and s."""

    name = "omni3_test"
    state_dim = 4
    control_dim = 3
    state_names = ("x", "y", "yaw", "v")
    angle_indices, distance_weights = (2,), (1.0, 0.5, 0.25)
    control_names = ("a", "w", "s")
    footprint = Footprint(0.4, 0.3)
    bodies = (footprint,)
    policy_feature_names = ("v",)
    has_mirror = True
    policy_feature_mirror_signs = (1.0,)
    control_mirror_signs = (1.0, -1.0, -1.0)

    def __init__(self) -> None:
        self.params = OmniParams()
        p = self.params
        self.control_low = np.array([-p.a_max, -p.w_max, -p.s_max])
        self.control_high = -self.control_low

    dt = 0.1
    top_speed = 1.3

    def rollout(self, x0: np.ndarray, controls: np.ndarray) -> np.ndarray:
        out = np.empty((len(x0), controls.shape[1] + 1, 4))
        out[:, 0] = x0
        for t in range(controls.shape[1]):  # a test robot: clarity over speed
            x, u = out[:, t], controls[:, t]
            c, s = np.cos(x[:, 2]), np.sin(x[:, 2])
            out[:, t + 1, 0] = x[:, 0] + (x[:, 3] * c - u[:, 2] * s) * self.dt
            out[:, t + 1, 1] = x[:, 1] + (x[:, 3] * s + u[:, 2] * c) * self.dt
            out[:, t + 1, 2] = _wrap(x[:, 2] + u[:, 1] * self.dt)
            out[:, t + 1, 3] = np.clip(x[:, 3] + u[:, 0] * self.dt, 0.0, 1.0)
        return out

    def pose(self, states):
        return states[..., :3]

    def footprint_poses(self, states):
        return states[..., None, :3]  # (..., 1, 3)

    def speed(self, states):
        return states[..., 3]

    def rest_state(self, x: float, y: float, yaw: float) -> np.ndarray:
        return np.array([x, y, _wrap(yaw), 0.0])

    def sample_controls(self, rng, shape):
        return rng.uniform(self.control_low, self.control_high, size=(*shape, 3))

    def policy_features(self, states):
        return states[..., 3:4]

    def mirror_states(self, states: np.ndarray) -> np.ndarray:
        out = np.asarray(states, dtype=float) * np.array([1.0, -1.0, -1.0, 1.0])
        out[..., 2] = _wrap(out[..., 2])
        return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks: one torch thread is fastest, and keeps a loaded machine from thrashing."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _world() -> GridMap:
    """A 6 x 8 room of 1 m cells with one inner wall block."""
    grid = np.ones((6, 8), dtype=np.uint8)
    grid[1:5, 1:7] = 0
    grid[2, 4] = 1
    return GridMap(grid, 1.0, "room")


@pytest.fixture(scope="module")
def known_robots():
    """The test robots registered for this module (the dataset and checkpoint code look robots up by name)."""
    from envs.registry import RobotSpec, register_robot, unregister_robot

    for cls in (Unicycle1, Omni3):
        register_robot(RobotSpec(name=cls.name, entry_point=cls), replace=True)
    yield
    for cls in (Unicycle1, Omni3):
        unregister_robot(cls.name)


def _synthetic_dataset(robot, n_episodes: int = 12, steps: int = 24, seed: int = 0) -> ExpertDataset:
    """Random-control episodes from free cells of :func:`_world`, each aiming at where it ended."""
    world = _world()
    rng = np.random.default_rng(seed)
    cells = world.free_cells()
    xy = world.cell_to_xy(cells[:, 0], cells[:, 1])[rng.integers(0, len(cells), n_episodes)]
    x0 = np.stack([robot.rest_state(px, py, rng.uniform(-np.pi, np.pi)) for px, py in xy])
    u = robot.sample_controls(rng, (n_episodes, steps))
    traj = robot.rollout(x0, u)
    return ExpertDataset.from_episodes(
        list(traj[:, :-1]), list(u), traj[:, -1], traj[:, -1, :2], world,
        {"robot": robot.name, "robot_params": robot.params.to_dict(), "cell_size": 1.0, "map_name": "room"},
    )


# ---------------------------------------------------------------------------------------- the robots
@pytest.mark.parametrize("cls", [Unicycle1, Omni3])
def test_test_robots_satisfy_the_robot_and_policy_protocols(cls):
    robot = cls()
    assert isinstance(robot, Robot)
    check_robot(robot)
    check_policy_robot(robot)
    x = np.stack([robot.rest_state(0.5, -1.0, 0.7)] * 2)
    assert robot.policy_features(x).shape == (2, len(robot.policy_feature_names))
    t = robot.policy_features(torch.zeros(2, robot.state_dim))
    assert isinstance(t, torch.Tensor) and t.shape == (2, len(robot.policy_feature_names))


def test_omni_mirror_is_consistent_with_its_signs():
    robot, rng = Omni3(), np.random.default_rng(1)
    x0 = np.array([[0.3, -0.7, 2.9, 0.5], [-1.0, 2.0, -0.4, 0.0]])
    u = robot.sample_controls(rng, (2, 30))
    a = robot.rollout(x0, u)
    b = robot.rollout(robot.mirror_states(x0), u * np.array(robot.control_mirror_signs))
    np.testing.assert_allclose(b, robot.mirror_states(a), atol=1e-9)


def test_check_policy_robot_enforces_the_mirror_declaration():
    uni = Unicycle1()
    no_flag = SimpleNamespace(**{a: getattr(uni, a) for a in POLICY_ATTRS if a != "has_mirror"})
    with pytest.raises(TypeError, match=r"missing \['has_mirror'\]"):
        check_policy_robot(no_flag)

    class ClaimsMirror(Unicycle1):
        has_mirror = True

    with pytest.raises(TypeError, match="declares a mirror.*lacks.*mirror_states"):
        check_policy_robot(ClaimsMirror())

    class AsymmetricMirror(ClaimsMirror):
        policy_feature_mirror_signs = ()
        control_mirror_signs = (1.0, -1.0)

        def mirror_states(self, states):
            return states * np.array([1.0, -1.0, -1.0])

    # w in [-0.25, 0.5]: the mirror would send w = 0.5 to -0.5, outside the bounds
    with pytest.raises(TypeError, match=r"negates control 'w'.*\[-0.25, 0.5\].*not symmetric"):
        check_policy_robot(AsymmetricMirror())
    check_policy_robot(AsymmetricMirror(UnicycleParams(w_min=-0.5)))  # symmetric bounds: a valid mirror

    class BadSign(AsymmetricMirror):
        control_mirror_signs = (1.0, 0.5)

    with pytest.raises(TypeError, match="only \\+1 and -1"):
        check_policy_robot(BadSign(UnicycleParams(w_min=-0.5)))

    class NotABool(Unicycle1):
        has_mirror = "yes"

    with pytest.raises(TypeError, match="has_mirror must be True or False"):
        check_policy_robot(NotABool())


def test_a_robot_without_a_mirror_is_never_mirrored():
    uni = Unicycle1()
    batch = {"vel": torch.zeros(4, 0), "prev_control": torch.zeros(4, 2), "target": torch.zeros(4, 2),
             "local_map": torch.zeros(4, 20, 20), "actions": torch.zeros(4, 16, 2)}
    with pytest.raises(MirrorError, match="unicycle1_test.*declares no left/right mirror"):
        mirror_sample(batch, uni)
    assert resolve_mirror_p(None, uni) == 0.0 and resolve_mirror_p(0.0, uni) == 0.0
    assert resolve_mirror_p(None, Car()) == 0.5 and resolve_mirror_p(0.2, Car()) == 0.2
    assert resolve_mirror_p(None, Omni3()) == 0.5
    with pytest.raises(DitreeInputError, match="TrainConfig.mirror_p = 0.5.*unicycle1_test.*no left/right mirror"):
        resolve_mirror_p(0.5, uni)
    # the omni robot's mirror flips its 3 controls with its own signs
    omni = Omni3()
    b = {"vel": torch.ones(2, 1), "prev_control": torch.ones(2, 3), "actions": torch.ones(2, 5, 3)}
    m = mirror_sample(b, omni)
    assert m["prev_control"].tolist() == [[1.0, -1.0, -1.0]] * 2 and m["vel"].tolist() == [[1.0]] * 2
    assert (m["actions"][..., 1:] == -1).all() and (m["actions"][..., 0] == 1).all()


def test_normalizer_with_no_features_and_no_mirror_uses_the_data_alone():
    rng = np.random.default_rng(0)
    u = Unicycle1().sample_controls(rng, (2000,))
    n = Normalizer.fit(np.zeros((2000, 0), np.float32), u, mirror=False)
    assert n.vel_mean.shape == (0,) and n.vel_std.shape == (0,)
    # w in [-0.25, 0.5]: its mean is ~0.125, not the 0 a mirror-symmetrised statistic would force
    np.testing.assert_allclose(n.control_mean.numpy(), u.mean(0), rtol=1e-5)
    assert n.control_mean[1] > 0.1
    assert n.norm_vel(torch.zeros(3, 0)).shape == (3, 0)
    again = Normalizer(0, 2)
    again.load_arrays(n.to_dict())
    assert torch.equal(again.control_std, n.control_std)
    # with a mirror (the omni robot), mirror-odd controls have mean exactly 0
    o = Omni3()
    uo = o.sample_controls(rng, (500,)) + [0.5, 0.3, 0.1]
    m = Normalizer.fit(np.abs(rng.normal(size=(500, 1))), uo, vel_signs=o.policy_feature_mirror_signs,
                       control_signs=o.control_mirror_signs)
    assert abs(m.control_mean[1]) < 1e-9 and abs(m.control_mean[2]) < 1e-9 and abs(m.control_mean[0]) > 1e-3


# ---------------------------------------------------------------------------------------- network inputs
def test_policy_config_accepts_zero_features_but_not_zero_controls():
    assert PolicyConfig(vel_dim=0).vel_dim == 0
    with pytest.raises(DitreeInputError, match="vel_dim must be a non-negative int"):
        PolicyConfig(vel_dim=-1)
    with pytest.raises(DitreeInputError, match="control_dim must be a positive int"):
        PolicyConfig(control_dim=0)


@pytest.mark.parametrize("arch", ["mlp", "unet"])
@pytest.mark.parametrize("cls", [Unicycle1, Omni3])
def test_any_width_network_samples_within_the_bounds_and_trains(cls, arch):
    robot = cls()
    F, C = len(robot.policy_feature_names), robot.control_dim
    torch.manual_seed(0)
    policy = FlowPolicy(PolicyConfig(vel_dim=F, control_dim=C, arch=arch, **SMALL), robot)
    B, H = 5, SMALL["pred_horizon"]
    cond = {"vel": torch.randn(B, F), "prev_control": torch.randn(B, C), "target": torch.rand(B, 2) - 0.5,
            "local_map": torch.sign(torch.randn(B, 20, 20))}
    # a wide noise spreads the samples over and beyond the bounds: all must be clipped into them
    u = policy.sample(cond, noise=5 * torch.randn(B, H, C, generator=torch.Generator().manual_seed(1)))
    assert u.shape == (B, H, C) and u.dtype == torch.float32
    # within the exact bounds, as the validator checks them (the omni robot's 0.3 is not a float32)
    low, high = torch.as_tensor(robot.control_low), torch.as_tensor(robot.control_high)
    assert ((u.double() >= low) & (u.double() <= high)).all()
    assert ((u.double() - low).abs() < 1e-6).any() and ((u.double() - high).abs() < 1e-6).any()
    assert ((u.double() > low + 1e-6) & (u.double() < high - 1e-6)).any()
    # the loss has gradients through every input width
    cond_n = policy.standardize_cond(cond)
    loss = flow_matching_loss(policy.net, torch.randn(B, H, C), cond_n, generator=torch.Generator().manual_seed(2))
    loss.backward()
    assert all(p.grad is not None for p in policy.net.parameters() if p.requires_grad)
    with pytest.raises(DitreeInputError, match=f"noise has shape .*expected \\({B}, {H}, {C}\\)"):
        policy.sample(cond, noise=torch.zeros(B, H, C + 1))
    with pytest.raises(DitreeInputError, match=f"{F} policy features.*{C} controls"):
        FlowPolicy(PolicyConfig(vel_dim=F + 1, control_dim=C, **SMALL), robot)


def test_float32_bounds_lie_inside_the_exact_bounds():
    lo, hi = float32_bounds_inside([-0.3, -10.0, -np.pi / 3], [0.3, 10.0, np.pi / 3])
    assert lo.dtype == hi.dtype == torch.float32
    assert (lo.double().numpy() >= [-0.3, -10.0, -np.pi / 3]).all() and (hi.double().numpy() <= [0.3, 10, np.pi / 3]).all()
    assert lo[1] == -10.0 and hi[1] == 10.0  # exact in float32: unchanged
    np.testing.assert_allclose(hi.numpy(), [0.3, 10.0, np.pi / 3], rtol=1e-7)


def test_graph_input_packing_round_trips_any_widths():
    """The packed host buffer of ``GraphedPolicyCall`` (CUDA only) is built by these functions."""
    S, C, H, cap = 3, 3, 16, 8
    cols = input_columns(S, C, H)
    assert cols.tolist() == [0, 3, 6, 8, 8 + 48]
    rng = np.random.default_rng(0)
    buf = np.full((cap, cols[-1]), 7.0, dtype=np.float32)
    x, u, g, z = (rng.normal(size=s).astype(np.float32) for s in ((5, S), (5, C), (5, 2), (5, H, C)))
    assert pack_inputs(buf, cols, x, u, g, z) == 5
    for got, want in zip(unpack_inputs(torch.from_numpy(buf), cols, H, C), (x, u, g, z)):
        assert isinstance(got, torch.Tensor)
        np.testing.assert_array_equal(got[:5].numpy(), want)
    assert (buf[5:] == 7.0).all()  # rows beyond n keep what was there
    with pytest.raises(ValueError, match="'prev_controls' has shape \\(5, 2\\), expected 5 rows of 3"):
        pack_inputs(buf, cols, x, u[:, :2], g, z)
    with pytest.raises(ValueError, match="exceed the graph's capacity 8"):
        pack_inputs(buf, cols, *(np.concatenate([a, a]) for a in (x, u, g, z)))


def test_a_call_on_packed_inputs_equals_the_eager_call_for_a_robot_without_features():
    """What ``GraphedPolicyCall`` records (conditioning + sampling on views of one packed buffer),
    run eagerly on the CPU for the unicycle (F = 0): the same controls as ``policy.act``."""
    robot = Unicycle1()
    torch.manual_seed(0)
    policy = FlowPolicy(PolicyConfig(vel_dim=0, control_dim=2, **SMALL), robot).eval()
    mapper = TorchLocalMapper(_world(), policy.local_map_spec)
    H, C, n, cap = SMALL["pred_horizon"], 2, 5, 8
    rng = np.random.default_rng(3)
    x = np.stack([robot.rest_state(1.5 + 0.3 * i, 2.5, 0.4 * i) for i in range(n)])
    u, g = robot.sample_controls(rng, (n,)), np.tile([[5.5, 1.5]], (n, 1))
    z = rng.standard_normal((n, H, C)).astype(np.float32)
    cols = input_columns(robot.state_dim, C, H)
    buf = torch.zeros((cap, int(cols[-1])))
    pack_inputs(buf.numpy(), cols, x, u, g, z)
    states, prev, targets, noise = unpack_inputs(buf, cols, H, C)
    packed = policy.sample(policy.conditioning(states, prev, targets, mapper), noise=noise)[:n]
    eager = policy.act(x.astype(np.float32), u.astype(np.float32), g.astype(np.float32), mapper,
                       noise=torch.from_numpy(z))
    np.testing.assert_allclose(packed.numpy(), eager, rtol=1e-5, atol=1e-6)


def test_checkpoint_widths_are_checked_at_load(tmp_path):
    src_pt, src_js = (shipped_checkpoint("car").with_suffix(s) for s in (".pt", ".json"))
    meta = json.loads(src_js.read_text())

    def variant(name: str, edit) -> str:
        m = json.loads(json.dumps(meta))
        edit(m)
        shutil.copy(src_pt, tmp_path / f"{name}.pt")
        m["weights_file"] = f"{name}.pt"
        (tmp_path / f"{name}.json").write_text(json.dumps(m))
        return str(tmp_path / f"{name}.json")

    path = variant("three", lambda m: m["policy_config"].update(control_dim=3))
    with pytest.raises(CheckpointError, match=f"{path}: the network outputs 3 controls.*'car' has 2"):
        load_policy(path)
    path = variant("nofeat", lambda m: m["policy_config"].update(vel_dim=0))
    with pytest.raises(CheckpointError, match=f"{path}: the network reads 0 policy features.*'car' has 3"):
        load_policy(path)
    path = variant("names", lambda m: m["robot"].update(policy_feature_names=["v", "D", "phi"]))
    with pytest.raises(CheckpointError, match=f"{path}: trained with policy_feature_names"):
        load_policy(path)
    path = variant("same", lambda m: m["robot"].update(control_names=["dD", "ddelta"]))
    assert load_policy(path).config.control_dim == 2


# ---------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained_unicycle(known_robots, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uni")
    ds = _synthetic_dataset(Unicycle1())
    res = train_policy(ds, tmp_path / "uni.pt", PolicyConfig(**SMALL),
                       TrainConfig(epochs=2, batch_size=32, max_steps_per_epoch=4, warmup_steps=2, val_fraction=0.2),
                       device="cpu", progress=False, log=lambda s: None, robot=Unicycle1())
    return res, ds, tmp_path


def test_unicycle_trains_saves_and_samples_within_its_bounds(trained_unicycle):
    res, ds, tmp = trained_unicycle
    policy = res.policy
    assert policy.config.vel_dim == 0 and policy.config.control_dim == 2 and len(res.history) == 2
    assert np.isfinite(res.history[-1]["train_loss"]) and np.isfinite(res.history[-1]["val_loss"])
    meta = json.loads((tmp / "uni.json").read_text())
    assert meta["policy_config"]["vel_dim"] == 0 and meta["normalizer"]["vel_mean"] == []
    assert meta["robot"]["control_names"] == ["v", "w"] and meta["robot"]["policy_feature_names"] == []
    assert meta["training"]["mirror_p"] == 0.0 and meta["training"]["train_config"]["mirror_p"] is None
    # the normaliser saw the data as they are (w's bounds are asymmetric: its mean is not 0)
    assert policy.normalizer.control_mean[1] > 0.05
    # a positive mirror probability for a robot without a mirror is refused before any work
    with pytest.raises(DitreeInputError, match="TrainConfig.mirror_p"):
        train_policy(ds, None, PolicyConfig(**SMALL), TrainConfig(mirror_p=0.5), device="cpu", progress=False,
                     log=lambda s: None, robot=Unicycle1())
    world = ds.world()
    mapper = TorchLocalMapper(world, policy.local_map_spec)
    rng = np.random.default_rng(5)
    x = ds.states[rng.integers(0, ds.num_pairs, 6)].astype(float)
    prev = Unicycle1().sample_controls(rng, (6,))
    chunks = policy.act(x, prev, ds.goals[:6], mapper, generator=torch.Generator().manual_seed(0))
    assert chunks.shape == (6, SMALL["pred_horizon"], 2) and chunks.dtype == np.float32
    assert (chunks >= Unicycle1().control_low.astype(np.float32)).all()
    assert (chunks <= Unicycle1().control_high.astype(np.float32)).all()
    assert np.ptp(chunks[..., 1]) > 0  # not collapsed onto one value


def test_unicycle_distills_without_mirror(trained_unicycle):
    res, ds, _ = trained_unicycle
    student = student_config(res.policy.config, hidden_dim=16)
    out = distill_policy(res.policy, ds, None, student, DistillConfig(steps=3, batch_size=16, eval_every=3),
                         log=lambda s: None)
    assert out.policy.config.vel_dim == 0 and np.isfinite(out.history[-1]["val_mse_teacher"])
    with pytest.raises(DitreeInputError, match="DistillConfig.mirror_p"):
        distill_policy(res.policy, ds, None, student, DistillConfig(steps=1, mirror_p=0.5), log=lambda s: None)


def test_three_control_robot_trains_with_its_mirror(known_robots):
    ds = _synthetic_dataset(Omni3(), n_episodes=8, steps=16)
    res = train_policy(ds, None, PolicyConfig(**SMALL),
                       TrainConfig(epochs=1, batch_size=16, max_steps_per_epoch=3, warmup_steps=1, val_fraction=0.25),
                       device="cpu", progress=False, log=lambda s: None, robot=Omni3())
    p = res.policy
    assert (p.config.vel_dim, p.config.control_dim) == (1, 3) and np.isfinite(res.history[-1]["train_loss"])
    # mirror-symmetrised statistics: the mean of the mirror-odd controls is exactly 0
    assert abs(p.normalizer.control_mean[1]) < 1e-9 and abs(p.normalizer.control_mean[2]) < 1e-9


def test_policy_sampler_plans_for_the_unicycle_in_the_rrt_core(trained_unicycle):
    """DiTree's tree search with the (barely trained) unicycle policy as its sampler reaches a goal
    behind the wall block; the path validates with PyBullet and the same seed grows the same tree."""
    res, ds, _ = trained_unicycle
    robot = Unicycle1()
    problem = Problem.from_cells(ds.world(), start_cell=(4, 1), start_deg=0.0, goal_cell=(1, 6), robot=robot,
                                 goal_radius=0.5, name="room")
    params = DiTreeParams(batch_size=8, max_iterations=150, device="cpu", precision="float32")
    runs = [DiTreePlanner(params, policy=res.policy).solve(problem, 60.0, seed=3) for _ in range(2)]
    r = runs[0]
    assert r.success and r.robot == "unicycle1_test" and r.counters["policy_calls"] > 0
    assert r.controls.shape[1] == 2 and r.states.shape[1] == 3
    assert (r.controls >= robot.control_low - 1e-9).all() and (r.controls <= robot.control_high + 1e-9).all()
    assert finalize(problem, r).validated
    assert (runs[1].nodes, runs[1].iterations) == (r.nodes, r.iterations)
    assert hashlib.sha1(runs[1].controls.tobytes()).hexdigest() == hashlib.sha1(r.controls.tobytes()).hexdigest()


def test_three_control_policy_plans_and_validates():
    """A (random-weight) 3-control policy in DiTree's tree search: the path's controls, clipped by
    the policy in float32, stay inside bounds float32 cannot hold (0.3), so the path validates."""
    robot = Omni3()
    torch.manual_seed(0)
    policy = FlowPolicy(PolicyConfig(vel_dim=1, control_dim=3, **SMALL), robot).eval()
    problem = Problem.from_cells(_world(), start_cell=(4, 1), start_deg=0.0, goal_cell=(1, 6), robot=robot,
                                 goal_radius=0.5, name="room")
    params = DiTreeParams(batch_size=8, max_iterations=100, device="cpu", precision="float32", epsilon=0.0)
    r = DiTreePlanner(params, policy=policy).solve(problem, 60.0, seed=1)
    assert r.success and r.controls.shape[1] == 3 and r.counters["policy_calls"] > 0
    assert np.isclose(np.abs(r.controls[:, 2]).max(), 0.3)  # the policy's clipping reached the bound
    assert finalize(problem, r).validated
