"""``ditree improve``: self-improvement rounds (plan with ditree-star, relabel the policy's failures with
sst, fine-tune, evaluate); see ditree.policy.improve.

    ditree improve --checkpoint START.pt --data SEED.npz --out runs/improve/unicycle1_v0 --rounds 3 \\
        --problems 100 --budget-iters 300 --finetune-steps 2000 --seed 0 --workers 2
"""

from __future__ import annotations

import argparse

NAME = "improve"
HELP = "self-improvement rounds: ditree-star demonstrations + DAgger relabelling with sst, fine-tune, evaluate"
DESCRIPTION = (
    "Rounds of: plan fresh generated training problems with ditree-star guided by the current checkpoint; roll the "
    "policy alone from their starts and, where it fails, solve from shortly before the failure with sst (DAgger-style "
    "relabelling); fine-tune the policy (weights and normaliser kept) on all data so far; evaluate DiTree and the policy "
    "alone on held-out generated problems. Writes OUT/round_<r>.pt (+ .json) and one row per round to OUT/rounds.csv and "
    "OUT/rounds.md (round 0 = the start checkpoint). A rerun with the same options resumes; a larger --rounds continues."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.commands._suites import add_data_dir
    from ditree.policy.improve import ImproveConfig

    c = ImproveConfig()
    p.add_argument("--checkpoint", required=True, help="the policy to improve (NAME.pt)")
    p.add_argument("--data", required=True, nargs="+", metavar="NPZ",
                   help="its training data (.npz, one or several of its robot): every fine-tuning trains on them too")
    p.add_argument("--out", required=True, help="output folder (round checkpoints, rounds.csv, rounds.md)")
    p.add_argument("--rounds", type=int, default=c.rounds, help=f"improvement rounds (default {c.rounds})")
    p.add_argument("--problems", type=int, default=c.problems,
                   help=f"training problems planned per round (default {c.problems})")
    p.add_argument("--budget-iters", type=int, default=c.budget_iters,
                   help=f"ditree-star iterations per training problem (default {c.budget_iters})")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="further ditree-star parameter for the training problems (repeatable)")
    p.add_argument("--relabel-iters", type=int, default=c.relabel_iters,
                   help=f"sst iterations per relabelling problem (default {c.relabel_iters})")
    p.add_argument("--relabel-back", type=float, default=c.relabel_back_s,
                   help=f"start relabelling problems this many seconds before a rollout's failure (default "
                        f"{c.relabel_back_s:g})")
    p.add_argument("--rollout-s", type=float, default=c.rollout_s,
                   help=f"closed-loop rollout length before it counts as timed out, s (default {c.rollout_s:g})")
    p.add_argument("--finetune-steps", type=int, default=c.finetune_steps,
                   help=f"optimiser steps of fine-tuning per round (default {c.finetune_steps})")
    p.add_argument("--finetune-lr", type=float, default=c.finetune_lr, help=f"learning rate (default {c.finetune_lr:g})")
    p.add_argument("--batch-size", type=int, default=c.batch_size, help=f"fine-tuning batch size (default {c.batch_size})")
    p.add_argument("--eval-problems", type=int, default=c.eval_problems,
                   help=f"held-out generated problems to evaluate on (default {c.eval_problems}; 0: none)")
    p.add_argument("--eval-seed", type=int, default=c.eval_seed,
                   help=f"base seed of the held-out evaluation problems (default {c.eval_seed}: the first problems of "
                        "scripts/bench_generated.py --seed 0); another seed checks the rounds on problems they were "
                        "not watched on")
    p.add_argument("--eval-time", type=float, default=c.eval_time,
                   help=f"DiTree's time limit per evaluation run, s (default {c.eval_time:g})")
    p.add_argument("--eval-param", action="append", default=[], metavar="KEY=VALUE",
                   help="further ditree parameter for the evaluation (repeatable)")
    p.add_argument("--eval-rollouts", type=int, default=c.eval_rollouts,
                   help=f"policy-alone rollouts per evaluation problem (default {c.eval_rollouts})")
    p.add_argument("--validation", action="store_true",
                   help="car and racecar: also evaluate on the 3 validation scenarios (benchmark data)")
    p.add_argument("--validation-trials", type=int, default=c.validation_trials,
                   help=f"DiTree trials per validation scenario (default {c.validation_trials})")
    add_data_dir(p)
    p.add_argument("--worlds", choices=("auto", "grid", "box"), default=c.worlds,
                   help="training (and held-out) world source; auto: grid for the car and racecar, box for the others")
    p.add_argument("--kinds", nargs="+", default=None, help="world kinds (default: all of the source)")
    p.add_argument("--grid-size", type=int, nargs=2, default=(c.grid_rows, c.grid_cols), metavar=("ROWS", "COLS"),
                   help=f"training grid world size in cells (default {c.grid_rows} {c.grid_cols})")
    p.add_argument("--seed", type=int, default=c.seed, help=f"base seed (default {c.seed})")
    p.add_argument("--workers", type=int, default=2, help="processes planning and evaluating at once (default 2)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where fine-tuning runs (default cpu: the same weights for a seed on any machine's CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ditree.policy.improve import ImproveConfig, improve
    from ditree.registry import parse_params

    cfg = ImproveConfig(
        rounds=args.rounds, problems=args.problems, budget_iters=args.budget_iters,
        planner_params=tuple(parse_params("ditree-star", args.param).items()), relabel_iters=args.relabel_iters,
        relabel_back_s=args.relabel_back, rollout_s=args.rollout_s, finetune_steps=args.finetune_steps,
        finetune_lr=args.finetune_lr, batch_size=args.batch_size, eval_problems=args.eval_problems,
        eval_seed=args.eval_seed, eval_time=args.eval_time, eval_params=tuple(parse_params("ditree", args.eval_param).items()),
        eval_rollouts=args.eval_rollouts, eval_validation=args.validation, validation_trials=args.validation_trials,
        worlds=args.worlds, kinds=tuple(args.kinds or ()), grid_rows=args.grid_size[0], grid_cols=args.grid_size[1],
        seed=args.seed,
    )
    rows = improve(args.checkpoint, args.data, args.out, cfg, workers=args.workers, progress=not args.quiet,
                   data_dir=args.data_dir, device=args.device)
    print(f"{len(rows) - 1} round(s) done; table in {args.out}/rounds.md and rounds.csv, last checkpoint "
          f"{args.out}/round_{len(rows) - 1}.pt" if len(rows) > 1 else f"round 0 evaluated; table in {args.out}/rounds.md")
    return 0
