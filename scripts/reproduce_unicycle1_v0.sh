#!/usr/bin/env bash
# Reproduce the shipped unicycle1_v0 policy (ditree/checkpoints/unicycle1_v0_boxworlds.{pt,json}) on
# the CPU: 312 search demonstrations (SST, 300 iterations per problem, goal connector at 0.5 and
# polish) in 312 generated box worlds (envs/box_generators.py; never a dynobench instance), then
# 6000 training steps of a 0.73 M-parameter MLP policy that sees the goal's heading.
# Wall time on the 2-core development machine (loaded by other work): collection 25 min with 2
# workers, training 3-5 min with 1 thread.
#   scripts/reproduce_unicycle1_v0.sh                 # writes data/search_unicycle1_v0.npz, runs/policy/
set -euo pipefail
exec "$(dirname "$0")/reproduce_robot_policy.sh" unicycle1_v0 312 300 0.5 6000 --target-heading --heading-dropout 0.3
