#!/usr/bin/env bash
# Reproduce the shipped unicycle1_v1 policy (ditree/checkpoints/unicycle1_v1_boxworlds.{pt,json}) on the
# CPU: search demonstrations (SST, 300 iterations per problem, goal connector at 0.5 and polish) in
# generated box worlds until 89 are kept (254 problems planned: this robot cannot go slower than
# 0.25 m/s or backwards, so SST fails many; never a dynobench instance), then about 3,000 training
# steps of a 0.73 M-parameter MLP policy that sees the goal's heading.
# Wall time on the 2-core development machine (loaded by other work): collection 18 min with 2
# workers, training 1 min with 1 thread. A small data set: a rerun with a larger EPISODES continues it.
#   scripts/reproduce_unicycle1_v1.sh                 # writes data/search_unicycle1_v1.npz, runs/policy/
set -euo pipefail
exec "$(dirname "$0")/reproduce_robot_policy.sh" unicycle1_v1 89 300 0.5 2976 --target-heading --heading-dropout 0.3
