"""Training of the flow-matching policy on expert demonstrations (``ditree train``).

Recipe: conditional flow matching (rectified flow, :mod:`ditree.policy.flow`) on standardised
control chunks; AdamW with linear warm-up then cosine decay; EMA of the weights (the EMA weights
are what gets saved and validated); gradient-norm clipping; left/right mirror augmentation with
probability ``mirror_p`` for a robot that declares a mirror (``has_mirror``, :mod:`envs.robot`;
none for any other, see :func:`resolve_mirror_p`); a validation split by EPISODE whose loss is
reported every epoch.

Features of all N rows (local maps included) are computed once up front
(:func:`ditree.policy.features.precompute_features`, world by world for a dataset of several
worlds: :func:`dataset_features`), so an epoch is pure tensor indexing and optimisation. Same code on CUDA and CPU. Seeded: the shuffle, noise, flow times and mirror
decisions of epoch ``k`` come from a generator seeded with ``(seed, k)``, so a resumed run
continues exactly as an uninterrupted one would from an epoch boundary.

Files written for ``out = NAME.pt``: ``NAME.pt`` + ``NAME.json`` (the EMA policy, see
:mod:`ditree.policy.checkpoint`) and ``NAME.train.pt`` (optimiser, schedule, raw and EMA weights,
history: what ``resume`` needs), all rewritten after every epoch and on Ctrl-C.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ditree.data.augment import mirror_sample
from ditree.policy.checkpoint import checkpoint_paths, save_policy
from ditree.policy.config import PolicyConfig, TrainConfig
from ditree.policy.features import chunk_rows, episode_rows, precompute_features
from ditree.policy.flow import euler_sample, flow_matching_loss
from ditree.policy.normalizer import Normalizer
from ditree.policy.policy import FlowPolicy, float32_bounds_inside
from envs.car import CarParams
from envs.errors import DitreeInputError
from envs.local_map import LocalMapSpec
from envs.registry import make_robot, registered_robots
from envs.robot import Robot, declares_mirror


def load_dataset(path: str | Path):
    """An ``ExpertDataset`` (``ditree.data.dataset``) from an .npz file."""
    from ditree.data.dataset import ExpertDataset

    if not Path(path).is_file():
        raise DitreeInputError(f"training data not found: {path}")
    return ExpertDataset.load(path)


def load_datasets(paths) -> Any:
    """One ``ExpertDataset`` from one or several .npz files (several: ``ExpertDataset.concat`` in
    the given order). The files must hold data of the same robot with the same parameters: else a
    :class:`DitreeInputError` naming the first file and the one that differs."""
    from ditree.data.dataset import ExpertDataset

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise DitreeInputError("no training data files given")
    parts = [load_dataset(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    first, (name0, params0) = paths[0], _robot_entry(parts[0])
    for path, d in zip(paths[1:], parts[1:]):
        name, params = _robot_entry(d)
        if name != name0:
            raise DitreeInputError(f"training data of different robots: {first} is for robot {name0!r}, "
                                   f"{path} for {name!r}")
        if params is not None and params0 is not None and params != params0:
            diff = sorted(k for k in set(params) | set(params0) if params.get(k) != params0.get(k))
            raise DitreeInputError(f"training data collected with other robot parameters: {path} differs from {first} "
                                   f"in {', '.join(diff)}")
    return ExpertDataset.concat(parts)


def _robot_entry(dataset) -> tuple[str, dict | None]:
    """(robot name, parameter dict or None) recorded in a dataset's metadata: ``metadata["robot"]``
    is a name (or a dict with ``name``/``params``, the car when it has no name) and
    ``metadata["robot_params"]`` its parameters; no entry means the car."""
    md = getattr(dataset, "metadata", {}) or {}
    r = md.get("robot", "car")
    params = md.get("robot_params")
    if isinstance(r, dict):
        name = r.get("name", "car")
        if params is None:
            params = r.get("params", r)
    else:
        name = r
    if name not in registered_robots():
        raise DitreeInputError(f"training data: metadata robot {name!r} is not a known robot "
                               f"(registered: {', '.join(registered_robots())})")
    return name, params if isinstance(params, dict) else None


def robot_of(dataset) -> Robot:
    """The robot a dataset was collected with, from its metadata (the default car when absent);
    parameter keys its parameter dataclass does not know are ignored."""
    name, params = _robot_entry(dataset)
    if params is None:
        return make_robot(name)
    fields = make_robot(name).params.__dataclass_fields__
    return make_robot(name, {k: v for k, v in params.items() if k in fields})


def robot_params_of(dataset) -> CarParams:
    """The car parameters recorded in a dataset's metadata (defaults when absent); for a dataset of
    another robot use :func:`robot_of`."""
    robot = robot_of(dataset)
    if not isinstance(robot.params, CarParams):
        raise DitreeInputError(f"training data are for robot {robot.name!r}, not the car: use robot_of")
    return robot.params


def fit_config(cfg: PolicyConfig, robot: Robot) -> PolicyConfig:
    """``cfg`` with ``vel_dim`` and ``control_dim`` set to the robot's feature and control counts
    (the defaults, 3 and 2, are the car's; a robot may have no features and any number of controls)."""
    return dataclasses.replace(cfg, vel_dim=len(robot.policy_feature_names), control_dim=robot.control_dim)


DEFAULT_MIRROR_P = 0.5
"""Mirror probability of a robot that declares a mirror when the config leaves ``mirror_p`` None."""


def resolve_mirror_p(mirror_p: float | None, robot: Robot, field: str = "TrainConfig.mirror_p") -> float:
    """The mirror-augmentation probability to train ``robot`` with: ``mirror_p`` None means
    :data:`DEFAULT_MIRROR_P` for a robot that declares a mirror (``robot.has_mirror``) and 0 for one
    that does not; a positive ``mirror_p`` for a robot without a mirror raises
    :class:`DitreeInputError` naming ``field`` (its mirrored samples would be wrong)."""
    mirrored = declares_mirror(robot)
    if mirror_p is None:
        return DEFAULT_MIRROR_P if mirrored else 0.0
    if mirror_p > 0 and not mirrored:
        raise DitreeInputError(
            f"{field} = {mirror_p:g}, but robot {robot.name!r} declares no left/right mirror (has_mirror is not "
            "True); leave it unset or set it to 0"
        )
    return float(mirror_p)


@dataclass
class PreparedData:
    """Precomputed training tensors (on the training device) and the episode split."""

    vel: torch.Tensor  # (N, F) raw policy features
    prev_control: torch.Tensor  # (N, C) raw
    target: torch.Tensor  # (N, 2) squashed robot-frame; (N, 5) with the goal's heading
    local_map: torch.Tensor  # (N, S, S) int8
    controls: torch.Tensor  # (N, C) raw
    last_row: torch.Tensor  # (N,) int64
    train_rows: torch.Tensor  # (Nt,) int64
    val_rows: torch.Tensor  # (Nv,) int64
    normalizer: Normalizer
    n_train_episodes: int
    n_val_episodes: int

    def batch(self, rows: torch.Tensor, horizon: int) -> dict[str, torch.Tensor]:
        """Raw training sample for ``rows``: conditioning + ``actions`` (B, horizon, C)."""
        return {
            "vel": self.vel[rows],
            "prev_control": self.prev_control[rows],
            "target": self.target[rows],
            "local_map": self.local_map[rows].float(),
            "actions": self.controls[chunk_rows(rows, self.last_row[rows], horizon)],
        }


PER_EPISODE_METADATA = ("episodes_meta",)
"""Dataset metadata keys with one entry per episode, left out of a checkpoint's record of its data."""


def metadata_summary(metadata: dict) -> dict:
    """``metadata`` without its per-episode entries (:data:`PER_EPISODE_METADATA`; their count is
    kept as ``<key>_count``) and without per-episode timing lists: what a checkpoint records of its data."""
    out = {}
    for key, value in metadata.items():
        if key in PER_EPISODE_METADATA:
            out[f"{key}_count"] = len(value)
        elif isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if not (isinstance(v, list) and len(v) > 16)}
        else:
            out[key] = value
    return out


