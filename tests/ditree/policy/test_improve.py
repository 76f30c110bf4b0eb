"""``ditree improve``: a tiny real run (a tiny policy trained here on search episodes of unicycle1_v0,
one round of ditree-star planning, DAgger relabelling with sst, fine-tuning and held-out evaluation),
its resume, closed-loop rollouts in a box world, fine-tuning that keeps the normaliser, bad options."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch

from ditree.cli import main
from ditree.data.search_expert import SearchExpertConfig, collect_search
from ditree.eval.heldout import heldout_problems, is_heldout_seed
from ditree.policy import PolicyConfig, TrainConfig, load_policy
from ditree.policy.evaluate import closed_loop
from ditree.policy.improve import COLUMNS, ImproveConfig, improve, round_seed, training_indices
from ditree.policy.train import train_policy
from envs.box_world import BoxWorld
from envs.collision import AnalyticCollisionChecker, robot_collides
from envs.errors import DitreeInputError
from envs.goal import DiscGoal
from envs.registry import make_robot, robot_spec

ROBOT = "unicycle1_v0"
_PD = robot_spec(ROBOT).policy
TINY = PolicyConfig(hidden_dim=48, num_blocks=1, map_channels=(4, 8), map_embed_dim=16, cond_dim=32, time_embed_dim=16,
                    map_size=_PD.map_size, map_resolution=_PD.map_resolution, target_scale_m=_PD.target_scale_m,
                    pred_horizon=_PD.pred_horizon, action_horizon=_PD.action_horizon)
TINY_RUN = ImproveConfig(rounds=1, problems=3, budget_iters=2, planner_params=(("batch_size", 8),), relabel_iters=40,
                         rollout_s=4.0, finetune_steps=8, warmup_steps=2, batch_size=64, eval_problems=2, eval_time=0.5,
                         eval_rollouts=2, seed=0)


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A tiny policy trained on 3 sst episodes of the unicycle: (checkpoint, seed data)."""
    d = tmp_path_factory.mktemp("improve_start")
    data = d / "seed.npz"
    ds = collect_search(ROBOT, 3, data, seed=1, workers=1, cfg=SearchExpertConfig(iterations=60), progress=False)
    train_policy(ds, d / "start.pt", TINY, TrainConfig(epochs=1, max_steps_per_epoch=10, warmup_steps=2,
                                                       val_fraction=0.0), device="cpu", progress=False,
                 log=lambda s: None)
    return d / "start.pt", data


@pytest.fixture(scope="module")
def tiny_run(start, tmp_path_factory):
    ckpt, data = start
    out = tmp_path_factory.mktemp("improve") / "run"
    rows = improve(ckpt, data, out, TINY_RUN, workers=2, progress=False, log=lambda s: None)
    return out, rows


