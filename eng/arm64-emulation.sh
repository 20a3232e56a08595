#!/usr/bin/env bash
# Prepares this x86-64 Debian 12 machine to run the linux-arm64 release under qemu-user: qemu-aarch64, an arm64
# sysroot unpacked from Debian's arm64 packages (libc, libstdc++, GDCM and its glue, libjpeg-turbo; nothing is
# installed as a package), and a binfmt_misc entry so the agent's decoder child (an arm64 program it starts itself)
# runs under qemu too. Idempotent; needs root (or sudo without a password) for apt, dpkg and binfmt_misc. Prints the
# sysroot; run programs as  DIR/run PROGRAM ARGS...  with QEMU_LD_PREFIX=<sysroot>. DIR/run shows them an arm64
# /proc/cpuinfo (a Cortex-A72's, as on a Raspberry Pi 4): qemu 7.2 passes the host's x86 one through, and ONNX
# Runtime's CPU detection (pytorch/cpuinfo) crashes on it at session creation on some hosts (seen 2026-12-03: every
# run, SIGSEGV at address 0, right after reading the host's cache topology).
#   eng/arm64-emulation.sh [DIR]      (default /var/tmp/edgemed-arm64; about 8 MB of packages)
set -euo pipefail
dir="${1:-/var/tmp/edgemed-arm64}"
packages=(libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libuuid1 libexpat1 libjson-c5 libopenjp2-7 libcharls2 libsocket++1
  libgdcm3.0 libgdcm-cil libturbojpeg0)
log() { printf '[arm64] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

command -v qemu-aarch64 >/dev/null || {
  log "installing qemu-user"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
}

if [ ! -e "$dir/sysroot/lib/ld-linux-aarch64.so.1" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding Debian's arm64 package lists (dpkg --add-architecture arm64)"
    as_root dpkg --add-architecture arm64
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  rm -rf "$dir/debs" "$dir/sysroot.partial"
  mkdir -p "$dir/debs" "$dir/sysroot.partial"
  chmod 0777 "$dir/debs" # apt's download user writes here
  (cd "$dir/debs" && apt-get download -qq "${packages[@]/%/:arm64}" 2>/dev/null)
  for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/sysroot.partial"; done
  rm -rf "$dir/sysroot"
  mv "$dir/sysroot.partial" "$dir/sysroot"
  log "sysroot ready: $dir/sysroot"
fi

if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  # The arm64 ELF header (e_machine 0xb7) -> qemu-aarch64; the same entry Debian's qemu-user-binfmt registers.
  printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:' |
    as_root tee /proc/sys/fs/binfmt_misc/register >/dev/null 2>&1 ||
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { log "could not register qemu-aarch64 with binfmt_misc"; exit 1; } # (another run may have won)
  log "qemu-aarch64 registered with binfmt_misc"
fi
# One entry per processor the host's sysfs lists, since cpuinfo reads the processor count from there.
last=$(sed 's/.*[-,]//' /sys/devices/system/cpu/present) # "0-1" -> 1
for i in $(seq 0 "$last"); do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
done >"$dir/cpuinfo.partial"
mv "$dir/cpuinfo.partial" "$dir/cpuinfo"
# A private mount namespace, so the bind mount is seen by the program and its children (the decoder) only.
cat >"$dir/run.partial" <<RUN
#!/bin/sh
# $dir/run PROGRAM ARGS...: PROGRAM under qemu-aarch64 (binfmt_misc) with an arm64 /proc/cpuinfo; written by eng/arm64-emulation.sh
if [ "\$(id -u)" -eq 0 ]; then ns="unshare --mount"; else ns="unshare --map-root-user --mount"; fi
exec \$ns sh -c 'mount --bind "\$0" /proc/cpuinfo && exec "\$@"' "$dir/cpuinfo" "\$@"
RUN
chmod +x "$dir/run.partial"
mv "$dir/run.partial" "$dir/run"
echo "$dir/sysroot"