def split_episodes(n_episodes: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of episode indices into (train, val); at least one of each when possible."""
    perm = np.random.default_rng(seed).permutation(n_episodes)
    n_val = round(val_fraction * n_episodes)
    if val_fraction > 0 and n_episodes > 1:
        n_val = min(max(n_val, 1), n_episodes - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def goal_yaws_of(dataset) -> np.ndarray:
    """``(E,)`` each episode's goal heading (rad): component 2 of its ``goal_states`` row, NaN for an
    episode whose goal was a point (or a dataset without ``goal_states``)."""
    E = len(dataset.episode_ends)
    states = getattr(dataset, "goal_states", None)
    if states is None:
        return np.full(E, np.nan)
    return np.asarray(states, dtype=np.float64)[:, 2].copy()


def dataset_features(dataset, spec: LocalMapSpec, target_scale_m: float, robot: Robot,
                     target_heading: bool = False) -> dict[str, np.ndarray]:
    """:func:`~ditree.policy.features.precompute_features` of every row of ``dataset``, world by
    world: the rows of the episodes in each world (``dataset.episode_world_indices()``) with that
    world's crops, assembled in row order; ``episode`` and ``last_row`` index the whole dataset.
    A one-world dataset is one call with its world (the same arrays as before worlds existed).
    ``target_heading``: targets carry the goal's heading (:func:`goal_yaws_of`), ``target`` (N, 5)."""
    worlds = dataset.worlds_list() if hasattr(dataset, "worlds_list") else [dataset.world()]
    yaws = goal_yaws_of(dataset) if target_heading else None
    if len(worlds) == 1:
        return precompute_features(dataset.states, dataset.controls, dataset.episode_ends, dataset.goals, worlds[0],
                                   spec, target_scale_m, robot=robot, goal_yaws=yaws)
    if len(dataset.states) == 0:
        raise DitreeInputError("the training data hold no state-control pairs")
    ends = np.asarray(dataset.episode_ends, dtype=np.int64)
    lengths = np.diff(np.r_[0, ends])
    row_world = np.repeat(dataset.episode_world_indices(), lengths)
    out: dict[str, np.ndarray] = {}
    for w, world in enumerate(worlds):
        eps = np.flatnonzero(dataset.episode_world_indices() == w)
        if len(eps) == 0:
            continue
        rows = np.flatnonzero(row_world == w)  # whole episodes, in order
        part = precompute_features(dataset.states[rows], dataset.controls[rows], np.cumsum(lengths[eps]),
                                   dataset.goals[eps], world, spec, target_scale_m, robot=robot,
                                   goal_yaws=None if yaws is None else yaws[eps])
        for key in ("vel", "prev_control", "target", "local_map"):
            if key not in out:
                out[key] = np.empty((len(dataset.states), *part[key].shape[1:]), dtype=part[key].dtype)
            out[key][rows] = part[key]
    out["episode"], _, out["last_row"] = episode_rows(ends)
    return out


def prepare_data(
    dataset, cfg: PolicyConfig, tcfg: TrainConfig, device: torch.device, robot: Robot | None = None
) -> PreparedData:
    """Features of every row (``robot`` None = the dataset's), the episode split and the normaliser."""
    robot = robot if robot is not None else robot_of(dataset)
    spec = LocalMapSpec(cfg.map_size, cfg.map_resolution)
    if cfg.target_heading and np.isnan(goal_yaws_of(dataset)).all():
        raise DitreeInputError("PolicyConfig.target_heading: the training data hold no full-state goals (goal_states), so "
                               "no target has a heading to learn from; train without it (--no-target-heading)")
    f = dataset_features(dataset, spec, cfg.target_scale_m, robot, cfg.target_heading)
    train_eps, val_eps = split_episodes(len(dataset.episode_ends), tcfg.val_fraction, tcfg.seed)
    in_val = np.isin(f["episode"], val_eps)
    train_rows = np.flatnonzero(~in_val)
    if len(train_rows) == 0:
        raise DitreeInputError("no training rows left after the validation split")
    controls = np.asarray(dataset.controls, dtype=np.float32)
    mirrored = declares_mirror(robot)
    normalizer = Normalizer.fit(
        f["vel"][train_rows], controls[train_rows], f["target"][train_rows] if cfg.standardize_target else None,
        vel_signs=robot.policy_feature_mirror_signs if mirrored else None,
        control_signs=robot.control_mirror_signs if mirrored else None, mirror=mirrored,
    )

    def t(a, dtype=None):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype).to(device)

    return PreparedData(
        vel=t(f["vel"]), prev_control=t(f["prev_control"]), target=t(f["target"]), local_map=t(f["local_map"]),
        controls=t(controls), last_row=t(f["last_row"], torch.int64), train_rows=t(train_rows, torch.int64),
        val_rows=t(np.flatnonzero(in_val), torch.int64), normalizer=normalizer.to(device),
        n_train_episodes=len(train_eps), n_val_episodes=len(val_eps),
    )


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from 1 to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * frac))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """EMA of parameters with the usual warm-up ``min(decay, (1+step)/(10+step))``."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - d)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)


def drop_heading(batch: dict[str, torch.Tensor], p: float, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Remove the goal's heading (zeros in ``target[:, 2:]``) from each sample of a raw batch
    independently with probability ``p`` (``TrainConfig.heading_dropout``), drawing from ``g``.
    A batch whose targets carry no heading (``target`` (B, 2)) or ``p = 0`` is returned as is
    (nothing drawn)."""
    target = batch["target"]
    if p <= 0 or target.shape[1] == 2:
        return batch
    drop = (torch.rand(target.shape[0], generator=g) < p).to(target.device)
    out = dict(batch)
    out["target"] = torch.cat([target[:, :2], torch.where(drop[:, None], torch.zeros_like(target[:, 2:]), target[:, 2:])], 1)
    return out


