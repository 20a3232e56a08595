#!/usr/bin/env bash
# Installs, upgrades or rolls back EdgeMed from this unpacked release (edgemed-VERSION-RID.tar.gz). Run as root.
#
#   sudo ./install.sh --device raspberrypi|jetson|pc   first install (later runs: upgrade, or re-apply the settings)
#   sudo ./install.sh --rollback                       switch back to the version installed before this one
#
# Layout: /opt/edgemed/<version>/ (one folder per release) with /opt/edgemed/current -> <version>, switched
# atomically; /etc/edgemed/appsettings.json (written from the device template only when absent, 0640 root:edgemed);
# /var/lib/edgemed (database, quarantine, model packages; the unit's StateDirectory); the unit and its drop-ins in
# /etc/systemd/system. An upgrade stops the service, backs the database up, installs beside the old version, switches
# the link and starts; if the new version does not report READY in time, the old one is put back and started.
# Re-run after changing EdgeMed:Share: the unit's write access to the share comes from that setting.
#
# Options: --root DIR        install into a throwaway tree (tests): no apt-get, no user creation
#          --user NAME       the service account (default edgemed; created as a system user when missing)
#          --ready-timeout S how long an upgrade waits for READY before rolling back (default 120)
#          --no-start        install or upgrade without starting the service
# EDGEMED_SYSTEMCTL names the service control command (default systemctl when systemd runs; none otherwise).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { printf 'edgemed install: %s\n' "$*"; }
die() { printf 'edgemed install: error: %s\n' "$*" >&2; exit 2; }

root="" device="" rollback=0 user=edgemed ready_timeout=120 start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:?--device needs raspberrypi, jetson or pc}"; shift 2 ;;
    --root) root="$(realpath -m "${2:?--root needs a folder}")"; shift 2 ;;
    --user) user="${2:?--user needs a name}"; shift 2 ;;
    --ready-timeout) ready_timeout="${2:?--ready-timeout needs seconds}"; shift 2 ;;
    --rollback) rollback=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (--device, --rollback, --root, --user, --ready-timeout, --no-start; --help)" ;;
  esac
done
[[ "$ready_timeout" =~ ^[0-9]+$ ]] || die "--ready-timeout must be whole seconds, not '$ready_timeout'"
[ -n "$root" ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo ./install.sh ...)"

prefix="$root/opt/edgemed" etc="$root/etc/edgemed" units="$root/etc/systemd/system" state="$root/var/lib/edgemed"
systemctl_cmd="${EDGEMED_SYSTEMCTL:-}"
[ -z "$systemctl_cmd" ] && [ -z "$root" ] && [ -d /run/systemd/system ] && systemctl_cmd=systemctl
service() { [ -z "$systemctl_cmd" ] || "$systemctl_cmd" "$@"; }
group() { id -gn "$user"; }
# Files of the release and the settings folder belong to root; a --root install by another user keeps its own.
root_owner=(); [ "$(id -u)" -ne 0 ] || root_owner=(-o 0)

switch_to() { # switch_to VERSION: the current link, replaced in one rename
  ln -sfn "$1" "$prefix/current.new"
  mv -T "$prefix/current.new" "$prefix/current"
}

start_and_wait() { # start_and_wait [SECONDS]: systemd's start of a Type=notify unit returns once READY=1 arrives, or fails
  [ "$start" -eq 1 ] && [ -n "$systemctl_cmd" ] || { say "not started (${systemctl_cmd:+--no-start}${systemctl_cmd:-no systemd here})"; return 0; }
  timeout "${1:-$ready_timeout}" "$systemctl_cmd" start edgemed.service
}

backup_database() { # backup_database TAG: the stopped service's database files, kept beside it
  local folder="$state/backups/$1"
  [ -f "$state/edgemed.db" ] || return 0
  install -d -m 0700 -o "$user" -g "$(group)" "$state/backups" "$folder"
  for f in edgemed.db edgemed.db-wal edgemed.db-shm; do
    [ -f "$state/$f" ] && cp -p "$state/$f" "$folder/$f"
  done
  sync -f "$folder" 2>/dev/null || sync
  say "database backed up to ${folder#"$root"}"
}

