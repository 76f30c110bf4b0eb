#!/usr/bin/env bash
# Train a robot's policy from search demonstrations in generated worlds, end to end on the CPU:
# collect (`ditree collect --expert search`: our SST on seeded generated training worlds, the goal
# connector and polish for full-state goals; never a suite map or benchmark instance), train, and
# print the wall times. The per-robot scripts (scripts/reproduce_<robot>.sh) call this with the
# settings of the shipped checkpoint.
#
#   scripts/reproduce_robot_policy.sh ROBOT EPISODES BUDGET_ITERS CONNECT_TOL STEPS [extra train flags]
#   OUT=/tmp/ck scripts/reproduce_robot_policy.sh unicycle1_v0 300 300 0.5 6000
#
# Collection is resumable (a rerun after a kill continues: DATA.parts/) and, with an iteration
# budget and no trajectory optimisation, bit-reproducible for a seed; IPOPT's CPU-time limits make
# data with the goal connector reproducible in practice but not by construction (the dataset's
# metadata says which). Training uses one thread: on a 2-core machine shared with other work, 2
# threads ran slower per step than 1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 5 ]; then
    echo "usage: $0 ROBOT EPISODES BUDGET_ITERS CONNECT_TOL STEPS [extra ditree train flags]" >&2
    exit 2
fi
ROBOT=$1 EPISODES=$2 BUDGET=$3 CONNECT=$4 STEPS=$5
shift 5
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/policy}
DATA=${DATA:-data/search_${ROBOT}.npz}
WORKERS=${WORKERS:-2}
mkdir -p "$(dirname "$DATA")" "$OUT"

t0=$(date +%s)
"$PY" -m ditree collect --robot "$ROBOT" --expert search --episodes "$EPISODES" --budget-iters "$BUDGET" \
    --connect-tol "$CONNECT" --out "$DATA" --seed 0 --workers "$WORKERS" --quiet
t1=$(date +%s)
# epochs of whole passes over the training rows (batch 256) that make about STEPS optimiser steps
EPOCHS=$("$PY" -c "import math, sys; from ditree.data.dataset import ExpertDataset as D
print(max(1, round(int(sys.argv[2]) / math.ceil(0.95 * D.load(sys.argv[1]).num_pairs / 256))))" "$DATA" "$STEPS")
"$PY" -m ditree train --data "$DATA" --out "$OUT/${ROBOT}_boxworlds.pt" --epochs "$EPOCHS" --batch-size 256 --lr 1e-3 --weight-decay 1e-4 --warmup-steps 300 \
    --ema-decay 0.999 --grad-clip 1.0 --val-fraction 0.05 --arch mlp --hidden-dim 256 --num-blocks 3 \
    --cond-dim 128 --map-embed-dim 64 --threads 1 --seed 0 --no-progress "$@"
t2=$(date +%s)
"$PY" -m ditree collect --stats "$DATA" | head -3
echo "times: collect $((t1 - t0)) s ($EPISODES episodes, $WORKERS workers), train $((t2 - t1)) s ($STEPS steps)"
