"""The goal's heading in the policy's target (``PolicyConfig.target_heading``): the features, heading
dropout, mirror consistency, a tiny real training run of dynobench's unicycle on full-state goals,
the checkpoint round trip, the sampler giving the heading to goal rows only, closed-loop rollouts,
and the car's seeded plan left unchanged (its checkpoint has no heading)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from ditree.cli import main
from ditree.data.augment import mirror_goals, mirror_sample
from ditree.data.dataset import Episode, ExpertDataset
from ditree.policy import CheckpointError, FlowPolicy, PolicyConfig, TrainConfig, load_policy
from ditree.policy.checkpoint import shipped_checkpoint
from ditree.policy.evaluate import closed_loop, closed_loop_problems
from ditree.policy.features import heading_target, precompute_features, target_features
from ditree.policy.train import drop_heading, mirror_some, prepare_data, train_policy
from ditree.sampler import PolicyControlSampler, PolicySamplerParams
from envs.box_world import BoxWorld
from envs.goal import StateGoal
from envs.local_map import LocalMapSpec, TorchLocalMapper
from envs.problem import Problem, validation_problem
from envs.registry import make_robot, robot_spec
from planners.samplers import SamplerContext

ROBOT = "unicycle1_v0"
TINY = PolicyConfig(vel_dim=0, control_dim=2, pred_horizon=16, action_horizon=4, map_resolution=0.1,
                    target_scale_m=10.0, hidden_dim=32, num_blocks=1, map_channels=(4, 8), map_embed_dim=16,
                    cond_dim=32, time_embed_dim=8, target_heading=True)
BOX = BoxWorld((0.0, 0.0, 4.0, 3.0), np.array([[2.0, 1.5, 0.6, 0.8]]), np.array([[1.0, 2.3, 0.3]]), name="box")


def _dataset(n: int = 8, T: int = 20, seed: int = 0, point_goals: tuple[int, ...] = (1,)) -> ExpertDataset:
    """Random-control unicycle episodes in BOX whose goal is their final state (a full-state goal),
    except episodes ``point_goals``, whose goal is a point."""
    robot, rng, eps = make_robot(ROBOT), np.random.default_rng(seed), []
    for i, xy in enumerate(BOX.sample_free_points(rng, n)):
        states = [robot.rest_state(float(xy[0]), float(xy[1]), float(rng.uniform(-np.pi, np.pi)))]
        u = robot.sample_controls(rng, (T,))
        for t in range(T):
            states.append(np.asarray(robot.step(states[-1], u[t])))
        end = np.asarray(states[-1])
        eps.append(Episode(np.array(states), u, 0, end[:2], None if i in point_goals else end))
    meta = {"dt": robot.dt, "robot_params": robot.params.to_dict(), "seed": seed}
    return ExpertDataset.from_episodes(ROBOT, eps, [BOX], meta)


def _policy(seed: int = 0) -> FlowPolicy:
    torch.manual_seed(seed)
    return FlowPolicy(TINY, make_robot(ROBOT)).eval()


def test_a_target_straight_ahead_with_the_same_heading_and_one_without():
    states = np.array([[1.0, 2.0, 0.7], [1.0, 2.0, 0.7], [0.0, 0.0, -3.0]])
    goals = np.array([[1.0 + 3 * np.cos(0.7), 2.0 + 3 * np.sin(0.7)], [4.0, 2.0], [0.0, -1.0]])
    yaws = np.array([0.7, np.nan, -3.0 + np.pi / 2])
    f = target_features(states, goals, 10.0, yaws)
    assert f.shape == (3, 5)
    np.testing.assert_allclose(f[0], [np.tanh(0.3), 0.0, 1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(f[1, 2:], [0.0, 0.0, 0.0])  # no heading: zeros
    np.testing.assert_allclose(f[2, 2:], [0.0, 1.0, 1.0], atol=1e-12)  # the goal faces 90 deg left of the robot
    # torch gives the same, NaN never leaks; without yaws the target is the squashed xy alone
    t = target_features(torch.from_numpy(states), torch.from_numpy(goals), 10.0, torch.from_numpy(yaws))
    np.testing.assert_allclose(t.numpy(), f, atol=1e-12)
    assert torch.isfinite(t).all()
    assert target_features(states, goals, 10.0).shape == (3, 2)
    # invariant to rotating the robot, its goal and the goal heading together
    rot = states.copy()
    rot[:, 2] += 1.0
    c, s = np.cos(1.0), np.sin(1.0)
    g = goals - states[:, :2]
    g = states[:, :2] + np.column_stack([c * g[:, 0] - s * g[:, 1], s * g[:, 0] + c * g[:, 1]])
    np.testing.assert_allclose(target_features(rot, g, 10.0, yaws + 1.0), f, atol=1e-12)
    np.testing.assert_allclose(heading_target(states, yaws), f[:, 2:])


def test_heading_dropout_drops_the_given_fraction_seeded():
    n = 20000
    batch = {"target": torch.cat([torch.rand(n, 2), torch.ones(n, 3)], 1), "vel": torch.zeros(n, 0)}
    a = drop_heading(batch, 0.3, torch.Generator().manual_seed(5))
    b = drop_heading(batch, 0.3, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a["target"], b["target"])
    dropped = (a["target"][:, 2:] == 0).all(1)
    assert abs(float(dropped.float().mean()) - 0.3) < 0.015
    assert (a["target"][~dropped, 2:] == 1).all() and torch.equal(a["target"][:, :2], batch["target"][:, :2])
    assert drop_heading(batch, 0.0, torch.Generator()) is batch
    # a target without a heading draws nothing: the generator's stream (and so the car's training) is unchanged
    g = torch.Generator().manual_seed(5)
    xy = {"target": torch.rand(4, 2)}
    assert drop_heading(xy, 0.3, g) is xy and torch.equal(g.get_state(), torch.Generator().manual_seed(5).get_state())


def test_mirrored_features_are_the_features_of_the_mirrored_states_and_goals():
    robot = make_robot(ROBOT)
    assert robot.has_mirror
    rng = np.random.default_rng(1)
    states = np.column_stack([rng.uniform(0, 4, 50), rng.uniform(0, 3, 50), rng.uniform(-np.pi, np.pi, 50)])
    goal_states = np.column_stack([rng.uniform(0, 4, 50), rng.uniform(0, 3, 50), rng.uniform(-np.pi, np.pi, 50)])
    yaws = goal_states[:, 2].copy()
    yaws[::3] = np.nan
    f = target_features(states, goal_states[:, :2], 10.0, yaws)
    mirrored_goals = robot.mirror_states(goal_states)
    m_yaws = np.where(np.isnan(yaws), np.nan, mirrored_goals[:, 2])
    np.testing.assert_allclose(mirror_goals(goal_states[:, :2]), mirrored_goals[:, :2])
    want = target_features(robot.mirror_states(states), mirrored_goals[:, :2], 10.0, m_yaws)
    np.testing.assert_allclose(mirror_sample({"target": f}, robot)["target"], want, atol=1e-12)
    # training's per-row mirror on torch tensors agrees
    batch = {"vel": torch.zeros(50, 0), "target": torch.from_numpy(f)}
    out = mirror_some(batch, 1.0, torch.Generator().manual_seed(0), robot)
    np.testing.assert_allclose(out["target"].numpy(), want, atol=1e-12)


def test_training_features_carry_each_episodes_goal_heading():
    ds = _dataset()
    prepared = prepare_data(ds, TINY, TrainConfig(val_fraction=0.25), torch.device("cpu"), make_robot(ROBOT))
    assert prepared.target.shape == (ds.num_pairs, 5)
    plain = precompute_features(ds.states, ds.controls, ds.episode_ends, ds.goals, BOX, LocalMapSpec(20, 0.1), 10.0,
                                robot=make_robot(ROBOT))
    np.testing.assert_array_equal(prepared.target[:, :2].numpy(), plain["target"])  # the xy part as without heading
    for e in range(ds.num_episodes):
        rows = ds.episode_slice(e)
        t = prepared.target[rows].numpy()
        if e == 1:  # the point goal: no heading
            assert (t[:, 2:] == 0).all()
        else:  # the final row is at its goal state: straight ahead, the same heading
            assert (t[:, 4] == 1).all()
            dyaw = ds.goal_states[e, 2] - ds.states[rows, 2]
            np.testing.assert_allclose(t[:, 2:4], np.column_stack([np.cos(dyaw), np.sin(dyaw)]), atol=1e-6)
    # data without any full-state goal cannot teach a heading
    no_goals = ExpertDataset(ds.states, ds.controls, ds.episode_ends, ds.final_states, ds.goals, metadata=ds.metadata,
                             worlds=ds.worlds, episode_world=ds.episode_world)
    with pytest.raises(Exception, match="no full-state goals"):
        prepare_data(no_goals, TINY, TrainConfig(), torch.device("cpu"), make_robot(ROBOT))


def test_tiny_training_round_trips_through_a_checkpoint(tmp_path):
    ds = _dataset(n=8, T=20)
    out = tmp_path / "uni.pt"
    res = train_policy(ds, out, TINY, TrainConfig(epochs=1, batch_size=32, max_steps_per_epoch=3, warmup_steps=1,
                                                  val_fraction=0.25), device="cpu", progress=False, log=lambda s: None)
    assert np.isfinite(res.history[0]["train_loss"])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["policy_config"]["target_heading"] is True
    assert meta["target_features"] == ["forward", "left", "cos_dyaw", "sin_dyaw", "has_heading"]
    assert meta["training"]["train_config"]["heading_dropout"] == 0.3
    policy = load_policy(out)
    assert policy.config == res.policy.config and policy.config.target_dim == 5
    mapper = TorchLocalMapper(BOX, policy.local_map_spec)
    rng = np.random.default_rng(0)
    x = np.column_stack([BOX.sample_free_points(rng, 4), rng.uniform(-np.pi, np.pi, 4)])
    g, z = BOX.sample_free_points(rng, 4), torch.from_numpy(rng.standard_normal((4, 16, 2)).astype(np.float32))
    yaw = np.array([0.5, np.nan, -2.0, 3.0])
    a = policy.act(x, np.zeros((4, 2)), g, mapper, noise=z, target_yaw=yaw)
    np.testing.assert_array_equal(a, res.policy.act(x, np.zeros((4, 2)), g, mapper, noise=z, target_yaw=yaw))
    np.testing.assert_array_equal(a[1], policy.act(x, np.zeros((4, 2)), g, mapper, noise=z)[1])  # NaN = none
    assert not np.array_equal(a[0], policy.act(x, np.zeros((4, 2)), g, mapper, noise=z)[0])
    # recorded target features that disagree with the config are refused
    meta["target_features"] = ["forward", "left"]
    out.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="records target_features"):
        load_policy(out)


def test_an_old_checkpoint_loads_without_the_heading_and_cannot_be_told_it_has_one(tmp_path):
    src = shipped_checkpoint("car")
    meta = json.loads(src.with_suffix(".json").read_text())
    assert "target_heading" not in meta["policy_config"] and "target_features" not in meta
    policy = load_policy()
    assert policy.config.target_heading is False and policy.config.target_dim == 2
    meta["policy_config"]["target_heading"] = True
    shutil.copy(src.with_suffix(".pt"), tmp_path / "c.pt")
    meta["weights_file"] = "c.pt"
    (tmp_path / "c.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="has shape"):
        load_policy(tmp_path / "c.json")


def test_the_cars_seeded_plan_is_deterministic_and_blind_to_goal_headings(monkeypatch):
    """The car's shipped policy reads no goal heading: DiTree's seeded plan on val_maze_small repeats
    exactly, and stays the same when every row is handed a heading. (A pinned hash of the plan would
    hold on one CPU only: the bf16 and float32 kernels torch picks differ between CPUs, and the tree
    amplifies the last bit.)"""
    from ditree.registry import make_planner
    from ditree.sampler import PolicyControlSampler

    problem = validation_problem("val_maze_small")

    def plan() -> str:
        result = make_planner("ditree").solve(problem, 60.0, 0)
        assert result.success
        return hashlib.sha1(np.ascontiguousarray(result.controls).tobytes()).hexdigest()

    first = plan()
    assert plan() == first
    handed: list[int] = []

    def every_row_a_heading(self, targets, goal_rows=None):
        handed.append(len(targets))
        return np.full(len(targets), 1.2)

    monkeypatch.setattr(PolicyControlSampler, "target_yaws", every_row_a_heading)
    assert plan() == first
    assert handed, "the sampler never asked for headings: the check above proves nothing"


def _state_goal_problem() -> Problem:
    robot = make_robot(ROBOT)
    goal = StateGoal.for_robot(robot, np.array([3.5, 0.5, 1.2]), 0.25)
    return Problem(robot, BOX, robot.rest_state(0.5, 0.5, 0.0), goal, name="heading")


def test_the_sampler_gives_the_goal_heading_to_goal_rows_only():
    policy, problem = _policy(), _state_goal_problem()
    sampler = PolicyControlSampler(policy, PolicySamplerParams(epsilon=0.0, precision="float32", device="cpu"))
    assert sampler.exact_goal_targets
    sampler.setup(problem)
    states = np.array([[0.5, 0.5, 0.0], [1.0, 0.6, 0.3], [0.5, 0.5, 0.0]])
    targets = np.array([problem.goal, [2.0, 0.4], problem.goal + 1e-9])
    np.testing.assert_array_equal(sampler.target_yaws(targets), [1.2, np.nan, np.nan])
    u = sampler(states, targets, np.zeros((3, 2)), SamplerContext(problem=problem, rng=np.random.default_rng(7)))
    rng = np.random.default_rng(7)
    rng.random(3)  # the sampler's draw of which rows use random controls
    noise = torch.from_numpy(rng.standard_normal((3, 16, 2)).astype(np.float32))
    mapper = TorchLocalMapper(BOX, policy.local_map_spec)
    want = policy.act(states, np.zeros((3, 2)), targets, mapper, noise=noise, target_yaw=[1.2, np.nan, np.nan])
    np.testing.assert_allclose(u, want[:, :4], rtol=1e-6, atol=1e-6)
    blind = policy.act(states, np.zeros((3, 2)), targets, mapper, noise=noise)
    assert not np.allclose(u[0], blind[0, :4]) and np.allclose(u[1:], blind[1:, :4])
    # a disc goal has no heading: no row gets one
    disc = Problem(problem.robot, BOX, problem.start, problem.goal, goal_radius=0.3, name="disc")
    sampler.setup(disc)
    assert sampler.target_yaws(targets) is None
    # a policy without the heading is given none
    plain = PolicyControlSampler(FlowPolicy(PolicyConfig(**{**TINY.to_dict(), "target_heading": False}),
                                            make_robot(ROBOT)), PolicySamplerParams(device="cpu"))
    plain.setup(problem)
    assert not plain.exact_goal_targets and plain.target_yaws(targets) is None



def test_the_sampler_gives_the_heading_to_the_rows_the_planner_marks():
    """``SamplerContext.goal_rows`` decides which rows get the goal's heading, not float equality:
    a target equal to the goal that the planner did not mark gets none; without a mask (a planner
    that sets none) equality decides, as before."""
    policy, problem = _policy(), _state_goal_problem()
    sampler = PolicyControlSampler(policy, PolicySamplerParams(epsilon=0.0, precision="float32", device="cpu"))
    sampler.setup(problem)
    states = np.array([[0.5, 0.5, 0.0], [1.0, 0.6, 0.3], [0.5, 0.5, 0.0], [2.8, 0.4, 0.1]])
    targets = np.array([problem.goal, problem.goal, [2.0, 0.4], problem.goal])
    marked = np.array([True, False, False, True])  # row 1 equals the goal by coincidence: not marked
    np.testing.assert_array_equal(sampler.target_yaws(targets, marked), [1.2, np.nan, np.nan, 1.2])
    np.testing.assert_array_equal(sampler.target_yaws(targets), [1.2, 1.2, np.nan, 1.2])  # no mask: equality
    with pytest.raises(ValueError, match="goal_rows"):
        sampler.target_yaws(targets, marked[:3])
    # through the sampler protocol: this call holds rows 4, 0, 2, 5 of a batch of 6
    rows, B = np.array([4, 0, 2, 5]), 6
    goal_rows = np.zeros(B, dtype=bool)
    goal_rows[rows] = marked
    goal_rows[1] = True  # a row outside the call
    mapper = TorchLocalMapper(BOX, policy.local_map_spec)
    got = {}
    for name, mask in (("marked", goal_rows), ("unset", None)):
        ctx = SamplerContext(problem=problem, rng=np.random.default_rng(7), rows=rows, batch_size=B, goal_rows=mask)
        got[name] = sampler(states, targets, np.zeros((4, 2)), ctx)
    rng = np.random.default_rng(7)
    rng.random(4)  # the sampler's draw of which rows use random controls
    noise = torch.from_numpy(rng.standard_normal((4, 16, 2)).astype(np.float32))
    act = lambda yaw: policy.act(states, np.zeros((4, 2)), targets, mapper, noise=noise, target_yaw=yaw)[:, :4]
    np.testing.assert_allclose(got["marked"], act([1.2, np.nan, np.nan, 1.2]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["unset"], act([1.2, 1.2, np.nan, 1.2]), rtol=1e-6, atol=1e-6)
    assert not np.allclose(got["marked"][1], got["unset"][1])  # the mask, not the target's value, decided
    np.testing.assert_allclose(got["marked"][[0, 2, 3]], got["unset"][[0, 2, 3]], rtol=1e-6, atol=1e-6)

def test_closed_loop_rollouts_aim_at_the_goal_state_heading():
    policy, problem = _policy(3), _state_goal_problem()
    starts = np.tile(problem.start, (3, 1))
    goals = np.tile(problem.goal, (3, 1))
    kw = {"max_steps": 40, "seed": 0, "record": True, "goal_region": problem.goal_region}
    implicit = closed_loop(policy, BOX, starts, goals, **kw)
    explicit = closed_loop(policy, BOX, starts, goals, goal_yaws=np.full(3, 1.2), **kw)
    blind = closed_loop(policy, BOX, starts, goals, goal_yaws=np.full(3, np.nan), **kw)
    for a, b in zip(implicit.trajectories, explicit.trajectories):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(implicit.trajectories, blind.trajectories))
    many = closed_loop_problems(policy, [problem], 3, max_steps=40, seed=0, record=True)
    assert len(many.trajectories) == 3 and all(np.isfinite(t).all() for t in many.trajectories)


def test_cli_flags_and_the_robots_default(tmp_path, capsys):
    data = _dataset(n=6, T=15).save(tmp_path / "d.npz")
    assert robot_spec(ROBOT).policy.target_heading and not robot_spec("car").policy.target_heading
    common = ["--epochs", "1", "--batch-size", "16", "--max-steps-per-epoch", "2", "--warmup-steps", "1",
              "--hidden-dim", "32", "--num-blocks", "1", "--cond-dim", "32", "--map-embed-dim", "16", "--device", "cpu",
              "--no-progress", "--threads", "1"]
    for flag, want in (([], True), (["--no-target-heading"], False), (["--target-heading", "--heading-dropout", "0.5"],
                                                                       True)):
        out = tmp_path / f"p{len(flag)}.pt"
        assert main(["train", "--data", str(data), "--out", str(out), *common, *flag]) == 0, capsys.readouterr().err
        meta = json.loads(out.with_suffix(".json").read_text())
        assert meta["policy_config"]["target_heading"] is want
        if flag[-1:] == ["0.5"]:
            assert meta["training"]["train_config"]["heading_dropout"] == 0.5


def test_the_graphed_call_on_packed_inputs_with_the_heading_equals_the_eager_call():
    """What ``GraphedPolicyCall`` records (:func:`packed_call` on views of one packed buffer whose
    targets carry the goal yaw, NaN for none), run on the CPU: the same controls as ``policy.act``."""
    from ditree.policy.graphed import input_columns, pack_inputs, packed_call, unpack_inputs

    policy, robot = _policy(1), make_robot(ROBOT)
    mapper = TorchLocalMapper(BOX, policy.local_map_spec)
    H, C, n, cap = 16, 2, 5, 8
    cols = input_columns(robot.state_dim, C, H, heading=True)
    assert np.diff(cols).tolist() == [3, 2, 3, 32]
    rng = np.random.default_rng(3)
    x = np.column_stack([BOX.sample_free_points(rng, n), rng.uniform(-np.pi, np.pi, n)])
    u, g = robot.sample_controls(rng, (n,)), BOX.sample_free_points(rng, n)
    yaw = np.array([0.3, np.nan, -1.0, np.nan, 2.5])
    z = rng.standard_normal((n, H, C)).astype(np.float32)
    buf = torch.full((cap, int(cols[-1])), float("nan"))  # rows beyond n hold anything, NaN included
    pack_inputs(buf.numpy(), cols, x, u, np.column_stack([g, yaw]), z)
    packed = packed_call(policy, mapper, unpack_inputs(buf, cols, H, C), 4)
    eager = policy.act(x.astype(np.float32), u.astype(np.float32), g.astype(np.float32), mapper,
                       noise=torch.from_numpy(z), target_yaw=yaw)
    np.testing.assert_allclose(packed[:n].numpy(), eager[:, :4], rtol=1e-5, atol=1e-6)


def test_ditree_star_leaves_goal_targets_in_place_for_a_policy_with_the_heading():
    """``AimedSampler`` pushes near targets out to ``aim_distance``; a goal target it keeps for a
    sampler that reads the goal's heading from it (``exact_goal_targets``), and still pushes for one
    that does not."""
    from planners.aiming import AIM_FIXED, AimedSampler
    from planners.cost_to_go import CostToGo

    problem = _state_goal_problem()
    states = np.array([[3.0, 0.5, 0.0], [3.0, 0.5, 0.0]])
    targets = np.array([problem.goal, [3.2, 0.5]])
    for heading, want_goal in ((True, problem.goal), (False, [13.0, 0.5])):
        policy = FlowPolicy(PolicyConfig(**{**TINY.to_dict(), "target_heading": heading}), make_robot(ROBOT))
        s = AimedSampler(PolicyControlSampler(policy, PolicySamplerParams(device="cpu")), 16, aim_distance=10.0)
        s.ctg = CostToGo(problem, "euclid")
        s.plan(np.array([AIM_FIXED, AIM_FIXED]), np.zeros(2))
        out = s.targets(states, targets, np.arange(2))
        np.testing.assert_allclose(out, [want_goal, [3.2, 0.5]])
