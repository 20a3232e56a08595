# Sourced by eng/split-repeats.sh and eng/final-retrain.sh: the shipped recipe (m1, docs/RESULTS.md) in one place.
# Sets M1_INIT (the MedNIST pre-training p1, or $EDGEMED_INIT) and M1_RECIPE (the train options both share).
M1_INIT=${EDGEMED_INIT:-/var/tmp/edgemed-runs/iconvnext-mednist-p1/checkpoint.pt}
[ -f "$M1_INIT" ] || { echo "no MedNIST pre-trained checkpoint at $M1_INIT (docs/RESULTS.md: pre-training p1); set EDGEMED_INIT" >&2; exit 2; }
M1_RECIPE=(--arch iconvnext-tiny --init "$M1_INIT" --size 128 --batch 32 --schedule-epochs 12 --threads 2 --optimizer adamw --lr 2e-4
  --weight-decay 0.05 --schedule cosine --warmup-epochs 0.5 --label-smoothing 0.1 --drop-path 0.1 --augment basic
  --precision bf16-mixed --group-by similar)