def mirror_some(batch: dict[str, torch.Tensor], p: float, g: torch.Generator, robot: Robot | None = None
                ) -> dict[str, torch.Tensor]:
    """Mirror each sample of a raw batch independently with probability ``p``
    (``ditree.data.augment.mirror_sample`` with the robot's signs (None = the car) on the whole
    batch, then a per-row choice). ``p = 0`` returns ``batch`` (any robot); ``p > 0`` needs a robot
    that declares a mirror."""
    if p <= 0:
        return batch
    mask = (torch.rand(batch["vel"].shape[0], generator=g) < p).to(batch["vel"].device)
    m = mirror_sample(batch, robot)
    return {k: torch.where(mask.view(-1, *([1] * (v.ndim - 1))), m[k], v) for k, v in batch.items()}


@torch.no_grad()
def evaluate(policy: FlowPolicy, data: PreparedData, rows: torch.Tensor, seed: int, batch_size: int = 4096) -> dict[str, float]:
    """Validation metrics of ``policy`` on ``rows`` with fixed noise and flow times:
    ``loss`` (the flow-matching loss) and ``mse_1step`` (MSE of a one-step sample against the
    expert chunk, in standardised units)."""
    if len(rows) == 0:
        return {"loss": float("nan"), "mse_1step": float("nan")}
    g = torch.Generator().manual_seed(seed)
    H = policy.config.pred_horizon
    tot_loss = tot_mse = 0.0
    was = policy.net.training
    policy.net.eval()
    for i in range(0, len(rows), batch_size):
        r = rows[i : i + batch_size]
        b = data.batch(r, H)
        cond = policy.standardize_cond(b)
        x1 = policy.normalizer.norm_control(b["actions"])
        x0 = torch.randn(x1.shape, generator=g).to(x1.device)
        t = torch.rand(x1.shape[0], generator=g).to(x1.device)
        tot_loss += float(flow_matching_loss(policy.net, x1, cond, x0=x0, t=t)) * len(r)
        tot_mse += float(torch.mean((euler_sample(policy.net, cond, x0, 1) - x1) ** 2)) * len(r)
    policy.net.train(was)
    return {"loss": tot_loss / len(rows), "mse_1step": tot_mse / len(rows)}