restore_database() { # restore_database TAG: put back a backup; the database it replaces is kept as edgemed.db.failed-<time>
  local folder="$state/backups/$1" stamp; stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  [ -f "$folder/edgemed.db" ] || return 0
  cmp -s "$folder/edgemed.db" "$state/edgemed.db" && [ ! -f "$state/edgemed.db-wal" ] && return 0
  for f in edgemed.db edgemed.db-wal edgemed.db-shm; do
    [ -f "$state/$f" ] && mv "$state/$f" "$state/$f.failed-$stamp"
    [ -f "$folder/$f" ] && cp -p "$folder/$f" "$state/$f"
  done
  say "database restored from ${folder#"$root"} (the one it replaced: edgemed.db.failed-$stamp)"
}

write_unit() { # write_unit VERSION: the unit and its drop-ins from that version's folder (rollback puts the old ones back)
  local from="$prefix/$1" share
  # The share from the settings, as that version reads them; a timeout, so a broken release cannot hang the installer
  # (its failing start is what rolls it back).
  share="$(timeout 20 "$from/app/EdgeMed.EdgeAgent" settings Share --config "$etc/appsettings.json" 2>/dev/null || true)"
  destinations="$(timeout 20 "$from/app/EdgeMed.EdgeAgent" settings Destinations --config "$etc/appsettings.json" 2>/dev/null || true)"
  install -d -m 0755 "$units" "$units/edgemed.service.d"
  install -m 0644 "$from/edgemed.service" "$units/edgemed.service"
  install -m 0644 "$from/devices/$device/edgemed.conf" "$units/edgemed.service.d/10-device.conf"
  {
    echo "# Written by install.sh from /etc/edgemed/appsettings.json; re-run install.sh after changing EdgeMed:Share."
    echo "[Service]"
    [ "$user" = edgemed ] || printf 'User=%s\nGroup=%s\n' "$user" "$(group)"
    if getent group gpio >/dev/null && [ "$device" != pc ]; then printf 'SupplementaryGroups=gpio\nDeviceAllow=char-gpiochip rw\n'; fi
    # Moving refused files out of the share needs write access; "-": a share that is not mounted yet is no error.
    [ -z "$share" ] || printf 'ReadWritePaths=-%s\n' "$share"
    # A FHIR server or a PACS among EdgeMed:Destinations needs the network the unit otherwise denies (IPv4/IPv6
    # sockets, and storescu, which inherits them). Restrict it further by address in a drop-in of your own.
    if printf '%s' "$destinations" | grep -Eq '"Kind": "(fhir|dicom)"'; then
      printf 'PrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\nIPAddressDeny=\n'
    fi
  } > "$units/edgemed.service.d/20-site.conf"
  chmod 0644 "$units/edgemed.service.d/20-site.conf"
  service daemon-reload
}

if [ "$rollback" -eq 1 ]; then
  [ -f "$prefix/previous" ] || die "nothing to roll back to: ${prefix#"$root"}/previous is missing"
  previous="$(cat "$prefix/previous")" current="$(readlink "$prefix/current")"
  [ -d "$prefix/$previous" ] || die "the previous version ${previous} is no longer in ${prefix#"$root"}"
  device="$(cat "$etc/device")"
  service stop edgemed.service || true
  write_unit "$previous"
  switch_to "$previous"
  echo "$current" > "$prefix/previous"
  say "rolled back from $current to $previous; configuration and database untouched (backup from the upgrade: ${state#"$root"}/backups/$previous)"
  start_and_wait || die "$previous did not report READY; see journalctl -u edgemed"
  exit 0
fi

# The release: its version and architecture, checked against this machine.
[ -f "$here/VERSION" ] && [ -d "$here/app" ] || die "run install.sh from an unpacked release (VERSION and app/ beside it)"
version="$(sed -n 's/^version=//p' "$here/VERSION")" rid="$(sed -n 's/^rid=//p' "$here/VERSION")"
case "$(uname -m)" in aarch64|arm64) machine=linux-arm64 ;; x86_64|amd64) machine=linux-x64 ;; *) machine="$(uname -m)" ;; esac
[ "$rid" = "$machine" ] || die "this release is for $rid, this machine is $machine: use edgemed-$version-$machine.tar.gz"
[ -n "$device" ] || device="$(cat "$etc/device" 2>/dev/null || true)"
[ -n "$device" ] || die "--device raspberrypi, jetson or pc is needed on the first install"
[ -d "$here/devices/$device" ] || die "unknown device '$device' (raspberrypi, jetson or pc)"

