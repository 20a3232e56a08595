#!/usr/bin/env bash
# Seed 002's comparison models, ResNet-50 and VGG-16, on seed 000's protocol so the rows sit beside its table: subset
# 182 Mild / 52 Moderate / 182 Non / 351 Very Mild, random 7:1:2 split (seed 0), 224 px, Adam, batch 4, 10 epochs;
# bf16-mixed (0.23x the time of fp32). VGG-16 (no batch norm in torchvision's) at Adam 1e-4: from scratch at 1e-3 it
# stays at the majority class. One after the other; a run cut off resumes with --resume while its checkpoint survives.
#   eng/seed002.sh                      both;   SPECS=vgg16:1e-4 eng/seed002.sh   VGG-16 alone
cd "$(dirname "$0")/.."
mkdir -p /var/tmp/edgemed-runs
for spec in ${SPECS:-resnet50:1e-3 vgg16:1e-4}; do
  arch=${spec%%:*} lr=${spec##*:}
  out=/var/tmp/edgemed-runs/seed002-$arch
  [ -d $out/package ] && continue
  ./edgemed.sh train --data ../shared/data/alzheimer-mri/train --arch $arch --out $out --size 224 --batch 4 --epochs 10 --threads 2 \
    --optimizer adam --lr $lr --split 0.7,0.1,0.2 --seed 0 --precision bf16-mixed \
    --subset MildDemented=182,ModerateDemented=52,NonDemented=182,VeryMildDemented=351 \
    $([ -f $out/checkpoint.pt ] && echo --resume) >> $out.log 2>&1
done
