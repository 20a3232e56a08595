#!/usr/bin/env bash
# EdgeMed's one entry point: installs what is missing, builds, and runs the programs.
# Each subcommand is one line that runs a built program; `setup` is idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONFIGURATION="${EDGEMED_CONFIGURATION:-Release}"
# Debian packages, by what needs them. Every build needs python3-onnx (it ships onnx.proto); the agent and `dicom`
# need GDCM (libgdcm-cil) and libjpeg-turbo (libturbojpeg0); training adds PyTorch with libopenblas0-pthread (without
# it BLAS falls back to Debian's reference build, about ten times slower) and fonts-dejavu-core (the report figures'
# font); the tests add python3-pil, the reference the resampler is tested against, systemd for systemd-analyze
# (the unit's checks; nothing is started), DCMTK and Orthanc (the DICOM intake and PACS tests start their own on free
# loopback ports; note that Debian's orthanc package also enables its own service on ports 4242 and 8042).
# `setup` and `test` install all.
BASE_PACKAGES=(ca-certificates python3-onnx libgdcm-cil libturbojpeg0)
TRAINING_PACKAGES=(python3-torch python3-torchvision libopenblas0-pthread fonts-dejavu-core)
TEST_PACKAGES=(python3-pil systemd dcmtk orthanc sshfs openssh-server)

# The agent's model: the demo runs it and releases carry it. Other packages under models/ (ARN-CNN on MedNIST) are
# results of their own, not for brain MRI.
DEFAULT_MODEL="models/iconvnext-tiny-alzheimer"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { printf '[edgemed] %s\n' "$*" >&2; }
die() { printf '[edgemed] error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<USAGE
Usage: ./edgemed.sh COMMAND [ARGS...]

  setup        install missing Debian packages, restore and build
  build        build the solution (${CONFIGURATION})
  test [ARGS]  setup if needed, then run every test; extra ARGS go to 'dotnet test'
  bench [ARGS] run the benchmarks (BenchmarkDotNet); e.g. ./edgemed.sh bench --filter '*Run*'
  dicom inspect PATH...     one line per DICOM instance: UIDs, modality, plane, size, transfer syntax, status or reason
  dicom convert IN OUTDIR   normalized axial slices as PNG with JSON sidecars, and a summary of skipped files
  train --data DIR --arch A --out RUNDIR [...]   retrain a model (./edgemed.sh train --help lists the options)
  train evaluate --model PACKAGE --data DIR      evaluate a model package on a labeled folder
  quantize --model PKG --calib DIR --out PKG [--method minmax|percentile|entropy] [--samples N] [--eval DIR]
                            int8 post-training quantization with a report
  publish [--rid linux-x64|linux-arm64] [--version V] [--out DIR]
                            a self-contained release tarball for a device (no .NET needed there): dist/edgemed-V-RID.tar.gz
  demo                      classify the bundled sample DICOM (samples/) with the shipped model (models/iconvnext-tiny-alzheimer) and print the results
  agent run|classify|status|results|quarantine [...]   the edge agent (./edgemed.sh agent --help)
  summary [DIR]             print "N passed, N failed" from the TRX files of the last test run
USAGE
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@" || die "need root to run: $* (run as root, or allow sudo without a password)"
  else die "need root to run: $*"
  fi
}

install_apt_packages() { # install_apt_packages PACKAGE...
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  command -v dotnet >/dev/null || die "the .NET 10 SDK (dotnet) is not on PATH"
  dotnet build "$ROOT/EdgeMed.sln" -c "$CONFIGURATION" -nologo -v quiet -clp:ErrorsOnly
}

setup() {
  install_apt_packages "${BASE_PACKAGES[@]}" "${TRAINING_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
  build
}