def test_one_round_writes_a_checkpoint_that_loads_and_differs_and_a_table_row(start, tiny_run):
    ckpt = start[0]
    out, rows = tiny_run
    assert [r["round"] for r in rows] == [0, 1]
    r0, r1 = rows
    assert r0["episodes"] == 3 and r0["new_planned"] is None
    new = r1["new_planned"] + r1["new_relabelled"]
    assert r1["episodes"] == 3 + new and r1["pairs"] > r0["pairs"] * (new > 0)
    assert 0 <= r1["rollouts_failed"] <= 3 and r1["wall_s"] > 0
    for r in rows:
        solved, runs = map(int, r["ditree_success"].split("/"))
        assert runs == 2 and 0 <= solved <= 2 and 0.0 <= r["policy_success"] <= 1.0
    with open(out / "rounds.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["round"] for t in table] == ["0", "1"] and tuple(table[0]) == COLUMNS
    assert table[1]["episodes"] == str(r1["episodes"]) and table[1]["ditree_success"] == r1["ditree_success"]
    md = (out / "rounds.md").read_text().splitlines()
    assert md[-1].startswith("| 1 | ") and md[-2].startswith("| 0 | ")
    # the round's checkpoint loads, is the start policy fine-tuned (its normaliser kept), and differs from it
    p0, p1 = load_policy(ckpt), load_policy(out / "round_1.pt")
    assert p1.config == p0.config and p1.robot.name == ROBOT
    s0, s1 = p0.state_dict(), p1.state_dict()
    norm = [k for k in s0 if k.startswith("normalizer.")]
    assert norm and all(torch.equal(s0[k], s1[k]) for k in norm)
    assert any(not torch.equal(s0[k], s1[k]) for k in s0 if k.startswith("net."))
    meta = json.loads((out / "round_1.json").read_text())["training"]
    assert meta["init_from"] == str(ckpt) and meta["steps"] >= TINY_RUN.finetune_steps
    assert not (out / "round_1.train.pt").exists()
    # the round's new data are validated episodes in generated training worlds outside the held-out seeds
    from ditree.data.dataset import ExpertDataset

    if new:
        ds = ExpertDataset.load(out / "round_1" / "data.npz")
        assert ds.num_episodes == new and ds.metadata["expert"]["kind"] == "improve"
        for m in ds.metadata["episodes_meta"]:
            assert m["kept"] and not is_heldout_seed(m["world_seed"])
            assert m["planner"] == ("ditree-star" if m["kind"] == "plan" else "sst")


def test_training_problems_avoid_held_out_seeds_and_evaluation_uses_them(start, tiny_run):
    out, _ = tiny_run
    from ditree.data.search_expert import problem_factory
    from ditree.policy.improve import ImproveRun

    robot = make_robot(ROBOT)
    run = ImproveRun(TINY_RUN, out, start[0], [start[1]], robot, "box", ("trap", "kink"), 1, False, print)
    rseed = round_seed(0, 1)
    idx = training_indices(run, rseed, 12)
    factory = problem_factory(TINY_RUN.expert_config("sst", 1, {}), robot, rseed)
    seeds = [factory(i).meta["generator"]["seed"] for i in range(idx[-1] + 1)]
    assert [i for i, s in enumerate(seeds) if not is_heldout_seed(s)][:12] == idx
    names = [n for n, _ in heldout_problems(ROBOT, "box", ("trap", "kink"), 2)]
    assert all(is_heldout_seed(int(n.rsplit("-", 1)[1])) for n in names)
    recs = [json.loads(line) for line in (out / "round_1" / "eval" / "runs.jsonl").read_text().splitlines()]
    assert {r["planner"] for r in recs} == {"ditree"} and len(recs) == 2
    assert all(is_heldout_seed(int(r["scenario"].rsplit("-", 1)[1])) for r in recs)


def test_a_killed_round_resumes_at_its_unfinished_stage(start, tiny_run, tmp_path):
    import shutil

    ckpt, data = start
    out, rows = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    # as if killed during fine-tuning: no row, no checkpoint, stages finetune and eval unfinished
    state = json.loads((copy / "round_1" / "state.json").read_text())
    for stage in ("finetune", "eval"):
        del state["stages"][stage]
    (copy / "round_1" / "state.json").write_text(json.dumps(state))
    for f in ("round_1/row.json", "round_1.pt", "round_1.json"):
        (copy / f).unlink()
    (copy / "round_1" / "eval" / "runs.jsonl").write_text("")
    parts = sorted((copy / "round_1" / "plan.parts").glob("ep_*.npz"))
    mtimes = [p.stat().st_mtime_ns for p in parts]
    again = improve(ckpt, data, copy, TINY_RUN, workers=1, progress=False, log=lambda s: None)
    assert [p.stat().st_mtime_ns for p in parts] == mtimes  # planned problems were not planned again
    assert again[0] == rows[0] and again[1]["episodes"] == rows[1]["episodes"]
    a, b = torch.load(out / "round_1.pt"), torch.load(copy / "round_1.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same fine-tuning, bit for bit
    # other settings in the same folder are refused, naming what differs
    with pytest.raises(DitreeInputError, match="problems"):
        improve(ckpt, data, copy, dataclasses.replace(TINY_RUN, problems=4), workers=1, progress=False,
                log=lambda s: None)


def test_closed_loop_in_a_box_world_records_trajectories_and_uses_the_goal_region(start):
    policy = load_policy(start[0])
    robot = policy.robot
    world = BoxWorld((0.0, 0.0, 3.0, 2.0), np.array([[2.2, 1.0, 0.3, 1.8]]), name="wall_ahead")
    starts = np.array([robot.rest_state(0.5, 1.0, 0.0), robot.rest_state(0.6, 0.7, 0.3),
                       robot.rest_state(0.5, 1.3, -0.2)])
    goals = np.tile([2.8, 1.0], (3, 1))  # behind the wall
    res = closed_loop(policy, world, starts, goals, goal_radius=0.2, max_steps=60, seed=3, record=True)
    checker = AnalyticCollisionChecker(world, robot.bodies)
    assert len(res.trajectories) == 3
    for i, traj in enumerate(res.trajectories):
        assert traj.shape == (res.steps[i] + 1, robot.state_dim)
        np.testing.assert_allclose(traj[0], starts[i])
        hits = robot_collides(robot, checker, traj)
        assert not hits[:-1].any()
        assert hits[-1] == res.collided[i]
        assert res.collided[i] or res.steps[i] >= 60 or res.success[i]
    # the same rollouts with the same seed, without recording
    again = closed_loop(policy, world, starts, goals, goal_radius=0.2, max_steps=60, seed=3)
    np.testing.assert_array_equal(again.steps, res.steps)
    assert again.trajectories is None
    # a goal region decides success: a disc around the starts is reached at the first step
    res = closed_loop(policy, world, starts, goals, goal_region=DiscGoal(np.array([0.55, 1.0]), 0.9), max_steps=60,
                      seed=3)
    assert res.success.all() and (res.steps == 1).all()


def test_fine_tuning_keeps_weights_normaliser_and_checks_the_robot(start, tiny_car_dataset):
    ckpt, data = start
    from ditree.policy.train import load_dataset

    ds = load_dataset(data)
    res = train_policy(ds, None, train_config=TrainConfig(epochs=1, max_steps_per_epoch=1, lr=1e-12, warmup_steps=1,
                                                          val_fraction=0.0), device="cpu", progress=False,
                       log=lambda s: None, init_from=ckpt)
    p0 = load_policy(ckpt)
    for k, v in p0.state_dict().items():  # one step at lr 1e-12: the start policy itself
        assert torch.allclose(res.policy.state_dict()[k], v, atol=1e-6), k
    with pytest.raises(DitreeInputError, match="trained for robot 'unicycle1_v0'.*'car'"):
        train_policy(tiny_car_dataset(episodes=2, T=20), None, device="cpu", progress=False, log=lambda s: None,
                     init_from=ckpt)
    with pytest.raises(DitreeInputError, match="policy config differs"):
        train_policy(ds, None, PolicyConfig(), device="cpu", progress=False, log=lambda s: None, init_from=ckpt)


@pytest.mark.parametrize("flags, message", [
    (["--rounds", "0"], "rounds must be an integer >= 1"),
    (["--problems", "-2"], "problems must be an integer >= 1"),
    (["--eval-time", "0"], "eval_time must be a positive number"),
    (["--eval-seed", "-1"], "eval_seed must be an integer >= 0"),
    (["--param", "checkpoint=x.pt"], "may not set checkpoint"),
    (["--param", "nonsense=1"], "no such parameter"),
    (["--kinds", "maze"], "unknown box world kind"),
    (["--validation"], "validation scenarios are the car's maps"),
    (["--workers", "0"], "workers must be an integer >= 1"),
])
def test_bad_options_are_one_line_errors(start, tmp_path, capsys, flags, message):
    ckpt, data = start
    code = main(["improve", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(tmp_path / "o"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and err.startswith("ditree improve: error:")


def test_missing_checkpoint_is_a_one_line_error(start, tmp_path, capsys):
    code = main(["improve", "--checkpoint", str(tmp_path / "none.pt"), "--data", str(start[1]), "--out",
                 str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "none.json" in err and len(err.splitlines()) == 1


def test_closed_loop_over_many_box_problems_batches_them_and_matches_one_at_a_time(start):
    from ditree.policy.evaluate import closed_loop_problems

    policy = load_policy(start[0])
    robot = policy.robot
    problems = [p for _, p in heldout_problems(ROBOT, "box", ("clutter", "trap", "open"), 3)]
    res = closed_loop_problems(policy, problems, 2, max_steps=40, seed=5, record=True)
    assert len(res.success) == 6 and len(res.trajectories) == 6
    for i, traj in enumerate(res.trajectories):
        p = problems[i // 2]
        np.testing.assert_allclose(traj[0], p.start)
        assert traj.shape == (res.steps[i] + 1, robot.state_dim)
        hits = robot_collides(robot, AnalyticCollisionChecker(p.world, robot.bodies), traj)
        assert not hits[:-1].any() and hits[-1] == res.collided[i]
        assert bool(p.goal_region.reached(traj[-1:])[0]) == res.success[i]
    # one problem: the same rollouts as closed_loop in its world with its goal region
    p = problems[0]
    one = closed_loop_problems(policy, [p], 3, max_steps=40, seed=7, record=True)
    ref = closed_loop(policy, p.world, np.repeat(p.start[None], 3, 0), np.repeat(p.goal[None], 3, 0),
                      goal_region=p.goal_region, max_steps=40, seed=7, record=True)
    np.testing.assert_array_equal(one.steps, ref.steps)
    for a, b in zip(one.trajectories, ref.trajectories):
        np.testing.assert_array_equal(a, b)


def test_transfer_fine_tunes_a_policy_for_a_robot_with_the_same_inputs_and_its_own_bounds(start, tmp_path,
                                                                                          tiny_car_dataset):
    """``init_from`` with ``transfer``: unicycle1_v0's policy starts unicycle1_v2's (same states, controls
    and features; other bounds). The result is unicycle1_v2's policy, clips to its bounds, and says where
    it came from; without ``transfer`` it is refused, and a robot with other inputs cannot be a target."""
    from ditree.data.dataset import Episode, ExpertDataset

    ckpt, _ = start
    v2 = make_robot("unicycle1_v2")
    world = BoxWorld((0.0, 0.0, 6.0, 6.0), np.zeros((0, 4)), name="open")
    rng = np.random.default_rng(0)
    episodes = []
    for i in range(3):
        u = rng.uniform(v2.control_low, v2.control_high, size=(40, 2))
        x = v2.rollout(np.array([[1.0, 1.0 + 1.5 * i, 0.0]]), u[None])[0]
        episodes.append(Episode(x, u, 0, x[-1, :2], goal_state=x[-1]))
    ds = ExpertDataset.from_episodes("unicycle1_v2", episodes, [world], {})
    tc = TrainConfig(epochs=1, max_steps_per_epoch=2, warmup_steps=1, val_fraction=0.0)
    quiet = {"device": "cpu", "progress": False, "log": lambda s: None}
    with pytest.raises(DitreeInputError, match="ask for a transfer"):
        train_policy(ds, None, train_config=tc, init_from=ckpt, **quiet)
    train_policy(ds, tmp_path / "v2.pt", train_config=tc, init_from=ckpt, transfer=True, **quiet)
    policy = load_policy(tmp_path / "v2.pt", robot="unicycle1_v2")
    assert policy.robot.name == "unicycle1_v2" and load_policy(ckpt).robot.name == ROBOT
    np.testing.assert_allclose(policy.control_low.numpy(), [0.25, -0.25], atol=1e-6)
    np.testing.assert_allclose(load_policy(ckpt).control_low.numpy(), [-0.5, -0.5], atol=1e-6)
    assert json.loads((tmp_path / "v2.json").read_text())["training"]["transferred_from"] == ROBOT
    with pytest.raises(DitreeInputError, match="cannot transfer.*state_names differ"):
        train_policy(tiny_car_dataset(episodes=2, T=20), None, train_config=tc, init_from=ckpt, transfer=True, **quiet)
