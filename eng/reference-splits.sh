#!/usr/bin/env bash
# The brief's ResNet-18 reference recipes on the grouped splits of the split repeats (eng/split-repeats.sh), so the
# shipped recipe's accuracy on each split's 40 held-out subjects sits beside the reference's on the same subjects.
#   r0: the brief's "0.568" (8 epochs of Adam 1e-3, batch 32, 128 px, no augmentation), about 8 min per split on dev-2c
#   t1: the brief's "0.66" (30 epochs, AdamW 1e-3, warm-up 2 + cosine, label smoothing 0.1, strong augmentation), ~30 min
#   i1: t1 from ImageNet-trained weights (--init imagenet: the ResNet in ML.NET's NuGet package), same time as t1
#   i2: a gentler fine-tuning of the same weights (AdamW 1e-4, warm-up 1 + cosine over 10 epochs), about 13 min
#   SEEDS="1 2" eng/reference-splits.sh [r0|t1|i1|i2]
# SEEDS=all trains on every subject but the demo's three instead (the shipped model's data, eng/final-retrain.sh), as a
# teacher for a distilled final retrain: /var/tmp/edgemed-runs/reference-t1-all (about 35 min for t1 on dev-2c).
# Runs go to /var/tmp/edgemed-runs/reference-RECIPE-sSEED; a run cut off resumes (--resume) while its checkpoint survives.
set -euo pipefail
recipe=${1:-r0}
t1=(--epochs 30 --optimizer adamw --lr 1e-3 --weight-decay 0.05 --schedule cosine --warmup-epochs 2 --label-smoothing 0.1 --augment strong)
case $recipe in
  r0) options=(--epochs 8 --optimizer adam --lr 1e-3 --augment none) ;;
  t1) options=("${t1[@]}") ;;
  i1) options=(--init imagenet "${t1[@]}") ;;
  i2) options=(--init imagenet --epochs 10 --optimizer adamw --lr 1e-4 --weight-decay 0.05 --schedule cosine --warmup-epochs 1 --label-smoothing 0.1 --augment strong) ;;
  *) echo "unknown recipe $recipe (r0, t1, i1 or i2)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
mkdir -p /var/tmp/edgemed-runs
for seed in ${SEEDS:-1 2 3 4 0}; do
  if [ "$seed" = all ]; then
    out=/var/tmp/edgemed-runs/reference-$recipe-all split=(--split 1,0,0 --hold-out eng/demo-sample-sources.txt)
  else
    out=/var/tmp/edgemed-runs/reference-$recipe-s$seed split=(--split 0.8,0.1,0.1 --seed $seed --test-every-epoch)
  fi
  [ -d "$out/package" ] && continue
  ./edgemed.sh train --data ../shared/data/alzheimer-mri/train --arch resnet18 --out "$out" --size 128 --batch 32 "${options[@]}" \
    --threads 2 --precision bf16-mixed --group-by similar "${split[@]}" $([ -f "$out/checkpoint.pt" ] && echo --resume) >> "$out.log" 2>&1
  [ "$seed" = all ] && continue # nothing held out to score but the demo's three subjects
  # Both held-out halves and the test half alone, last epoch's weights (the brief's figures are its final models).
  /usr/bin/python3 eng/paired-bootstrap.py "$out:final" | tee -a "$out.log"
  /usr/bin/python3 eng/paired-bootstrap.py --part test "$out:final" | tee -a "$out.log"
done
