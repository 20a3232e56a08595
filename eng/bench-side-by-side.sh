#!/usr/bin/env bash
# Inference speed of this checkout against another commit, measured side by side: the two builds take turns on
# `agent bench` (bare inference, slices/s) for ROUNDS rounds, so both see the same machine and the same load.
# Prints every round, each build's median and the ratio. Absolute numbers move up to 2x between days here; the
# ratio of alternating runs is what a claim may rest on.
#
#   eng/bench-side-by-side.sh BASE_COMMIT [MODEL_PACKAGE]      (env: ROUNDS=5 THREADS=2 BATCH=8 INPUT=samples METRIC=bare)
# METRIC=pipeline compares the pipeline's slices/s instead (read, decode, classify, store: a change to the agent's
# stages), METRIC=ratio each build's pipeline / bare of the same round.
# Example (the switch from our ORT 1.23.2 binding to Microsoft.ML.OnnxRuntime 1.31.1):
#   eng/bench-side-by-side.sh 0de9104 models/iconvnext-tiny-alzheimer
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${1:?usage: eng/bench-side-by-side.sh BASE_COMMIT [MODEL_PACKAGE]}"
MODEL="$(realpath "${2:-$ROOT/models/iconvnext-tiny-alzheimer}")"
INPUT="$(realpath "${INPUT:-$ROOT/samples}")"
ROUNDS="${ROUNDS:-5}" THREADS="${THREADS:-2}" BATCH="${BATCH:-8}" METRIC="${METRIC:-bare}"
case "$METRIC" in bare) pick='s/.*bare \([0-9.]*\) slices\/s.*/\1/p' ;; pipeline) pick='s/.*pipeline \([0-9.]*\) slices\/s.*/\1/p' ;;
  ratio) pick='s/.*ratio \([0-9.]*\)$/\1/p' ;; *) echo "METRIC is bare, pipeline or ratio" >&2; exit 2 ;; esac
WORK="$(mktemp -d /var/tmp/edgemed-bench.XXXXXX)"
trap 'git -C "$ROOT" worktree remove --force "$WORK/base" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

git -C "$ROOT" worktree add --detach "$WORK/base" "$BASE" >/dev/null
# Commits before the switch fetched ONNX Runtime 1.23.2 from npm into .native/; reuse a copy when one is at hand.
[ -d "${EDGEMED_OLD_NATIVE:-/var/tmp/edgemed-ort/.native}" ] && cp -r "${EDGEMED_OLD_NATIVE:-/var/tmp/edgemed-ort/.native}" "$WORK/base/.native"
(cd "$WORK/base" && ./edgemed.sh setup >/dev/null)
(cd "$ROOT" && ./edgemed.sh build >/dev/null)

bare() { # bare EDGEMED_SH: one bench round, prints its METRIC
  "$1" agent bench "$INPUT" --models "$MODEL" --rounds 1 --threads "$THREADS" --batch "$BATCH" 2>/dev/null | sed -n "$pick" | head -1
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

base_file="$WORK/base.txt" head_file="$WORK/head.txt" ratio_file="$WORK/ratio.txt"
for round in $(seq 1 "$ROUNDS"); do
  b="$(bare "$WORK/base/edgemed.sh")"; h="$(bare "$ROOT/edgemed.sh")"
  r="$(awk -v h="$h" -v b="$b" 'BEGIN { printf "%.3f", h / b }')"
  echo "round $round ($METRIC): base $b, this checkout $h, ratio $r"
  echo "$b" >> "$base_file"; echo "$h" >> "$head_file"; echo "$r" >> "$ratio_file"
done
b="$(median < "$base_file")" h="$(median < "$head_file")"
echo "model $(basename "$MODEL"), batch $BATCH, $THREADS threads, $ROUNDS alternating rounds"
echo "median $METRIC: base ($BASE) $b, this checkout ($(git -C "$ROOT" rev-parse --short HEAD)) $h; median of the per-round ratios $(median < "$ratio_file")"
