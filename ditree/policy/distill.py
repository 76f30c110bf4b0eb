"""One-step distillation of a trained policy into a smaller network (``ditree distill``).

DiTree samples its policy with ONE Euler step of the flow (docs/policy.md, 'Flow matching'), so at planning time the
policy is a deterministic map ``(noise z, conditioning) -> z + v(z, 0, cond)``. A student network
(any :class:`~ditree.policy.config.PolicyConfig`, typically narrower) is trained to reproduce that
map by plain regression: for conditioning drawn from the expert dataset (mirrored with probability
``mirror_p`` when the robot declares a mirror) and fresh Gaussian noise, minimise the mean squared
difference between the student's one-step sample and the teacher's, in the teacher's standardised
control space. The student keeps the teacher's normaliser, robot, local-map crop and horizons,
so it is a drop-in :class:`FlowPolicy`; but it has only learnt the flow at ``t = 0``: it is a
ONE-STEP sampler (its checkpoint says so under ``training.distillation``; the policy sampler
refuses more steps).

Why: on a CPU the network is most of DiTree's time, and its cost grows with the parameter count;
a regression target (the teacher's sample for the same noise) is easier to fit than the flow
field, so a small student keeps more of the teacher's quality than the same small network
trained by flow matching (see ``scripts/bench_planners.py`` for the planning numbers).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ditree.policy.checkpoint import save_policy
from ditree.policy.config import PolicyConfig, TrainConfig
from ditree.policy.flow import euler_sample
from ditree.policy.policy import FlowPolicy
from ditree.policy.train import drop_heading, ema_update, lr_factor, mirror_some, prepare_data, resolve_mirror_p
from envs.errors import DitreeInputError

SHARED_FIELDS = ("pred_horizon", "action_horizon", "control_dim", "vel_dim", "map_size", "map_resolution",
                 "target_scale_m", "standardize_target", "target_heading")
"""Policy-config fields a student must share with its teacher (inputs and outputs)."""


@dataclass(frozen=True)
class DistillConfig:
    """Optimisation of :func:`distill_policy`: ``steps`` AdamW steps of ``batch_size`` rows,
    learning rate ``lr`` with ``warmup_steps`` linear warm-up then cosine decay to
    ``min_lr_ratio``, EMA of the weights (``ema_decay``; the EMA student is saved), gradient-norm
    clipping, mirror augmentation probability (None: the robot's default, see
    :func:`ditree.policy.train.resolve_mirror_p`), validation split and seed as in training;
    ``heading_dropout`` as ``TrainConfig.heading_dropout`` (a teacher with the goal's heading only)."""

    steps: int = 8000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    min_lr_ratio: float = 0.02
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    mirror_p: float | None = None
    val_fraction: float = 0.05
    max_val_samples: int = 8192
    eval_every: int = 1000
    seed: int = 0
    heading_dropout: float = 0.3

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "max_val_samples"):
            if getattr(self, name) < 1:
                raise DitreeInputError(f"DistillConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.grad_clip > 0 and self.weight_decay >= 0 and self.warmup_steps >= 0):
            raise DitreeInputError("DistillConfig: lr and grad_clip must be positive, weight_decay and warmup_steps >= 0")
        for name in ("mirror_p", "ema_decay", "min_lr_ratio", "heading_dropout"):
            if name == "mirror_p" and self.mirror_p is None:
                continue
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DitreeInputError(f"DistillConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise DitreeInputError(f"DistillConfig.val_fraction must lie in [0, 1), got {self.val_fraction}")


def student_config(teacher: PolicyConfig, **arch: Any) -> PolicyConfig:
    """The teacher's config with the architecture fields in ``arch`` replaced (e.g. ``hidden_dim``,
    ``num_blocks``, ``cond_dim``, ``map_embed_dim``); input/output fields cannot change."""
    bad = sorted(set(arch) & set(SHARED_FIELDS))
    if bad:
        raise DitreeInputError(f"a student must keep the teacher's {bad}")
    return dataclasses.replace(teacher, **arch)


@torch.no_grad()
def _one_step(net, cond: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    return euler_sample(net, cond, z, 1)


@dataclass
class DistillResult:
    policy: FlowPolicy
    """The EMA student, in eval mode."""
    history: list[dict[str, Any]]
    train_time_s: float
    paths: tuple[Path, Path] | None


def distill_policy(
    teacher: FlowPolicy,
    dataset,
    out: str | Path | None,
    student: PolicyConfig,
    cfg: DistillConfig | None = None,
    data_path: str | None = None,
    log: Callable[[str], None] = print,
) -> DistillResult:
    """Distil ``teacher``'s one-step sampler into a new :class:`FlowPolicy` with config
    ``student``, on the conditioning of ``dataset`` (an ``ExpertDataset`` of the teacher's robot).
    Writes ``out`` (+ .json) after every evaluation if given. CPU or the teacher's device."""
    cfg = cfg or DistillConfig()
    for f in SHARED_FIELDS:
        if getattr(student, f) != getattr(teacher.config, f):
            raise DitreeInputError(f"student config {f}={getattr(student, f)!r} differs from the teacher's "
                                   f"{getattr(teacher.config, f)!r}")
    mirror_p = resolve_mirror_p(cfg.mirror_p, teacher.robot, "DistillConfig.mirror_p")
    device = teacher.device
    torch.manual_seed(cfg.seed)
    t_prep = time.perf_counter()
    tcfg = TrainConfig(val_fraction=cfg.val_fraction, seed=cfg.seed)
    data = prepare_data(dataset, teacher.config, tcfg, device, teacher.robot)
    log(f"data: {len(data.train_rows)} train rows, {len(data.val_rows)} val rows; features in "
        f"{time.perf_counter() - t_prep:.1f} s")
    model = FlowPolicy(student, teacher.robot).to(device)
    model.normalizer.load_state_dict(teacher.normalizer.state_dict())  # the teacher's standardised space
    ema = copy.deepcopy(model).eval()
    for p_ in ema.parameters():
        p_.requires_grad_(False)
    teacher = teacher.eval()
    opt = torch.optim.AdamW(model.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio))
    g = torch.Generator().manual_seed(cfg.seed)
    gv = torch.Generator().manual_seed(cfg.seed + 1)
    H, C = student.pred_horizon, student.control_dim
    val_rows = data.val_rows[: cfg.max_val_samples]
    val_noise = torch.randn((len(val_rows), H, C), generator=gv).to(device)
    log(f"student: {student.arch} {student.hidden_dim}x{student.num_blocks}, {model.num_parameters():,} parameters "
        f"(teacher {teacher.num_parameters():,}); {cfg.steps} steps of {cfg.batch_size}")
    history: list[dict[str, Any]] = []
    paths = None
    t0 = time.perf_counter()
    running = 0.0
    model.net.train()
    for step in range(cfg.steps):
        rows = data.train_rows[torch.randint(len(data.train_rows), (cfg.batch_size,), generator=g).to(device)]
        batch = mirror_some(drop_heading(data.batch(rows, H), cfg.heading_dropout, g), mirror_p, g, teacher.robot)
        cond = model.standardize_cond(batch)
        z = torch.randn((cfg.batch_size, H, C), generator=g).to(device)
        target = _one_step(teacher.net, cond, z)
        loss = torch.mean((euler_sample(model.net, cond, z, 1) - target) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        ema_update(ema, model, cfg.ema_decay, step)
        running += float(loss.detach())
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            n = (step % cfg.eval_every) + 1
            rec = {"step": step + 1, "train_mse": running / n, **_validate(ema, teacher, data, val_rows, val_noise),
                   "lr": sched.get_last_lr()[0], "time_s": round(time.perf_counter() - t0, 1)}
            running = 0.0
            history.append(rec)
            log(f"step {rec['step']}/{cfg.steps}: train mse {rec['train_mse']:.4f}  val mse to teacher "
                f"{rec['val_mse_teacher']:.4f}  val 1-step mse to expert {rec['val_mse_1step']:.4f} "
                f"(teacher {rec['teacher_val_mse_1step']:.4f})  ({rec['time_s']} s)")
            if out is not None:
                paths = save_policy(ema, out, {
                    "distillation": {"teacher": teacher.source or "in-memory", "teacher_parameters":
                                     teacher.num_parameters(), "one_step_only": True, "config": dataclasses.asdict(cfg),
                                     "mirror_p": mirror_p},
                    "data_path": data_path,
                    "data_hash": dataset.content_hash() if hasattr(dataset, "content_hash") else None,
                    "steps": step + 1, "train_time_s": round(time.perf_counter() - t0, 1), "history": history,
                    "device": str(device), "torch_version": torch.__version__,
                })
    return DistillResult(ema.eval(), history, time.perf_counter() - t0, paths)


@torch.no_grad()
def _validate(student: FlowPolicy, teacher: FlowPolicy, data, rows: torch.Tensor, noise: torch.Tensor,
              batch_size: int = 4096) -> dict[str, float]:
    """Mean squared differences (standardised units) on validation rows with fixed noise: student
    vs teacher one-step samples, and each against the expert chunk."""
    if len(rows) == 0:
        nan = math.nan
        return {"val_mse_teacher": nan, "val_mse_1step": nan, "teacher_val_mse_1step": nan}
    H = student.config.pred_horizon
    tot = {"val_mse_teacher": 0.0, "val_mse_1step": 0.0, "teacher_val_mse_1step": 0.0}
    for i in range(0, len(rows), batch_size):
        r = rows[i : i + batch_size]
        b = data.batch(r, H)
        cond = student.standardize_cond(b)
        x1 = student.normalizer.norm_control(b["actions"])
        zs = noise[i : i + batch_size]
        s, t = _one_step(student.net, cond, zs), _one_step(teacher.net, cond, zs)
        tot["val_mse_teacher"] += float(torch.mean((s - t) ** 2)) * len(r)
        tot["val_mse_1step"] += float(torch.mean((s - x1) ** 2)) * len(r)
        tot["teacher_val_mse_1step"] += float(torch.mean((t - x1) ** 2)) * len(r)
    return {k: v / len(rows) for k, v in tot.items()}