# Sums the counters of every TRX file under $1 and prints "N passed, N failed".
summarize_trx() {
  local passed=0 failed=0 p f
  while IFS= read -r file; do
    p=$(grep -o '<Counters [^>]*' "$file" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    f=$(grep -o '<Counters [^>]*' "$file" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  done < <(find "$1" -name '*.trx' 2>/dev/null)
  echo "${passed} passed, ${failed} failed"
}

run_tests() {
  setup
  local results="$ROOT/TestResults"
  rm -rf "$results"
  local rc=0
  dotnet test "$ROOT/EdgeMed.sln" -c "$CONFIGURATION" --no-build -nologo \
    --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@" || rc=$?
  summarize_trx "$results"
  return $rc
}

# Runs a built program by its project folder: program DicomIngest ARGS... Builds first when the program is missing
# or any source (C#, project, worker script) is newer than it, so an edit or a pull never runs stale code.
exe_of() { echo "$ROOT/src/$1/bin/$CONFIGURATION/net10.0/EdgeMed.$1"; }

ensure_built() {
  local exe; exe="$(exe_of "$1")"
  case "$1" in
    TrainerHost) install_apt_packages "${BASE_PACKAGES[@]}" "${TRAINING_PACKAGES[@]}" >&2 ;;
    *) install_apt_packages "${BASE_PACKAGES[@]}" >&2 ;;
  esac
  if [ ! -x "$exe" ]; then
    build >&2
  elif [ -n "$(find "$ROOT/src" "$ROOT"/Directory.*.props \( -name '*.cs' -o -name '*.csproj' -o -name '*.py' -o -name '*.props' -o -name appsettings.json \) -newer "$exe.dll" -print -quit)" ]; then
    build >&2
  fi
}

program() {
  local name="$1"; shift
  ensure_built "$name"
  exec "$(exe_of "$name")" "$@"
}

# Copies samples/ into a temporary share, runs the agent until every file is finished, prints the series results.
demo() {
  ensure_built EdgeAgent
  local models="$ROOT/$DEFAULT_MODEL" agent; agent="$(exe_of EdgeAgent)"
  [ -f "$models/manifest.json" ] || die "no model package at $DEFAULT_MODEL (expected $DEFAULT_MODEL/manifest.json)"
  local work; work="$(mktemp -d -t edgemed-demo.XXXXXX)"
  mkdir -p "$work/share"
  cp -r "$ROOT/samples/." "$work/share/"
  rm -f "$work/share/NOTICE.md"
  say "demo: $(find "$work/share" -type f | wc -l) sample DICOM files in $work/share; model $DEFAULT_MODEL"
  EDGEMED__SCANINTERVAL=00:00:01 EDGEMED__SETTLETIME=00:00:00.500 EDGEMED__SERIESQUIETPERIOD=00:00:02 EDGEMED__HEATMAPSLICES=1 \
    "$agent" run --share "$work/share" --models "$models" --db "$work/edgemed.db" --quarantine "$work/quarantine" --stop-when-idle \
    || die "the agent failed (log above)"
  echo
  echo "Per-series results (database $work/edgemed.db):"
  "$agent" results --series --format table --db "$work/edgemed.db"
  echo
  echo "Series described 'demo <class> (held-out subject)' are slices of one subject of that class, held out of the"
  echo "grouped training split (samples/NOTICE.md); the GE, Philips and Siemens series are phantoms and an EPI volume"
  echo "with no Alzheimer label: whatever the model says about them is out of its domain."
  echo "Heatmaps of each series' most confident slice (PNG): $work/heatmaps"
  echo
  "$agent" status --db "$work/edgemed.db"
}