@dataclass
class TrainResult:
    policy: FlowPolicy
    """The EMA policy, in eval mode."""
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_done: int = 0
    train_time_s: float = 0.0
    interrupted: bool = False
    paths: tuple[Path, Path] | None = None


def _init_policy(init_from: FlowPolicy | str | Path | None, dataset, robot: Robot | None, transfer: bool = False
                 ) -> tuple[FlowPolicy | None, str | None]:
    """The policy to fine-tune (loaded on the CPU when a path) and how to name it, after checking
    that the data (and ``robot``, if given) are of its robot with the same parameters, or, with
    ``transfer``, of a robot with the same state, control and policy-feature names
    (:func:`transferable`)."""
    if init_from is None:
        return None, None
    if isinstance(init_from, FlowPolicy):
        init, source = init_from, getattr(init_from, "source", None) or "the given policy"
    else:
        from ditree.policy.checkpoint import load_policy

        init, source = load_policy(init_from), str(init_from)
    for what, other in (("the training data", robot_of(dataset)), ("robot", robot)):
        if other is None or (other.name == init.robot.name and other.params == init.robot.params):
            continue
        if not transfer:
            raise DitreeInputError(f"init_from {source}: trained for robot {init.robot.name!r} with its parameters, "
                                   f"but {what} are for {other.name!r}"
                                   + (" with other parameters" if other.name == init.robot.name else "")
                                   + "; to start another robot's policy from it, ask for a transfer")
        why = transferable(init.robot, other)
        if why:
            raise DitreeInputError(f"init_from {source}: cannot transfer a policy of robot {init.robot.name!r} to "
                                   f"{other.name!r} ({what}): {why}")
    return init, source


