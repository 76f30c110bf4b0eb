"""Inference speed of the flow-matching policy: control chunks per second.

For batch sizes 1, 32, 256, 1024 and 1 / 4 flow steps, times
  - crop:   TorchLocalMapper on B poses (the local-map cost alone),
  - sample: FlowPolicy.sample on a prebuilt conditioning batch (network only),
  - act:    FlowPolicy.act, the planner's call (features + crop + sample + numpy out),
on the CPU (thread count --threads, default 1) and on CUDA when present. Timings are medians of
repeated calls; on a shared machine treat them as noisy.

    .venv/bin/python scripts/bench_policy.py [--checkpoint PATH] [--threads 1] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from ditree.policy import PolicyConfig, load_policy
from ditree.policy.policy import FlowPolicy
from envs.local_map import TorchLocalMapper
from envs.problem import validation_problem


def _time(fn, seconds: float, sync) -> float:
    fn()
    sync()
    times = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(policy: FlowPolicy, device: str, batches, steps_list, seconds: float) -> None:
    policy = policy.to(device).eval()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    prob = validation_problem("val_maze_small")
    mapper = TorchLocalMapper(prob.world, policy.local_map_spec, device)
    rng = np.random.default_rng(0)
    print(f"\n== {device} ({torch.get_num_threads()} threads), {policy.config.arch}, "
          f"{policy.num_parameters():,} parameters ==")
    print(f"{'batch':>6} {'steps':>5} {'crop ms':>9} {'sample ms':>10} {'act ms':>9} {'chunks/s (act)':>15} {'us/chunk':>9}")
    for B in batches:
        states = np.zeros((B, 6), dtype=np.float32)
        states[:, :2] = prob.world.sample_free_points(rng, B)
        states[:, 2] = rng.uniform(-np.pi, np.pi, B)
        states[:, 3] = rng.uniform(0, 3, B)
        prev = np.zeros((B, 2), dtype=np.float32)
        targets = np.repeat(prob.goal[None].astype(np.float32), B, 0)
        poses = torch.as_tensor(states, device=device)
        t_crop = _time(lambda poses=poses: mapper(poses), seconds / 4, sync)
        cond = policy.conditioning(states, prev, targets, mapper)
        for k in steps_list:
            t_s = _time(lambda c=cond, k=k: policy.sample(c, num_steps=k), seconds, sync)
            t_a = _time(
                lambda s=states, p=prev, g=targets, k=k: policy.act(s, p, g, mapper, num_steps=k), seconds, sync
            )
            print(f"{B:>6} {k:>5} {t_crop * 1e3:>9.3f} {t_s * 1e3:>10.3f} {t_a * 1e3:>9.3f} {B / t_a:>15,.0f} "
                  f"{t_a / B * 1e6:>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="checkpoint (default: shipped; 'random' = untrained default config)")
    ap.add_argument("--arch", default=None, choices=("mlp", "unet"), help="with --checkpoint random: the architecture")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256, 1024])
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint == "random":
        policy = FlowPolicy(PolicyConfig(arch=args.arch or "mlp"))
    else:
        policy = load_policy(args.checkpoint)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        bench(policy, dev, args.batches, args.steps, args.seconds)


if __name__ == "__main__":
    main()
