"""One-step distillation: a small student learns a teacher's one-step samples (tiny real runs),
keeps its inputs and normaliser, loads as a one-step-only policy, and bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ditree.cli import main as cli_main
from ditree.planner import DiTreeParams
from ditree.policy import FlowPolicy, PolicyConfig, TrainConfig, load_policy
from ditree.policy.distill import DistillConfig, distill_policy, student_config
from ditree.policy.train import train_policy
from ditree.sampler import PolicyControlSampler, PolicySamplerParams
from envs.errors import DitreeInputError

TEACHER = PolicyConfig(hidden_dim=96, num_blocks=2, map_channels=(4, 8), map_embed_dim=32, cond_dim=64, time_embed_dim=16)
STUDENT = {"hidden_dim": 32, "num_blocks": 1, "cond_dim": 32, "map_embed_dim": 16}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_car_dataset):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("distill")
    data = tiny_car_dataset(episodes=12, T=50)
    data.save(d / "data.npz")
    tcfg = TrainConfig(epochs=3, batch_size=64, lr=3e-3, warmup_steps=5, val_fraction=0.25, seed=1)
    train_policy(data, d / "teacher.pt", TEACHER, tcfg, device="cpu", progress=False, log=lambda s: None)
    return d, data, load_policy(d / "teacher.pt")


def test_student_learns_the_teachers_one_step_samples(setup):
    d, data, teacher = setup
    cfg = DistillConfig(steps=120, batch_size=64, lr=3e-3, warmup_steps=5, eval_every=40, val_fraction=0.25)
    res = distill_policy(teacher, data, d / "student.pt", student_config(teacher.config, **STUDENT), cfg,
                         log=lambda s: None)
    h = [r["val_mse_teacher"] for r in res.history]
    assert len(h) == 3 and h[-1] < 0.5 * h[0], h
    student = load_policy(d / "student.pt")
    assert student.one_step_only and not teacher.one_step_only
    assert student.num_parameters() < teacher.num_parameters() / 4
    assert student.config.pred_horizon == teacher.config.pred_horizon
    for k, v in teacher.normalizer.state_dict().items():
        assert torch.equal(student.normalizer.state_dict()[k], v)
    # same noise and conditioning: the student's samples are near the teacher's, an untrained one's are not
    torch.manual_seed(0)
    fresh = FlowPolicy(student.config, student.robot)
    fresh.normalizer.load_state_dict(teacher.normalizer.state_dict())
    rng = np.random.default_rng(3)
    B = 128
    cond = {"vel": torch.tensor(rng.uniform([0, -1, -0.4], [3, 1.5, 0.4], (B, 3)), dtype=torch.float32),
            "prev_control": torch.zeros(B, 2), "target": torch.tensor(rng.uniform(-0.5, 0.5, (B, 2)), dtype=torch.float32),
            "local_map": torch.tensor(rng.choice([-1.0, 1.0], (B, 20, 20), p=[0.8, 0.2]), dtype=torch.float32)}
    noise = torch.randn(B, 64, 2)
    t, s, f = (p.sample(cond, noise=noise) for p in (teacher, student, fresh))
    assert torch.mean((s - t) ** 2) < 0.5 * torch.mean((f - t) ** 2)


def test_one_step_students_refuse_more_flow_steps_and_bad_configs(setup, tmp_path):
    d, data, teacher = setup
    assert cli_main(["distill", "--teacher", str(d / "teacher.pt"), "--data", str(d / "data.npz"), "--out",
                     str(tmp_path / "s.pt"), "--hidden-dim", "32", "--num-blocks", "1", "--cond-dim", "32",
                     "--map-embed-dim", "16", "--steps", "4", "--eval-every", "4"]) == 0
    student = load_policy(tmp_path / "s.pt")
    assert student.one_step_only
    PolicyControlSampler(student, PolicySamplerParams(num_flow_steps=1))
    with pytest.raises(DitreeInputError, match="one-step"):
        PolicyControlSampler(student, PolicySamplerParams(num_flow_steps=4))
    with pytest.raises(DitreeInputError, match="pred_horizon"):
        student_config(teacher.config, pred_horizon=32)
    with pytest.raises(DitreeInputError, match="map_resolution"):
        distill_policy(teacher, data, None, PolicyConfig(**{**TEACHER.to_dict(), "map_resolution": 0.4}),
                       DistillConfig(steps=1), log=lambda s: None)
    with pytest.raises(DitreeInputError, match="steps"):
        DistillConfig(steps=0)
    assert DiTreeParams(checkpoint=str(tmp_path / "s.pt")).num_flow_steps == 1
