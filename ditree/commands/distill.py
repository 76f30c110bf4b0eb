"""``ditree distill``: distil a trained policy's one-step sampler into a smaller network (see
ditree.policy.distill)."""

from __future__ import annotations

import argparse

NAME = "distill"
HELP = "distil a policy checkpoint into a smaller one-step network"
DESCRIPTION = (
    "Train a smaller student network to reproduce a teacher policy's one-step samples (same noise, same "
    "conditioning from an expert dataset of the teacher's robot). The student keeps the teacher's normaliser, "
    "crop and horizons and is a one-step sampler. Writes OUT (.pt) + .json."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.policy.distill import DistillConfig

    d = DistillConfig()
    p.add_argument("--teacher", default=None, help="teacher checkpoint (default: the car's shipped one)")
    p.add_argument("--data", required=True, help="expert dataset .npz of the teacher's robot (ditree collect)")
    p.add_argument("--out", required=True, help="student checkpoint path NAME.pt")
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--num-blocks", type=int, default=3)
    p.add_argument("--cond-dim", type=int, default=128)
    p.add_argument("--map-embed-dim", type=int, default=64)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ditree.policy.checkpoint import load_policy
    from ditree.policy.distill import DistillConfig, distill_policy, student_config
    from ditree.policy.train import load_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    teacher = load_policy(args.teacher)
    student = student_config(teacher.config, hidden_dim=args.hidden_dim, num_blocks=args.num_blocks,
                             cond_dim=args.cond_dim, map_embed_dim=args.map_embed_dim)
    cfg = DistillConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, eval_every=args.eval_every,
                        seed=args.seed)
    res = distill_policy(teacher, load_dataset(args.data), args.out, student, cfg, data_path=str(args.data))
    h = res.history[-1]
    print(f"done: {len(res.history) and h['step']} steps in {res.train_time_s:.0f} s; val mse to teacher "
          f"{h['val_mse_teacher']:.4f}; wrote {res.paths[0] if res.paths else 'nothing'}")
    return 0
