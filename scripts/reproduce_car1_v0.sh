#!/usr/bin/env bash
# Reproduce the shipped car1_v0 (car with trailer) policy (ditree/checkpoints/car1_v0_boxworlds.{pt,json})
# on the CPU: search demonstrations (SST, 300 iterations per problem, goal connector at 0.6 and polish)
# in generated box worlds until 77 are kept (130 problems planned; never a dynobench instance), then
# about 2,600 training steps of a 0.73 M-parameter MLP policy that sees the goal's heading.
# Wall time on the 2-core development machine (loaded by other work): collection about 60 min
# (2 workers for 40 min, then 1), training 1 min with 1 thread. A small data set: more episodes
# (a rerun with a larger EPISODES continues the same collection) are the first thing to try.
#   scripts/reproduce_car1_v0.sh                      # writes data/search_car1_v0.npz, runs/policy/
set -euo pipefail
exec "$(dirname "$0")/reproduce_robot_policy.sh" car1_v0 77 300 0.6 2640 --target-heading --heading-dropout 0.3
