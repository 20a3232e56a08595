#!/usr/bin/env bash
# Issue 12's long campaigns, through the same tests CI runs with a small slice (tests/EdgeAgent.Tests):
#   sigkill [KILLS=50] [FILES=150]   SIGKILL at KILLS random points over FILES real DICOM instances (at most 154), a
#                                    restart after each; the final ledger and results must equal an uninterrupted run's
#   fuzz [FILES=10000] [SEED]        FILES mutated DICOM files on the share, the agent run until idle; no agent failure,
#                                    every file terminal with a reason
# Prints the test's one summary line (campaign: … / … mutated files, seed …) and exits with the test's status.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  sigkill) filter=SigkillAtRandomPoints; summary="campaign:"
           export EDGEMED_CAMPAIGN_KILLS=${2:-50} EDGEMED_CAMPAIGN_FILES=${3:-150} ;;
  fuzz)    filter=MutatedShareTests; summary="mutated files, seed"
           export EDGEMED_AGENT_FUZZ_FILES=${2:-10000} EDGEMED_AGENT_FUZZ_SEED=${3:-20261201} ;;
  *) echo "usage: $0 sigkill [KILLS] [FILES] | fuzz [FILES] [SEED]" >&2; exit 2 ;;
esac
dotnet build tests/EdgeAgent.Tests -c Release -nodeReuse:false -p:UseSharedCompilation=false >/dev/null
log=$(mktemp)
status=0
dotnet test tests/EdgeAgent.Tests -c Release --no-build --filter "FullyQualifiedName~$filter" \
  --logger "console;verbosity=detailed" >"$log" 2>&1 || status=$?
grep -E "$summary|Failed!|Assert" "$log" || tail -40 "$log"
rm -f "$log"
exit "$status"
