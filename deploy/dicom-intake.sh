#!/bin/sh
# DICOM network intake: receives instances a scanner pushes (C-STORE) with DCMTK's storescp and hands each one to
# the agent's share only once it is complete. storescp writes into a hidden folder inside the share (the agent
# skips names starting with '.', and does not enter such folders); after each instance is written it is renamed
# into the share, which is atomic on one file system, so the agent never sees a partly received file.
#
#   dicom-intake.sh SHARE [PORT] [AE_TITLE]        (defaults: port 11112, AE title EDGEMED)
#
# File names are storescp's: modality prefix and SOP Instance UID (e.g. MR.1.2.840....), never patient data.
set -eu

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: $0 SHARE [PORT] [AE_TITLE]" >&2
  exit 2
fi

share=$1
port=${2:-11112}
aet=${3:-EDGEMED}

case "$share" in
  /*) ;;
  *) echo "dicom-intake: SHARE must be an absolute path, not '$share'" >&2; exit 2 ;;
esac
case "$share" in
  *"'"* | *'"'* | *'#'* | *'\'*) echo "dicom-intake: SHARE must not contain quotes, '#' or '\\': storescp passes it through a shell" >&2; exit 2 ;;
esac
if [ ! -d "$share" ]; then
  echo "dicom-intake: SHARE $share is not a folder" >&2
  exit 2
fi
if ! command -v storescp >/dev/null 2>&1; then
  echo "dicom-intake: storescp not found; install Debian's dcmtk package" >&2
  exit 2
fi

staging="$share/.incoming"
mkdir -p "$staging"
# A file left in staging by a crash mid-write is incomplete by definition: it is never moved, and removed here.
find "$staging" -mindepth 1 -maxdepth 1 -type f -delete

# --accept-all: scanners send JPEG and JPEG 2000 compressed instances as well as uncompressed ones.
# --exec-on-reception runs after the instance is completely written: #p is its folder, #f its file name.
exec storescp --aetitle "$aet" --output-directory "$staging" --accept-all \
  --exec-on-reception "mv -f -- '#p/#f' '$share/#f'" \
  "$port"
