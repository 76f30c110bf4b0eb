#!/usr/bin/env bash
# Reproduce the racecar's shipped policy checkpoint (ditree/checkpoints/racecar_d4rl_large.{pt,json})
# end to end on the CPU: collect DART-style racecar demonstrations in d4rl_large at 2 m cells
# (PyBullet physics; 75% of the episodes execute the expert's controls plus Gaussian noise of 0.3
# of the bounds held 0.2 s, labelled with its clean controls), train with the shipped settings
# (0.4 m crop pixels = 8 m crop, target scale 40 m), and run the closed-loop check.
#
#   scripts/reproduce_racecar_checkpoint.sh          # ~6 min collection (2 workers) + ~13 min training
#   OUT=/tmp/rc scripts/reproduce_racecar_checkpoint.sh
#
# The shipped data were collected before the contact-manifold fix in envs/racecar.py (see its
# "Purity" note), so a new collection gives statistically equivalent, not identical, data.
#
# The D4RL-layout training map d4rl_large is third-party data: it is read from the ditree_car suite
# of the benchmark data directory ($DITREE_DATA, or shared/benchmarks beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/policy_racecar}
DATA=${DATA:-data/expert_racecar_d4rl_large_dart.npz}
mkdir -p "$(dirname "$DATA")" "$OUT"

"$PY" -m ditree collect --robot racecar --suite ditree_car --map d4rl_large --episodes 1200 \
    --out "$DATA" --seed 0 --action-noise 0.3 --noise-fraction 0.75 --noise-hold 0.2 --workers 2 --quiet \
    --plot "${DATA%.npz}.png"
"$PY" -m ditree train --data "$DATA" --out "$OUT/racecar_d4rl_large.pt" \
    --epochs 10 --max-steps-per-epoch 1000 --batch-size 256 --lr 1e-3 --weight-decay 1e-4 \
    --warmup-steps 500 --ema-decay 0.999 --grad-clip 1.0 --mirror-p 0.5 --val-fraction 0.05 \
    --arch mlp --hidden-dim 384 --num-blocks 4 --map-resolution 0.4 --target-scale-m 40 --threads 1 --seed 0 --no-progress
"$PY" -m ditree.policy.evaluate --checkpoint "$OUT/racecar_d4rl_large.pt" --episodes 20 --seed 0
echo "to ship it: cp $OUT/racecar_d4rl_large.pt $OUT/racecar_d4rl_large.json ditree/checkpoints/"
