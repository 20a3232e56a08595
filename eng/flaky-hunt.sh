#!/usr/bin/env bash
# Runs the whole suite RUNS times on a clean clone with CPU hogs beside it and tallies the tests that failed, to find
# load-dependent tests before CI does (a flaky test can block any landing; CI machines are often loaded).
#   eng/flaky-hunt.sh [RUNS] [HOGS]     defaults: 3 runs, one busy loop per core
# Each run's TRX files stay in $OUT/run-K (OUT defaults to /var/tmp/edgemed-flaky); the last lines are the tally.
set -euo pipefail
runs="${1:-3}"
hogs="${2:-$(nproc)}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive whole number, got '$runs'" >&2; exit 2; }
[[ "$hogs" =~ ^[0-9]+$ ]] || { echo "HOGS must be a whole number, got '$hogs'" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-/var/tmp/edgemed-flaky}"
clone="$out/clone"
rm -rf "$out" && mkdir -p "$out"
# A clean clone of what is committed, as CI sees it: nothing built or left over from the working tree.
git clone -q "$repo" "$clone"

hog_pids=()
stop_hogs() { for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done; hog_pids=(); }
trap stop_hogs EXIT

for k in $(seq 1 "$runs"); do
  for _ in $(seq 1 "$hogs"); do sh -c 'while :; do :; done' & hog_pids+=("$!"); done
  start=$(date +%s)
  rc=0
  (cd "$clone" && CI=true ./edgemed.sh test </dev/null >"$out/run-$k.log" 2>&1) || rc=$?
  stop_hogs
  cp -r "$clone/TestResults" "$out/run-$k" 2>/dev/null || true
  summary="$(cd "$clone" && ./edgemed.sh summary)"
  echo "run $k: $summary (exit $rc, $(( $(date +%s) - start )) s, $hogs hogs)"
  # One line per failed test: the TRX's testName of every result whose outcome is Failed.
  grep -rhoE '<UnitTestResult [^>]*outcome="Failed"[^>]*' "$out/run-$k" 2>/dev/null \
    | grep -oE 'testName="[^"]*"' | sed -E 's/testName="(.*)"/\1/' >>"$out/failed.txt" || true
done

echo "failures over $runs runs (count, test):"
if [ -s "$out/failed.txt" ]; then sort "$out/failed.txt" | uniq -c | sort -rn; else echo "  none"; fi
