"""``ditree train``: train the flow-matching policy on expert demonstrations (see ditree.policy.train)."""

from __future__ import annotations

import argparse
import time

NAME = "train"
HELP = "train the flow-matching policy on an expert dataset (.npz)"
DESCRIPTION = (
    "Train the flow-matching policy (rectified flow, AdamW + cosine, EMA, mirror augmentation) on an expert "
    "dataset (or several of the same robot, concatenated) written by `ditree collect`. The robot (car or racecar) comes from the dataset's metadata (the car "
    "when absent). Writes OUT (.pt weights) + .json metadata + .train.pt (resume state) after every epoch; Ctrl-C "
    "writes them and exits."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.policy.config import PolicyConfig, TrainConfig

    pc, tc = PolicyConfig(), TrainConfig()
    p.add_argument("--data", required=True, nargs="+", metavar="NPZ",
                   help="expert dataset(s) .npz (ditree collect); several files of the same robot are concatenated")
    p.add_argument("--out", required=True, help="checkpoint path NAME.pt (NAME.json and NAME.train.pt beside it)")
    p.add_argument("--epochs", type=int, default=tc.epochs, help=f"total epochs (default {tc.epochs})")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when present, else cpu")
    p.add_argument("--resume", action="store_true", help="continue from OUT's .train.pt")
    p.add_argument("--seed", type=int, default=tc.seed)
    p.add_argument("--batch-size", type=int, default=tc.batch_size)
    p.add_argument("--lr", type=float, default=tc.lr)
    p.add_argument("--weight-decay", type=float, default=tc.weight_decay)
    p.add_argument("--warmup-steps", type=int, default=tc.warmup_steps)
    p.add_argument("--ema-decay", type=float, default=tc.ema_decay)
    p.add_argument("--grad-clip", type=float, default=tc.grad_clip)
    p.add_argument("--mirror-p", type=float, default=tc.mirror_p,
                   help="probability of mirroring a sample left/right (default: 0.5 for a robot that declares a "
                        "mirror, none otherwise; a robot without a mirror cannot be mirrored)")
    p.add_argument("--val-fraction", type=float, default=tc.val_fraction)
    p.add_argument("--max-steps-per-epoch", type=int, default=0, help="cap optimiser steps per epoch (0 = all)")
    p.add_argument("--arch", choices=("mlp", "unet"), default=pc.arch)
    p.add_argument("--hidden-dim", type=int, default=pc.hidden_dim, help="MLP width")
    p.add_argument("--num-blocks", type=int, default=pc.num_blocks, help="MLP residual blocks")
    p.add_argument("--cond-dim", type=int, default=pc.cond_dim, help="conditioning vector width (FiLM input)")
    p.add_argument("--map-embed-dim", type=int, default=pc.map_embed_dim, help="local-map embedding width")
    p.add_argument("--unet-channels", type=int, nargs="+", default=list(pc.unet_channels))
    p.add_argument("--map-size", type=int, default=None,
                   help=f"local map side in pixels (default: the data's robot's, {pc.map_size} for the car and racecar)")
    p.add_argument("--map-resolution", type=float, default=None,
                   help=f"local map pixel size in m (default: the data's robot's, {pc.map_resolution} for the car, 0.4 "
                        "for the racecar's 2 m cells)")
    p.add_argument("--target-scale-m", type=float, default=None,
                   help=f"target squashing distance in m (default: the data's robot's, {pc.target_scale_m:g} for the "
                        "car, 40 for the racecar, whose maps are twice as large)")
    p.add_argument("--standardize-target", action="store_true", help="standardise the squashed target feature")
    p.add_argument("--target-heading", action=argparse.BooleanOptionalAction, default=None,
                   help="the policy also reads the goal's heading (learnt from the data's full-state goals, "
                        "goal_states) (default: the data's robot's: on for dynobench's robots, off for the car and "
                        "racecar)")
    p.add_argument("--heading-dropout", type=float, default=tc.heading_dropout,
                   help="with --target-heading: fraction of training samples whose target loses its heading, so "
                        f"that the policy also drives to random targets (default {tc.heading_dropout:g})")
    p.add_argument("--pred-horizon", type=int, default=None,
                   help="controls predicted per call, in dt steps (default: the robot's; the car 64)")
    p.add_argument("--action-horizon", type=int, default=None,
                   help="controls executed per call, in dt steps (default: the robot's; the car 8)")
    p.add_argument("--init-from", default=None, metavar="NAME.pt",
                   help="fine-tune this checkpoint instead of training from scratch (its architecture and "
                        "normaliser are kept; the architecture flags are then ignored)")
    p.add_argument("--transfer", action="store_true",
                   help="with --init-from: the data may be of another robot whose states, controls and policy "
                        "features are named alike (e.g. unicycle1_v1's policy fine-tuned for unicycle1_v2)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (log lines only)")


def _policy_config(args: argparse.Namespace, pd, config_type):
    """The ``PolicyConfig`` of the flags, the robot's registered policy defaults ``pd`` filling unset ones."""

    def pick(flag: str):
        value = getattr(args, flag)
        return getattr(pd, flag) if value is None else value

    return config_type(arch=args.arch, hidden_dim=args.hidden_dim, num_blocks=args.num_blocks, cond_dim=args.cond_dim,
                       map_embed_dim=args.map_embed_dim, unet_channels=tuple(args.unet_channels),
                       standardize_target=args.standardize_target,
                       **{f: pick(f) for f in ("map_size", "map_resolution", "target_scale_m", "pred_horizon",
                                               "action_horizon", "target_heading")})


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ditree.policy.config import PolicyConfig, TrainConfig
    from ditree.policy.train import goal_yaws_of, load_datasets, robot_of, train_policy
    from envs.errors import DitreeInputError
    from envs.registry import robot_spec

    if args.transfer and not args.init_from:  # before loading any data
        raise DitreeInputError("--transfer needs --init-from (the checkpoint to transfer)")
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = load_datasets(args.data)
    pd = robot_spec(robot_of(ds).name).policy  # the robot's registered policy defaults fill unset flags
    if args.target_heading is None and pd.target_heading and np.isnan(goal_yaws_of(ds)).all():
        print(f"note: robot {robot_of(ds).name}'s policy reads the goal's heading by default, but the data hold no "
              "full-state goals (goal_states): training without it")
        args.target_heading = False
    try:
        pcfg = _policy_config(args, pd, PolicyConfig)
    except ValueError as e:
        raise DitreeInputError(f"bad policy option: {e}") from e
    tcfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps, ema_decay=args.ema_decay, grad_clip=args.grad_clip, mirror_p=args.mirror_p,
        val_fraction=args.val_fraction, seed=args.seed, max_steps_per_epoch=args.max_steps_per_epoch,
        heading_dropout=args.heading_dropout,
    )
    if args.device == "cuda" and not torch.cuda.is_available():
        raise DitreeInputError("--device cuda: CUDA is not available on this machine")
    res = train_policy(ds, args.out, None if args.init_from else pcfg, tcfg, device=args.device, resume=args.resume,
                       progress=not args.no_progress, data_path=", ".join(map(str, args.data)),
                       init_from=args.init_from, transfer=args.transfer)
    h = res.history[-1] if res.history else {}
    print(
        f"{'interrupted' if res.interrupted else 'done'}: {res.epochs_done} epochs, training {res.train_time_s:.0f} s "
        f"(total {time.perf_counter() - t0:.0f} s); final train loss {h.get('train_loss', float('nan')):.4f}, "
        f"val loss {h.get('val_loss', float('nan')):.4f}; wrote {res.paths[0] if res.paths else 'nothing'}"
    )
    return 130 if res.interrupted else 0
