# Sourced by eng/split-repeats.sh and eng/final-retrain.sh: the shipped recipe (m1, docs/RESULTS.md) in one place.
# Sets M1_INIT (the MedNIST pre-training p1, or $EDGEMED_INIT) and M1_RECIPE (the train options both share);
# m1_recipe_without OPTIONS... sets RECIPE to M1_RECIPE less the options given (the trainer refuses an option twice,
# so a caller's own value for one replaces the recipe's).
M1_INIT=${EDGEMED_INIT:-/var/tmp/edgemed-runs/iconvnext-mednist-p1/checkpoint.pt}
[ -f "$M1_INIT" ] || { echo "no MedNIST pre-trained checkpoint at $M1_INIT (docs/RESULTS.md: pre-training p1); set EDGEMED_INIT" >&2; exit 2; }
M1_RECIPE=(--arch iconvnext-tiny --init "$M1_INIT" --size 128 --batch 32 --schedule-epochs 12 --threads 2 --optimizer adamw --lr 2e-4
  --weight-decay 0.05 --schedule cosine --warmup-epochs 0.5 --label-smoothing 0.1 --drop-path 0.1 --augment basic
  --precision bf16-mixed --group-by similar)
m1_recipe_without() {
  local -A given=()
  local arg i
  for arg in "$@"; do [[ $arg == --* ]] && given[$arg]=1; done
  RECIPE=()
  # Every recipe option takes one value, so the recipe is walked in (option, value) pairs.
  for ((i = 0; i < ${#M1_RECIPE[@]}; i += 2)); do
    [[ ${M1_RECIPE[i]} == --* && ${M1_RECIPE[i + 1]:-} != --* ]] || { echo "eng/m1-recipe.sh: option without a value near ${M1_RECIPE[i]}" >&2; exit 2; }
    [[ -n ${given[${M1_RECIPE[i]}]:-} ]] || RECIPE+=("${M1_RECIPE[i]}" "${M1_RECIPE[i + 1]}")
  done
}
