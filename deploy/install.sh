#!/usr/bin/env bash
# Installs the EdgeMed agent as a systemd service on a Raspberry Pi (64-bit Raspberry Pi OS / Debian 12) or an NVIDIA
# Jetson (Ubuntu 22.04 L4T). Run as root on the device from an unpacked release (see deploy/*/README.md):
#   sudo ./install.sh raspberrypi|jetson PUBLISH_DIR
# Idempotent: an existing /etc/edgemed/appsettings.json, database and models are kept.
set -euo pipefail
device="${1:?usage: install.sh raspberrypi|jetson PUBLISH_DIR}"; publish="${2:?usage: install.sh raspberrypi|jetson PUBLISH_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -d "$here/$device" ] || { echo "unknown device '$device' (raspberrypi or jetson)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 2; }
[ -f "$publish/EdgeMed.EdgeAgent.dll" ] || { echo "$publish has no EdgeMed.EdgeAgent.dll (dotnet publish src/EdgeAgent -c Release -o DIR)" >&2; exit 2; }
command -v dotnet >/dev/null && dotnet --list-runtimes | grep -q '^Microsoft.NETCore.App 10\.' ||
  { echo "the .NET 10 runtime is missing: install it first (https://learn.microsoft.com/dotnet/core/install/linux)" >&2; exit 2; }

# GDCM (DICOM pixels), libjpeg-turbo, libgpiod (status lights) from the distribution, for this CPU.
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgdcm-cil libturbojpeg0 libgpiod2

install -d -m 0755 /opt/edgemed
cp -r "$publish/." /opt/edgemed/
# The published glue library is the build machine's; GDCM's native glue must be this device's.
cp /usr/lib/cli/gdcm-sharp-3.0/libgdcmsharpglue.so /opt/edgemed/
case "$(uname -m)" in
  aarch64) test -f /opt/edgemed/runtimes/linux-arm64/native/libonnxruntime.so ;;
  x86_64) test -f /opt/edgemed/runtimes/linux-x64/native/libonnxruntime.so ;;
esac || { echo "the publish folder lacks ONNX Runtime for $(uname -m) (publish with the Microsoft.ML.OnnxRuntime package restored)" >&2; exit 2; }

id edgemed >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edgemed --shell /usr/sbin/nologin edgemed
getent group gpio >/dev/null && usermod -aG gpio edgemed
install -d -o edgemed -g edgemed -m 0750 /var/lib/edgemed /var/lib/edgemed/models
install -d -m 0755 /etc/edgemed
[ -f /etc/edgemed/appsettings.json ] || install -m 0644 "$here/$device/appsettings.json" /etc/edgemed/appsettings.json
install -m 0644 "$here/$device/edgemed.service" /etc/systemd/system/edgemed.service
systemctl daemon-reload
systemctl enable edgemed.service
echo "Installed. Set EdgeMed:Share in /etc/edgemed/appsettings.json, copy a model package into /var/lib/edgemed/models/,"
echo "then: systemctl restart edgemed && journalctl -u edgemed -f"
