#!/usr/bin/env bash
# Runs .ci/run from a clean clone of this repository's HEAD inside a debootstrap'd minbase bookworm root that has only
# the .NET SDK (bind-mounted from the host) and its documented prerequisites: the "fresh machine" CI stands for.
# Needs root and debootstrap. First time: debootstrap --variant=minbase bookworm /tmp/fresh/root http://deb.debian.org/debian
# Usage: sudo eng/fresh-debian-check.sh [ROOTFS]   (about 10 minutes: it installs PyTorch and runs every test)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="$REPO/../shared"
R="${1:-/tmp/fresh/root}"
mountpoint -q $R/proc || mount -t proc proc $R/proc
mountpoint -q $R/dev || mount --rbind /dev $R/dev
mountpoint -q $R/sys || mount --rbind /sys $R/sys
cp /etc/resolv.conf $R/etc/resolv.conf
mkdir -p $R/usr/share/dotnet
mountpoint -q $R/usr/share/dotnet || mount --bind /usr/share/dotnet $R/usr/share/dotnet
ln -sf /usr/share/dotnet/dotnet $R/usr/bin/dotnet
# The .NET SDK's documented Debian 12 prerequisites (what installing the SDK brings).
chroot $R env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot $R env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates libc6 libgcc-s1 libgssapi-krb5-2 libicu72 libssl3 libstdc++6 zlib1g >/dev/null
# This workplace's TLS proxy CA (on every machine here, CI's too) lives in the host bundle.
cp /etc/ssl/certs/ca-certificates.crt $R/etc/ssl/certs/ca-certificates.crt
# Back to a root without the project's own packages, in case an earlier check installed them.
PKGS=$(sed -n 's/^[A-Z]*_PACKAGES=(\(.*\))/\1/p' "$REPO"/edgemed.sh | tr '\n' ' ' | sed 's/ca-certificates//')
chroot $R env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --autoremove $PKGS python3 >/dev/null 2>&1 || true
# A clean clone at the same path, with shared/ beside it, as CI has them.
SHARED="$(cd "$SHARED" && pwd)"
rm -rf "$R$REPO" "$R$SHARED" $R/root/.nuget $R/root/.local
mkdir -p "$(dirname "$R$REPO")" "$(dirname "$R$SHARED")"
git clone -q "$REPO" "$R$REPO"
cp -a "$SHARED" "$R$SHARED"
chroot $R env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CI=true NUGET_CERT_REVOCATION_MODE=offline \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt bash -c "cd '$REPO' && bash .ci/run </dev/null"
