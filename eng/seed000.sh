#!/usr/bin/env bash
# Seed 000's table on its own protocol (docs/RESULTS.md): Base CNN, IConvNeXt-Tiny, ConvNeXt-Tiny on the subset
# 182 Mild / 52 Moderate / 182 Non / 351 Very Mild, random 7:1:2 split, 224 px, Adam 1e-3, batch 4, 10 epochs,
# bf16-mixed. One after the other; a finished run (package/ present) is skipped, one cut off resumes (--resume).
# Usage: eng/seed000.sh [RUNS_DIR=/var/tmp/edgemed-runs]   (runs outside the work tree; logs RUNS_DIR/seed000-ARCH.log)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-/var/tmp/edgemed-runs}
mkdir -p "$runs"
for arch in base-cnn iconvnext-tiny convnext-tiny; do
  out=$runs/seed000-$arch
  [ -d "$out/package" ] && continue
  resume=()
  [ -f "$out/checkpoint.pt" ] && resume=(--resume)
  ./edgemed.sh train --data ../shared/data/alzheimer-mri/train --arch $arch --out "$out" --size 224 --batch 4 --epochs 10 --threads 2 \
    --optimizer adam --lr 1e-3 --split 0.7,0.1,0.2 --seed 0 --precision bf16-mixed \
    --subset MildDemented=182,ModerateDemented=52,NonDemented=182,VeryMildDemented=351 "${resume[@]}" > "$out.log" 2>&1
done
