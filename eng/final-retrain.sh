#!/usr/bin/env bash
# The shipped IConvNeXt-Tiny: m1's recipe (docs/RESULTS.md) on every subject but the three the demo's samples come
# from (eng/demo-sample-sources.txt), stopped after a fixed epoch of the same 12-epoch cosine, chosen beforehand from
# the split repeats (eng/split-repeats.sh, eng/epoch-curve.py), since no validation part is left to choose on; then
# quantized as m1 was (with float MatMul outputs since session 12: docs/PERFORMANCE.md), calibrated on training slices
# and checked on the held-out demo subjects; the int8 package (named
# as the agent expects it) is RUN-FOLDER/iconvnext-tiny-alzheimer.
#   eng/final-retrain.sh EPOCHS [RUN-FOLDER [EXTRA-TRAIN-OPTIONS...]]      e.g. eng/final-retrain.sh 4
#   eng/final-retrain.sh 5 /var/tmp/edgemed-runs/final-d2 --teacher /var/tmp/edgemed-runs/reference-t1-all   (distilled)
# An extra option the recipe already has replaces the recipe's value:   eng/final-retrain.sh 5 /var/tmp/edgemed-runs/final-p160 --size 160
# A run cut off resumes (--resume) while its checkpoint survives. Needs the MedNIST pre-training p1 (EDGEMED_INIT).
set -euo pipefail
epochs=${1:?give the epoch count}
out=${2:-/var/tmp/edgemed-runs/final-e$epochs}
shift; shift || true
cd "$(dirname "$0")/.."
. eng/m1-recipe.sh
m1_recipe_without "$@"
data=../shared/data/alzheimer-mri/train
if [ ! -d "$out/package" ]; then
  ./edgemed.sh train --data "$data" --out "$out" "${RECIPE[@]}" --epochs "$epochs" --split 1,0,0 \
    --hold-out eng/demo-sample-sources.txt $([ -f "$out/checkpoint.pt" ] && echo --resume) "$@"
fi
# Class folders of the run's training and held-out parts, as links, for the quantizer.
parts=$out/parts
rm -rf "$parts"
/usr/bin/python3 eng/split-parts.py "$out/split.csv" "$data" "$parts"
rm -rf "$out/int8" "$out/iconvnext-tiny-alzheimer"
./edgemed.sh quantize --model "$out/package" --calib "$parts/train" --out "$out/iconvnext-tiny-alzheimer" --method percentile --samples 200 \
  --matmul-outputs float --eval "$parts/heldout" --threads 2
