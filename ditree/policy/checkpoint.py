"""Policy checkpoints: a ``state_dict`` (``NAME.pt``, loadable with ``torch.load(weights_only=True)``)
beside a JSON file (``NAME.json``) that says what the weights are.

JSON fields: ``format``, ``format_version``, ``package_version``, ``policy_config`` (architecture),
``normalizer`` (statistics; the authoritative copy is in the state_dict), ``robot`` (``name`` of
:func:`envs.registry.make_robot` and ``params``, its parameter dataclass as a dict, from which
:func:`load_policy` rebuilds the robot; since the policy took any robot also its
``control_names`` and ``policy_feature_names``, the network's input and output widths by name),
``target_features`` (the names of the ``target`` conditioning's entries: 5 with the goal's
heading, ``policy_config.target_heading``; absent from older checkpoints, which have none),
``local_map`` (crop spec), ``num_parameters``, ``weights_file``, ``weights_sha256``
and ``training`` (data path and content hash, training config, epochs, wall time, final train and
validation losses, per-epoch history, device).

Loading checks all of it and raises :class:`CheckpointError` (a ``DitreeInputError``) naming the
file and the problem: a missing or unreadable file, a corrupt weights file, a missing key, a
shape mismatch, a checkpoint trained for another robot, one whose control or policy-feature
widths (``policy_config.control_dim`` / ``vel_dim``, and the recorded names where present) are not
the robot's, or one whose recorded ``target_features`` disagree with ``policy_config.target_heading``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

import ditree
from ditree.policy.config import PolicyConfig
from ditree.policy.features import TARGET_HEADING_NAMES, TARGET_NAMES
from ditree.policy.policy import FlowPolicy, float32_bounds_inside
from envs.car import Car, CarParams
from envs.errors import DitreeInputError
from envs.registry import make_robot, registered_robots, robot_spec
from envs.robot import Robot

FORMAT = "ditree-policy"
FORMAT_VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED_NAME: str = robot_spec("car").checkpoint or ""
"""The car's default checkpoint (its registered ``checkpoint``): ``ditree/checkpoints/car_d4rl_large_distilled.{pt,json}``, a
one-step student (MLP 256x3, 0.78 M parameters) distilled (``ditree distill``) from the trained
flow-matching policy ``car_d4rl_large`` (MLP 384x4, 2.4 M), which is shipped beside it: the same
planning quality on the validation and test scenarios in less time on a CPU (docs/benchmarks.md,
'The distilled checkpoint')."""
TEACHER_NAME = "car_d4rl_large"
"""The car's trained flow-matching policy (the distilled default's teacher)."""


def shipped_checkpoint(robot: str = "car") -> Path:
    """Path (without suffix) of the checkpoint shipped for the robot registered as ``robot`` (its
    spec's ``checkpoint``, a name in :data:`CHECKPOINT_DIR`; the built-ins' were trained in the
    paper's training map ``d4rl_large``)."""
    name = robot_spec(robot).checkpoint
    if not name:
        shipped = [r for r in registered_robots() if robot_spec(r).checkpoint]
        raise CheckpointError(f"no checkpoint is shipped for robot {robot!r} (shipped: {', '.join(shipped)}); "
                              "train one with `ditree collect` and `ditree train` and pass it as checkpoint")
    return CHECKPOINT_DIR / name
REQUIRED_KEYS = ("format", "format_version", "policy_config", "robot", "local_map", "weights_file")


class CheckpointError(DitreeInputError):
    """A policy checkpoint that cannot be used (the message names the file and the reason)."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights .pt, metadata .json)`` for a path given as ``NAME``, ``NAME.pt`` or ``NAME.json``."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".pt", ".json") else p
    return stem.with_name(stem.name + ".pt"), stem.with_name(stem.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_policy(policy: FlowPolicy, path: str | Path, training: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``policy`` to ``NAME.pt`` + ``NAME.json`` (atomically: temp files, then rename)."""
    pt, js = checkpoint_paths(path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}
    tmp = pt.with_name(pt.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(pt)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": ditree.__version__,
        "policy_config": policy.config.to_dict(),
        "normalizer": policy.normalizer.to_dict(),
        "robot": {"name": policy.robot.name, "params": policy.robot.params.to_dict(),
                  "control_names": list(policy.robot.control_names),
                  "policy_feature_names": list(policy.robot.policy_feature_names)},
        "target_features": list(target_names(policy.config)),
        "local_map": {"size": policy.config.map_size, "resolution": policy.config.map_resolution},
        "num_parameters": policy.num_parameters(),
        "weights_file": pt.name,
        "weights_sha256": _sha256(pt),
        "training": training or {},
    }
    tmp = js.with_name(js.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    tmp.replace(js)
    return pt, js


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The validated JSON metadata of a checkpoint."""
    _, js = checkpoint_paths(path)
    if not js.is_file():
        raise CheckpointError(f"checkpoint metadata not found: {js}")
    try:
        meta = json.loads(js.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{js}: not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise CheckpointError(f"{js}: expected a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise CheckpointError(f"{js}: missing key(s) {missing}")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"{js}: format is {meta['format']!r}, expected {FORMAT!r}")
    if not isinstance(meta["format_version"], int) or meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{js}: format_version {meta['format_version']!r} is newer than this package reads ({FORMAT_VERSION})"
        )
    return meta


def checkpoint_robot_name(meta: dict[str, Any]) -> str | None:
    """The robot name a checkpoint's metadata records (None when the entry is malformed)."""
    r = meta.get("robot")
    return r.get("name") if isinstance(r, dict) else None


def _robot(meta: dict, js: Path, robot: Robot | CarParams | str | None) -> Robot:
    """The robot the checkpoint was trained for, rebuilt from its metadata; ``robot`` (an instance,
    ``CarParams`` meaning a car, or a name) must be that robot with the same parameters."""
    r = meta["robot"]
    name = checkpoint_robot_name(meta)
    if name not in registered_robots() or "params" not in r:
        raise CheckpointError(f"{js}: trained for robot {name if isinstance(r, dict) else r!r}, which is not "
                              f"registered (registered robots: {', '.join(registered_robots())})")
    try:
        trained = make_robot(name, r["params"])
    except DitreeInputError as e:
        raise CheckpointError(f"{js}: bad robot parameters: {e}") from e
    if robot is None:
        return trained
    if isinstance(robot, CarParams):
        robot = Car(robot)
    want = robot if isinstance(robot, str) else robot.name
    if want != name:
        raise CheckpointError(f"{js}: trained for robot {name!r}, not {want!r}")
    if not isinstance(robot, str) and robot.params != trained.params:
        a, b = trained.params.to_dict(), robot.params.to_dict()
        diff = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
        raise CheckpointError(
            f"{js}: trained for other robot parameters: {', '.join(f'{k}={x} (yours {y})' for k, (x, y) in diff.items())}"
        )
    return trained


def target_names(cfg: PolicyConfig) -> tuple[str, ...]:
    """The names of the ``target`` conditioning's ``cfg.target_dim`` entries."""
    return TARGET_HEADING_NAMES if cfg.target_heading else TARGET_NAMES


def _check_widths(meta: dict, cfg: PolicyConfig, robot: Robot, js: Path) -> None:
    """Raise :class:`CheckpointError` naming ``js`` unless the network's recorded widths
    (``control_dim``, ``vel_dim``) and, where recorded, control and feature names are ``robot``'s."""
    names = list(robot.policy_feature_names)
    if cfg.control_dim != robot.control_dim:
        raise CheckpointError(f"{js}: the network outputs {cfg.control_dim} controls per step (policy_config.control_dim), "
                              f"but robot {robot.name!r} has {robot.control_dim} {list(robot.control_names)}")
    if cfg.vel_dim != len(names):
        raise CheckpointError(f"{js}: the network reads {cfg.vel_dim} policy features (policy_config.vel_dim), but "
                              f"robot {robot.name!r} has {len(names)} {names}")
    r = meta["robot"]
    for key, mine in (("control_names", list(robot.control_names)), ("policy_feature_names", names)):
        if key in r and list(r[key]) != mine:
            raise CheckpointError(f"{js}: trained with {key} {list(r[key])}, but robot {robot.name!r} has {mine}")
    recorded = meta.get("target_features")
    if recorded is not None and list(recorded) != list(target_names(cfg)):
        raise CheckpointError(f"{js}: records target_features {list(recorded)}, but policy_config.target_heading = "
                              f"{cfg.target_heading} reads {list(target_names(cfg))}")


def load_policy(
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    robot: Robot | CarParams | str | None = None,
) -> FlowPolicy:
    """Load a policy in eval mode on ``device``. ``path=None`` loads the checkpoint shipped for
    ``robot`` (the car's, ``ditree/checkpoints/car_d4rl_large_distilled``, when no robot is given). The policy's robot is rebuilt from the checkpoint's
    metadata (``policy.robot``); with ``robot`` given (a robot, a ``CarParams`` meaning a car, or a
    robot name) it must be the checkpoint's robot, with the same parameters, or
    :class:`CheckpointError` says which differs."""
    if path is None:
        name = robot if isinstance(robot, str) else "car" if robot is None or isinstance(robot, CarParams) else robot.name
        path = shipped_checkpoint(name)
    path = Path(path)
    pt, js = checkpoint_paths(path)
    meta = read_metadata(js)
    trained = _robot(meta, js, robot)
    cfg = PolicyConfig.from_dict(meta["policy_config"], source=str(js))
    _check_widths(meta, cfg, trained, js)
    lm = meta["local_map"]
    if not isinstance(lm, dict) or (lm.get("size"), lm.get("resolution")) != (cfg.map_size, cfg.map_resolution):
        raise CheckpointError(f"{js}: local_map {lm} disagrees with policy_config")
    pt = js.with_name(meta["weights_file"])
    if not pt.is_file():
        raise CheckpointError(f"checkpoint weights not found: {pt}")
    if meta.get("weights_sha256") and _sha256(pt) != meta["weights_sha256"]:
        raise CheckpointError(f"{pt}: corrupt weights file (SHA-256 differs from {js.name})")
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        raise CheckpointError(f"{pt}: cannot read the weights file ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{pt}: expected a state_dict, got {type(state).__name__}")
    try:
        policy = FlowPolicy(cfg, trained)
    except DitreeInputError as e:
        raise CheckpointError(f"{js}: {e}") from e
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{pt}: state_dict keys differ from the architecture: missing {missing[:5]}, unexpected {unexpected[:5]}")
    bad = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape]
    if bad:
        k, got, want = bad[0]
        raise CheckpointError(f"{pt}: tensor {k!r} has shape {got}, the architecture needs {want} ({len(bad)} mismatches)")
    policy.load_state_dict(state)
    # the bounds follow from the robot (older checkpoints hold them rounded to nearest, not inwards)
    low, high = float32_bounds_inside(trained.control_low, trained.control_high)
    policy.control_low.copy_(low)
    policy.control_high.copy_(high)
    policy.metadata = meta
    policy.source = str(js)
    return policy.to(device).eval()