def transferable(source: Robot, target: Robot) -> str:
    """Why a policy of robot ``source`` cannot be fine-tuned for robot ``target`` ('' when it can):
    the network's inputs and outputs must mean the same things, i.e. equal ``state_names``,
    ``control_names`` and ``policy_feature_names``. Bounds, footprints and other parameters may
    differ (dynobench's ``unicycle1_v1`` and ``unicycle1_v2`` differ only in the turn-rate bounds)."""
    for attr in ("state_names", "control_names", "policy_feature_names"):
        a, b = tuple(getattr(source, attr)), tuple(getattr(target, attr))
        if a != b:
            return f"{attr} differ ({list(a)} vs {list(b)})"
    return ""


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_policy(
    dataset,
    out: str | Path | None = None,
    policy_config: PolicyConfig | None = None,
    train_config: TrainConfig | None = None,
    device: str | torch.device | None = None,
    resume: bool = False,
    progress: bool = True,
    data_path: str | None = None,
    log: Callable[[str], None] = print,
    robot: Robot | None = None,
    init_from: FlowPolicy | str | Path | None = None,
    transfer: bool = False,
) -> TrainResult:
    """Train a :class:`FlowPolicy` on an ``ExpertDataset``; write checkpoints to ``out`` (if given)
    after every epoch and on Ctrl-C. Returns the EMA policy and the per-epoch history.

    The robot is ``robot`` if given (it must be the one the data were collected with), else the
    dataset's (:func:`robot_of`: its metadata, the car when absent); the policy config's ``vel_dim``
    and ``control_dim`` are set to that robot's (:func:`fit_config`), and the mirror probability
    follows it (:func:`resolve_mirror_p`).

    ``init_from`` (a policy or a checkpoint path): fine-tune it instead of training from scratch.
    Its architecture (``policy_config`` must be None or the same), its weights (raw and EMA start
    from them) and its normaliser are kept (the data's statistics are not refitted); the data must
    be of its robot with the same parameters (else :class:`DitreeInputError`), unless ``transfer``:
    then the data may be of another robot whose network inputs and outputs mean the same
    (:func:`transferable`), and the fine-tuned policy is that robot's (its control bounds replace
    the source's; the normaliser stays the source's)."""
    from tqdm import tqdm

    tcfg = train_config or TrainConfig()
    init, init_source = _init_policy(init_from, dataset, robot, transfer)
    if robot is None:
        robot = init.robot if init is not None and not transfer else robot_of(dataset)
    mirror_p = resolve_mirror_p(tcfg.mirror_p, robot)
    if init is not None:
        if policy_config is not None and fit_config(policy_config, robot) != init.config:
            raise DitreeInputError(f"init_from {init_source}: its policy config differs from the one given; fine-tuning "
                                   "keeps the architecture (pass no policy config)")
        cfg = init.config
    else:
        cfg = fit_config(policy_config or PolicyConfig(), robot)
    device = torch.device(device) if device is not None else _default_device()
    torch.manual_seed(tcfg.seed)
    t_prep = time.perf_counter()
    data = prepare_data(dataset, cfg, tcfg, device, robot)
    log(
        f"data: robot {robot.name} ({len(robot.policy_feature_names)} policy features, {robot.control_dim} controls, "
        f"mirror p {mirror_p:g}), {len(data.train_rows)} train "
        f"rows ({data.n_train_episodes} episodes), {len(data.val_rows)} val rows ({data.n_val_episodes} episodes); "
        f"features in {time.perf_counter() - t_prep:.1f} s on {device}"
    )
    worlds = dataset.worlds_list() if hasattr(dataset, "worlds_list") else []
    cell = float(worlds[0].cell_size if len(worlds) == 1 else getattr(dataset, "metadata", {}).get("cell_size", 1.0))
    crop = cfg.map_size * cfg.map_resolution
    log(f"local map {cfg.map_size} px x {cfg.map_resolution:g} m = {crop:g} m across ({crop / cell:.1f} cells of "
        f"{cell:g} m); target scale {cfg.target_scale_m:g} m")
    model = FlowPolicy(cfg, robot).to(device)
    transferred = init is not None and (robot.name != init.robot.name or robot.params != init.robot.params)
    if init is not None:
        model.load_state_dict(init.state_dict())  # weights, normaliser and control bounds
        if transferred:  # this robot's bounds
            low, high = float32_bounds_inside(robot.control_low, robot.control_high)
            model.control_low.copy_(low)
            model.control_high.copy_(high)
            log(f"fine-tuning {init_source} (its weights and normaliser), transferred from robot {init.robot.name!r} "
                f"to {robot.name!r}")
        else:
            log(f"fine-tuning {init_source} (its weights and normaliser)")
    else:
        model.normalizer.load_state_dict(data.normalizer.state_dict())
    ema = copy.deepcopy(model).eval()
    for p_ in ema.parameters():
        p_.requires_grad_(False)
    opt = torch.optim.AdamW(model.net.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    steps_per_epoch = math.ceil(len(data.train_rows) / tcfg.batch_size)
    if tcfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, tcfg.max_steps_per_epoch)
    total = steps_per_epoch * tcfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, tcfg.warmup_steps, total, tcfg.min_lr_ratio)
    )
    data_hash = dataset.content_hash() if hasattr(dataset, "content_hash") else None
    history: list[dict[str, Any]] = []
    epoch0, step, elapsed = 0, 0, 0.0
    state_path = None
    if out is not None:
        pt, _ = checkpoint_paths(out)
        state_path = pt.with_name(pt.stem + ".train.pt")
    if resume:
        if state_path is None or not state_path.is_file():
            raise DitreeInputError(f"--resume: no training state at {state_path}")
        st = torch.load(state_path, map_location=device, weights_only=True)
        if PolicyConfig.from_dict(json.loads(st["policy_config"]), str(state_path)) != cfg:
            raise DitreeInputError(f"{state_path}: saved with another policy config; cannot resume with this one")
        if st.get("data_hash") != data_hash:
            raise DitreeInputError(f"{state_path}: saved for other training data (hash differs); cannot resume")
        model.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        epoch0, step, elapsed = int(st["epoch"]), int(st["step"]), float(st["train_time_s"])
        history = json.loads(st["history"])
        log(f"resumed from {state_path} at epoch {epoch0} (step {step})")
    val_rows = data.val_rows[: tcfg.max_val_samples]
    log(f"model: {cfg.arch}, {model.num_parameters():,} parameters; {steps_per_epoch} steps/epoch x {tcfg.epochs} epochs")

    def save(epoch_done: int) -> tuple[Path, Path] | None:
        if out is None:
            return None
        last = history[-1] if history else {}
        training = {
            "data_path": data_path,
            "data_hash": data_hash,
            "data_metadata": metadata_summary(getattr(dataset, "metadata", {})),
            "train_config": tcfg.to_dict(),
            **({"init_from": init_source} if init is not None else {}),
            **({"transferred_from": init.robot.name} if transferred else {}),
            "mirror_p": mirror_p,
            "epochs": epoch_done,
            "steps": step,
            "train_time_s": round(elapsed, 1),
            "final_train_loss": last.get("train_loss"),
            "final_val_loss": last.get("val_loss"),
            "final_val_mse_1step": last.get("val_mse_1step"),
            "history": history,
            "device": str(device),
            "torch_version": torch.__version__,
            "n_train_rows": len(data.train_rows),
            "n_val_rows": len(data.val_rows),
        }
        paths = save_policy(ema, out, training)
        state = {
            "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "epoch": epoch_done, "step": step, "train_time_s": elapsed,
            "history": json.dumps(history), "policy_config": json.dumps(cfg.to_dict()), "data_hash": data_hash,
        }
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save(state, tmp)
        tmp.replace(state_path)
        return paths

    result = TrainResult(ema, history, epoch0, elapsed)
    H = cfg.pred_horizon
    epoch = done = epoch0
    t0 = time.perf_counter()
    try:
        for epoch in range(epoch0, tcfg.epochs):
            t0 = time.perf_counter()
            g = _epoch_generator(tcfg.seed, epoch)
            perm = data.train_rows[torch.randperm(len(data.train_rows), generator=g).to(device)]
            model.net.train()
            losses = []
            bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{tcfg.epochs}", disable=not progress,
                       leave=False, mininterval=1.0)
            for i in bar:
                rows = perm[i * tcfg.batch_size : (i + 1) * tcfg.batch_size]
                b = mirror_some(drop_heading(data.batch(rows, H), tcfg.heading_dropout, g), mirror_p, g, robot)
                cond = model.standardize_cond(b)
                x1 = model.normalizer.norm_control(b["actions"])
                x0 = torch.randn(x1.shape, generator=g).to(device)
                t = torch.rand(x1.shape[0], generator=g).to(device)
                loss = flow_matching_loss(model.net, x1, cond, x0=x0, t=t)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.net.parameters(), tcfg.grad_clip)
                opt.step()
                sched.step()
                ema_update(ema.net, model.net, tcfg.ema_decay, step)
                step += 1
                losses.append(loss.detach())
                if i % 20 == 0:
                    bar.set_postfix(loss=f"{float(loss.detach()):.4f}", lr=f"{sched.get_last_lr()[0]:.1e}")
            elapsed += time.perf_counter() - t0
            val = evaluate(ema, data, val_rows, seed=tcfg.seed + 7919)
            rec = {
                "epoch": epoch + 1, "step": step, "train_loss": float(torch.stack(losses).mean()),
                "val_loss": val["loss"], "val_mse_1step": val["mse_1step"],
                "lr": sched.get_last_lr()[0], "epoch_time_s": round(time.perf_counter() - t0, 1),
            }
            history.append(rec)
            done = epoch + 1
            log(
                f"epoch {epoch + 1}/{tcfg.epochs}: train loss {rec['train_loss']:.4f}  val loss {val['loss']:.4f}  "
                f"val 1-step mse {val['mse_1step']:.4f}  ({rec['epoch_time_s']} s)"
            )
            result.paths = save(done)
            result.epochs_done = done
    except KeyboardInterrupt:
        if done == epoch:  # interrupted inside an epoch: count its time too
            elapsed += time.perf_counter() - t0
        result.interrupted = True
        result.epochs_done = done
        result.paths = save(done)
        log(f"interrupted during epoch {epoch + 1}; wrote {result.paths[0] if result.paths else 'nothing'}"
            + (" (resume restarts it)" if result.paths and done == epoch else ""))
    result.train_time_s = elapsed
    ema.eval()
    return result
