#!/usr/bin/env bash
# Issue 12's fuzz campaign through the agent: FILES mutated DICOM files on a share, the agent run until idle; fails
# unless the agent never failed or restarted and every file ended in a terminal state with a reason. Prints the
# outcome per state and reason. CI runs 60 files through the same test.
# Usage: eng/agent-fuzz-campaign.sh [FILES=10000] [SEED=20261201]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/EdgeAgent.Tests -c Release -nodeReuse:false -p:UseSharedCompilation=false >/dev/null
log=$(mktemp)
status=0
EDGEMED_AGENT_FUZZ_FILES=${1:-10000} EDGEMED_AGENT_FUZZ_SEED=${2:-20261201} \
  dotnet test tests/EdgeAgent.Tests -c Release --no-build \
  --filter "FullyQualifiedName~MutatedShareTests" --logger "console;verbosity=detailed" >"$log" 2>&1 || status=$?
grep -E "mutated files, seed|Passed!|Failed!|Assert" "$log" || tail -40 "$log"
rm -f "$log"
exit "$status"
