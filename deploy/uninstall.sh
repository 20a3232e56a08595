#!/usr/bin/env bash
# Removes the EdgeMed service and its installed versions. The settings (/etc/edgemed) and the data (/var/lib/edgemed:
# database, quarantined files, model packages) stay unless --purge is given.
#   sudo ./uninstall.sh [--purge] [--root DIR]
set -euo pipefail
say() { printf 'edgemed uninstall: %s\n' "$*"; }
root="" purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    --root) root="$(realpath -m "${2:?--root needs a folder}")"; shift 2 ;;
    *) echo "edgemed uninstall: unknown option '$1' (--purge, --root)" >&2; exit 2 ;;
  esac
done
[ -n "$root" ] || [ "$(id -u)" -eq 0 ] || { echo "edgemed uninstall: run as root" >&2; exit 2; }
systemctl_cmd="${EDGEMED_SYSTEMCTL:-}"
[ -z "$systemctl_cmd" ] && [ -z "$root" ] && [ -d /run/systemd/system ] && systemctl_cmd=systemctl
service() { [ -z "$systemctl_cmd" ] || "$systemctl_cmd" "$@"; }

service stop edgemed.service || true
service disable edgemed.service || true
rm -rf "$root/etc/systemd/system/edgemed.service" "$root/etc/systemd/system/edgemed.service.d" "$root/opt/edgemed"
service daemon-reload || true
if [ "$purge" -eq 1 ]; then
  rm -rf "$root/etc/edgemed" "$root/var/lib/edgemed"
  [ -n "$root" ] || ! id edgemed >/dev/null 2>&1 || userdel edgemed
  say "removed the service, its versions, settings and data"
else
  say "removed the service and its versions; kept ${root}/etc/edgemed and ${root}/var/lib/edgemed (--purge removes them)"
fi
