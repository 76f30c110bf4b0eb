#!/usr/bin/env bash
# Reproduce the car's shipped policy checkpoints end to end on the CPU: collect the expert data in
# d4rl_large, train the flow-matching policy with the exact shipped settings
# (ditree/checkpoints/car_d4rl_large.{pt,json}), distil it into the default one-step student
# (car_d4rl_large_distilled.{pt,json}), run the closed-loop sanity check, and compare the data hash
# with the shipped checkpoint's.
#
# The expert data are DART-style: 75% of the episodes execute the expert's rate controls plus
# Gaussian noise (std 0.3 of the bounds, each sample held 0.2 s) and are labelled with its clean
# controls, so the policy sees off-path states and the expert's corrections (covariate shift).
#
#   scripts/reproduce_checkpoint.sh            # writes data/expert_d4rl_large_dart.npz and runs/policy/
#   OUT=/tmp/ck scripts/reproduce_checkpoint.sh
#
# Training uses one thread (--threads 1): on a 2-core machine shared with other work, 2 threads ran
# 5-10x slower per step than 1. Same seed, same thread count and same torch build give the same
# weights; another CPU or torch version gives a statistically equivalent, not bit-identical, policy.
#
# The D4RL-layout training map d4rl_large is third-party data: it is read from the ditree_car suite
# of the benchmark data directory ($DITREE_DATA, or shared/benchmarks beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/policy}
DATA=${DATA:-data/expert_d4rl_large_dart.npz}
mkdir -p "$(dirname "$DATA")" "$OUT"

t0=$(date +%s)
"$PY" -m ditree collect --suite ditree_car --map d4rl_large --episodes 3000 --out "$DATA" --seed 0 \
    --action-noise 0.3 --noise-fraction 0.75 --noise-hold 0.2 --workers 2
t1=$(date +%s)
"$PY" -m ditree train --data "$DATA" --out "$OUT/car_d4rl_large.pt" \
    --epochs 12 --max-steps-per-epoch 1000 --batch-size 256 --lr 1e-3 --weight-decay 1e-4 \
    --warmup-steps 500 --ema-decay 0.999 --grad-clip 1.0 --mirror-p 0.5 --val-fraction 0.05 \
    --arch mlp --hidden-dim 384 --num-blocks 4 --threads 1 --seed 0 --no-progress
t2=$(date +%s)
"$PY" -m ditree distill --teacher "$OUT/car_d4rl_large.pt" --data "$DATA" --out "$OUT/car_d4rl_large_distilled.pt" \
    --hidden-dim 256 --num-blocks 3 --cond-dim 128 --map-embed-dim 64 --steps 8000 --threads 1 --seed 0
"$PY" -m ditree.policy.evaluate --checkpoint "$OUT/car_d4rl_large_distilled.pt" --episodes 100 --seed 0
t3=$(date +%s)

"$PY" - "$OUT/car_d4rl_large.json" <<'PYEOF'
import json, sys
from ditree.policy.checkpoint import CHECKPOINT_DIR, TEACHER_NAME
new = json.load(open(sys.argv[1]))["training"]
shipped = json.load(open(CHECKPOINT_DIR / f"{TEACHER_NAME}.json"))["training"]
print(f"data hash {'matches' if new['data_hash'] == shipped['data_hash'] else 'DIFFERS from'} the shipped checkpoint's")
print(f"val loss: reproduced {new['final_val_loss']:.4f}, shipped {shipped['final_val_loss']:.4f}")
PYEOF
echo "times: collect $((t1 - t0)) s, train $((t2 - t1)) s, distil + closed-loop check $((t3 - t2)) s"
echo "to ship them: cp $OUT/car_d4rl_large*.pt $OUT/car_d4rl_large*.json ditree/checkpoints/"