# A self-contained release for one device architecture: the agent with its .NET runtime and ONNX Runtime, the
# default model package, the unit, device templates and install scripts, and VERSION; one tarball and its .sha256.
publish() {
  local rid version out
  case "$(uname -m)" in aarch64) rid=linux-arm64 ;; *) rid=linux-x64 ;; esac
  out="$ROOT/dist"
  # The version names the commit when this is a git checkout (a fresh machine may have no git: then --version).
  local commit=unknown
  version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$ROOT/Directory.Build.props")"
  if command -v git >/dev/null && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    commit="$(git -C "$ROOT" rev-parse HEAD)"
    version="$version-${commit:0:7}"
    [ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ] || version="$version-dirty"
  fi
  while [ $# -gt 0 ]; do
    case "$1" in
      --rid) rid="${2:?--rid needs linux-x64 or linux-arm64}"; shift 2 ;;
      --version) version="${2:?--version needs a value}"; shift 2 ;;
      --out) out="${2:?--out needs a folder}"; shift 2 ;;
      *) die "publish: unknown option $1 (--rid, --version, --out)" ;;
    esac
  done
  case "$rid" in linux-x64|linux-arm64) ;; *) die "publish: --rid must be linux-x64 or linux-arm64, not $rid" ;; esac
  [[ "$version" =~ ^[0-9A-Za-z][0-9A-Za-z.+-]*$ ]] || die "publish: version '$version' must be letters, digits, '.', '+' or '-'"
  install_apt_packages "${BASE_PACKAGES[@]}"
  local name="edgemed-$version-$rid" stage
  stage="$(mktemp -d -t edgemed-publish.XXXXXX)"
  trap 'rm -rf "$stage"' RETURN
  local tree="$stage/$name"
  say "publishing $name"
  # Self-contained: the device needs no .NET. GDCM's native glue is the device's own (install.sh copies it from
  # Debian's libgdcm-cil there), so the build machine's x64 copy is left out.
  # A build of its own (--artifacts-path): the checkout's bin/ and obj/, and tests running from them, stay as they are.
  # Not ReadyToRun, for now: it took start to READY from 1.40 to 1.27 s here (eng/start-to-ready.py, x64, +5 MB), but
  # the arm64 cross-publish then fails on the referenced DicomIngest program (NETSDK1047). No trimming: configuration
  # binding and JSON use reflection. No build servers left behind (-nodeReuse:false, no shared compiler): they would
  # keep the caller's output pipes open after publish returns.
  # The agent is its own decoder process (DecoderWorkerHostAttribute), so the referenced DicomIngest program's host
  # files, which the SDK brings in two flavours (NETSDK1152), are not needed: either is accepted, then removed.
  dotnet publish "$ROOT/src/EdgeAgent/EdgeMed.EdgeAgent.csproj" -c Release -r "$rid" --self-contained --artifacts-path "$stage/artifacts" \
    -p:ErrorOnDuplicatePublishOutputFiles=false -nodeReuse:false -p:UseSharedCompilation=false \
    -p:Version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$ROOT/Directory.Build.props")" -p:InformationalVersion="$version" \
    -o "$tree/app" -nologo -v quiet -clp:ErrorsOnly >&2
  rm -f "$tree/app/libgdcmsharpglue.so" "$tree/app/"*.pdb "$tree/app/EdgeMed.DicomIngest" "$tree/app/EdgeMed.DicomIngest.runtimeconfig.json" "$tree/app/EdgeMed.DicomIngest.deps.json"
  mkdir -p "$tree/models"
  cp -r "$ROOT/$DEFAULT_MODEL" "$tree/models/"
  cp -r "$ROOT/deploy/devices" "$tree/devices"
  cp "$ROOT/deploy/edgemed.service" "$ROOT/deploy/install.sh" "$ROOT/deploy/uninstall.sh" "$ROOT/deploy/README.md" \
    "$ROOT/deploy/dicom-intake.sh" "$ROOT/deploy/edgemed-dicom-intake.service" "$tree/"
  printf 'version=%s\nrid=%s\ncommit=%s\nbuilt=%s\n' "$version" "$rid" "$commit" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tree/VERSION"
  mkdir -p "$out"
  tar -C "$stage" --owner=0 --group=0 -czf "$out/$name.tar.gz" "$name"
  (cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
  say "$(du -h "$out/$name.tar.gz" | cut -f1) $out/$name.tar.gz"
  echo "$out/$name.tar.gz"
}

cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  build) build ;;
  test) run_tests "$@" ;;
  bench) setup; dotnet run --project "$ROOT/tests/Benchmarks/EdgeMed.Benchmarks.csproj" -c Release -- "$@" ;;
  demo) demo ;;
  publish) publish "$@" ;;
  agent) program EdgeAgent "$@" ;;
  dicom) program DicomIngest "$@" ;;
  train) program TrainerHost "$@" ;;
  quantize) program Quantization "$@" ;;
  summary) summarize_trx "${1:-$ROOT/TestResults}" ;;
  ""|-h|--help|help) usage ;;
  *) usage; die "unknown command: $cmd" ;;
esac
