"""The flow-matching control policy of DiTree (docs/policy.md): configuration, features, network,
training, batched sampling and checkpoints.

Typical use (the planner's hot path)::

    from ditree.policy import load_policy
    from envs.local_map import TorchLocalMapper

    policy = load_policy()                       # the shipped checkpoint, on the CPU
    mapper = TorchLocalMapper(world, policy.local_map_spec)
    chunks = policy.act(states, prev_controls, targets_xy, mapper)   # (B, 64, C) numpy (car: C = 2)
    execute = chunks[:, : policy.config.action_horizon]              # first 8 controls
"""

from ditree.policy.checkpoint import (
    CHECKPOINT_DIR,
    SHIPPED_NAME,
    CheckpointError,
    load_policy,
    read_metadata,
    save_policy,
    shipped_checkpoint,
)
from ditree.policy.config import PolicyConfig, TrainConfig
from ditree.policy.features import as_robot, car_frame_target
from ditree.policy.policy import FlowPolicy

__all__ = [
    "CHECKPOINT_DIR",
    "SHIPPED_NAME",
    "CheckpointError",
    "FlowPolicy",
    "PolicyConfig",
    "TrainConfig",
    "as_robot",
    "car_frame_target",
    "load_policy",
    "read_metadata",
    "save_policy",
    "shipped_checkpoint",
]
