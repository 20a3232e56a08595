#!/usr/bin/env bash
# The long reliability campaign of issue 12 through the same test CI runs with a small slice:
#   SIGKILL at KILLS random points over a share of FILES real DICOM instances, a restart after each; the final ledger
#   and results must equal an uninterrupted run's. Prints one "campaign:" line (kills, files, rows lost, rows doubled,
#   restarts, time from the last restart to all done).
# Usage: eng/reliability-campaign.sh [KILLS=50] [FILES=150]
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-50}
files=${2:-150}
dotnet build tests/EdgeAgent.Tests -c Release -nodeReuse:false -p:UseSharedCompilation=false >/dev/null
log=$(mktemp)
status=0
EDGEMED_CAMPAIGN_KILLS=$kills EDGEMED_CAMPAIGN_FILES=$files \
  dotnet test tests/EdgeAgent.Tests -c Release --no-build \
  --filter "FullyQualifiedName~SigkillAtRandomPoints" --logger "console;verbosity=detailed" >"$log" 2>&1 || status=$?
grep -E "campaign:|Passed!|Failed!|Assert" "$log" || tail -40 "$log"
rm -f "$log"
exit "$status"
