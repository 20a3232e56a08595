#!/usr/bin/env bash
# The brief's "0.568" ResNet-18 recipe (r0 in docs/RESULTS.md: 8 epochs of Adam 1e-3, batch 32, 128 px, no
# augmentation) on the grouped splits of the split repeats (eng/split-repeats.sh), so the shipped recipe's accuracy on
# each split's 40 held-out subjects sits beside the reference's on the same subjects. About 8 min per split on dev-2c.
#   SEEDS="1 2" eng/reference-splits.sh
# Runs go to /var/tmp/edgemed-runs/reference-r0-sSEED; a run cut off resumes (--resume) while its checkpoint survives.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /var/tmp/edgemed-runs
for seed in ${SEEDS:-1 2 3 4 0}; do
  out=/var/tmp/edgemed-runs/reference-r0-s$seed
  [ -d "$out/package" ] && continue
  ./edgemed.sh train --data ../shared/data/alzheimer-mri/train --arch resnet18 --out "$out" --size 128 --batch 32 --epochs 8 \
    --threads 2 --optimizer adam --lr 1e-3 --augment none --precision bf16-mixed --group-by similar --split 0.8,0.1,0.1 \
    --seed $seed --test-every-epoch $([ -f "$out/checkpoint.pt" ] && echo --resume) >> "$out.log" 2>&1
  # Both held-out halves and the test half alone, last epoch's weights (the brief's figure is its final model).
  /usr/bin/python3 eng/paired-bootstrap.py "$out:final" | tee -a "$out.log"
  /usr/bin/python3 eng/paired-bootstrap.py --part test "$out:final" | tee -a "$out.log"
done
