#!/usr/bin/env bash
# The shipped IConvNeXt-Tiny: m1's recipe (docs/RESULTS.md) on every subject but the three the demo's samples come
# from (eng/demo-sample-sources.txt), stopped after a fixed epoch of the same 12-epoch cosine, chosen beforehand from
# the split repeats (eng/split-repeats.sh, eng/epoch-curve.py), since no validation part is left to choose on; then
# quantized as m1 was, calibrated on training slices and checked on the held-out demo subjects; the int8 package (named
# as the agent expects it) is RUN-FOLDER/iconvnext-tiny-alzheimer.
#   eng/final-retrain.sh EPOCHS [RUN-FOLDER]      e.g. eng/final-retrain.sh 4
# A run cut off resumes (--resume) while its checkpoint survives. Needs the MedNIST pre-training p1 (EDGEMED_INIT).
set -euo pipefail
epochs=${1:?give the epoch count}
out=${2:-/var/tmp/edgemed-runs/final-e$epochs}
init=${EDGEMED_INIT:-/var/tmp/edgemed-runs/iconvnext-mednist-p1/checkpoint.pt}
[ -f "$init" ] || { echo "no MedNIST pre-trained checkpoint at $init (docs/RESULTS.md: pre-training p1); set EDGEMED_INIT" >&2; exit 2; }
cd "$(dirname "$0")/.."
data=../shared/data/alzheimer-mri/train
if [ ! -d "$out/package" ]; then
  ./edgemed.sh train --data "$data" --arch iconvnext-tiny --out "$out" --init "$init" --size 128 --batch 32 \
    --epochs "$epochs" --schedule-epochs 12 --threads 2 --optimizer adamw --lr 2e-4 --weight-decay 0.05 --schedule cosine --warmup-epochs 0.5 \
    --label-smoothing 0.1 --drop-path 0.1 --augment basic --precision bf16-mixed --group-by similar --split 1,0,0 \
    --hold-out eng/demo-sample-sources.txt $([ -f "$out/checkpoint.pt" ] && echo --resume)
fi
# Class folders of the run's training and held-out parts, as links, for the quantizer.
parts=$out/parts
rm -rf "$parts"
/usr/bin/python3 - "$out/split.csv" "$data" "$parts" <<'EOF'
import csv, os, sys
split, data, parts = sys.argv[1:]
for row in csv.DictReader(open(split, newline="")):
    folder = os.path.join(parts, row["split"], row["class"])
    os.makedirs(folder, exist_ok=True)
    os.symlink(os.path.abspath(os.path.join(data, row["path"])), os.path.join(folder, os.path.basename(row["path"])))
EOF
rm -rf "$out/int8" "$out/iconvnext-tiny-alzheimer"
./edgemed.sh quantize --model "$out/package" --calib "$parts/train" --out "$out/iconvnext-tiny-alzheimer" --method percentile --samples 200 \
  --eval "$parts/heldout" --threads 2
