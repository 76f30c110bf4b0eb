#!/usr/bin/env bash
# Reproduce the shipped unicycle2_v0 policy (ditree/checkpoints/unicycle2_v0_boxworlds.{pt,json}) on the
# CPU: 150 search demonstrations (SST, 300 iterations per problem, goal connector at 0.5 and polish;
# 155 problems planned, 97% kept) in generated box worlds (envs/box_generators.py; never a dynobench
# instance), then 4,000 training steps of a 0.73 M-parameter MLP policy that sees the goal's heading.
# Wall time on the 2-core development machine (shared with other work for the first 55 min):
# collection 72 min with 2 workers, training 2 min with 1 thread.
#   scripts/reproduce_unicycle2_v0.sh                 # writes data/search_unicycle2_v0.npz, runs/policy/
set -euo pipefail
exec "$(dirname "$0")/reproduce_robot_policy.sh" unicycle2_v0 150 300 0.5 4000 --target-heading --heading-dropout 0.3
