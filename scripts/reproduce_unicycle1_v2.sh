#!/usr/bin/env bash
# Reproduce the shipped unicycle1_v2 policy (ditree/checkpoints/unicycle1_v2_boxworlds.{pt,json}) on the
# CPU: search demonstrations (SST, 300 iterations per problem, goal connector at 0.5 and polish) in
# generated box worlds until 29 are kept (114 problems planned: this robot cannot go slower than
# 0.25 m/s or backwards and turns right at only half the rate it turns left, so SST fails most; never
# a dynobench instance), then the shipped unicycle1_v1 policy fine-tuned on them for 1,140 steps
# (`ditree train --init-from ... --transfer`: the two robots differ only in the turn-rate bounds, so the
# network's inputs and outputs mean the same; the bounds become unicycle1_v2's).
# Wall time on the 2-core development machine (loaded by other work): collection 25 min with 2
# workers, fine-tuning 1 min with 1 thread. A rerun with a larger EPISODES continues the collection.
#   scripts/reproduce_unicycle1_v2.sh                 # writes data/search_unicycle1_v2.npz, runs/policy/
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/reproduce_robot_policy.sh unicycle1_v2 29 300 0.5 1140 \
    --init-from ditree/checkpoints/unicycle1_v1_boxworlds.pt --transfer --lr 3e-4 --warmup-steps 100 --heading-dropout 0.3