# Distribution packages the agent loads: GDCM's glue (DICOM pixels), libjpeg-turbo, libgpiod (status lights), and
# DCMTK (storescu sends SRs to a PACS; storescp is the DICOM network intake).
if [ -z "$root" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgdcm-cil libturbojpeg0 libgpiod2 dcmtk >/dev/null
fi

if ! id "$user" >/dev/null 2>&1; then
  [ -z "$root" ] || die "user '$user' does not exist (--root installs create no users; pass --user)"
  useradd --system --home-dir /var/lib/edgemed --no-create-home --shell /usr/sbin/nologin "$user"
  say "created system user $user"
fi
if getent group gpio >/dev/null && [ "$device" != pc ] && [ -z "$root" ]; then usermod -aG gpio "$user"; fi

# The release, beside the versions already installed.
install -d -m 0755 "$prefix"
target="$prefix/$version"
if [ ! -f "$target/VERSION" ] || ! cmp -s "$target/VERSION" "$here/VERSION"; then
  rm -rf "$target.partial"
  cp -a "$here/." "$target.partial"
  glue=/usr/lib/cli/gdcm-sharp-3.0/libgdcmsharpglue.so
  if [ -f "$glue" ]; then cp "$glue" "$target.partial/app/"; else say "warning: $glue missing: DICOM pixels cannot be decoded until libgdcm-cil is installed"; fi
  [ "$(id -u)" -ne 0 ] || chown -R 0:0 "$target.partial"
  chmod -R u=rwX,go=rX "$target.partial"
  rm -rf "$target"
  mv -T "$target.partial" "$target"
fi

# Settings: the device template only when there is none; readable by the service, not by other users.
install -d -m 0750 "${root_owner[@]}" -g "$(group)" "$etc"
echo "$device" > "$etc/device"
if [ ! -f "$etc/appsettings.json" ]; then
  install -m 0640 "${root_owner[@]}" -g "$(group)" "$here/devices/$device/appsettings.json" "$etc/appsettings.json"
  say "wrote ${etc#"$root"}/appsettings.json from the $device template: set EdgeMed:Share and EdgeMed:Dicom:PatientKeySalt"
fi

# State: the bundled model packages, where the service looks for packages; one already there is kept.
install -d -m 0700 -o "$user" -g "$(group)" "$state" "$state/models"
for package in "$target"/models/*/; do
  [ -f "$package/manifest.json" ] || continue
  name="$(basename "$package")"
  [ -e "$state/models/$name" ] || { cp -a "$package" "$state/models/$name"; chown -R "$user:$(group)" "$state/models/$name"; }
done

write_unit "$version"
service enable edgemed.service

# Switch: first install, re-run of the same version, or upgrade with automatic rollback.
current="$(readlink "$prefix/current" 2>/dev/null || true)"
if [ "$current" = "$version" ]; then
  say "$version is already the current version; settings and unit re-applied"
  [ -z "$systemctl_cmd" ] || [ "$start" -eq 0 ] || timeout "$ready_timeout" "$systemctl_cmd" restart edgemed.service || die "$version did not report READY after the restart; see journalctl -u edgemed"
  exit 0
fi
if [ -z "$current" ]; then
  switch_to "$version"
  say "installed $version for $device"
  # A fresh template still has placeholders (the share, the salt): say what to set instead of starting a service
  # that would refuse to run.
  if ! problem="$(timeout 20 "$target/app/EdgeMed.EdgeAgent" settings --config "$etc/appsettings.json" 2>&1 >/dev/null)"; then
    say "not started yet: ${problem#edgemed agent: }"
    say "edit ${etc#"$root"}/appsettings.json, then run this script again (it starts the service)"
    exit 0
  fi
  start_and_wait || die "$version did not report READY; see journalctl -u edgemed"
  exit 0
fi

service stop edgemed.service || true
backup_database "$current"
switch_to "$version"
echo "$current" > "$prefix/previous"
if start_and_wait; then
  say "upgraded $current -> $version (roll back with: sudo /opt/edgemed/current/install.sh --rollback)"
  exit 0
fi
say "$version did not report READY within ${ready_timeout} s: rolling back to $current"
service stop edgemed.service || true
write_unit "$current"
switch_to "$current"
rm -f "$prefix/previous"
restore_database "$current"
# The version that ran before gets the unit's own start timeout (capped), not the new one's READY deadline.
start=1 start_and_wait 300 || die "the previous version $current did not start either; see journalctl -u edgemed"
say "rolled back to $current; $version stays in ${prefix#"$root"}/$version for inspection"
exit 1
