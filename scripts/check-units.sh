#!/usr/bin/env bash
# Checks the systemd units in packaging/systemd/ with `systemd-analyze verify` (and the
# sysusers.d file with systemd-sysusers in a scratch root). Usage:
#   scripts/check-units.sh PATH/TO/BUILT/taskledger
# verify refuses an ExecStart= whose binary does not exist, so the units are checked from a
# copy whose /usr/bin/taskledger is the built binary; nothing else is changed. verify exits 0
# on some warnings (an unknown key, a bad value it ignores), so any line it prints about our
# units fails the check, not only its exit code.
set -euo pipefail

if [[ $# -ne 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH/TO/BUILT/taskledger (an executable)" >&2
  exit 2
fi
# 77: ctest's "skipped" (SKIP_RETURN_CODE), so a machine without systemd says so.
for tool in systemd-analyze systemd-sysusers; do
  if ! command -v "$tool" >/dev/null; then
    echo "check-units.sh: $tool is not installed (apt-get install systemd); not checked" >&2
    exit 77
  fi
done
binary=$(realpath "$1")
units_dir="$(cd "$(dirname "$0")/.." && pwd)/packaging/systemd"
scratch=$(mktemp -d -t taskledger-units.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

cp "$units_dir"/taskledger.socket "$units_dir"/taskledger.service "$units_dir"/taskledger-worker@.service "$scratch"/
sed -i "s|/usr/bin/taskledger|$binary|g" "$scratch"/*.service
grep -q "$binary" "$scratch/taskledger.service" "$scratch/taskledger-worker@.service"

cd "$scratch"
status=0
# The template, and an instance of it (its %i filled in).
output=$(systemd-analyze verify --man=no ./taskledger.socket ./taskledger.service ./taskledger-worker@.service \
         ./taskledger-worker@example.service 2>&1) || status=$?
about_ours=$(grep -i "taskledger" <<<"$output" || true)
other=$(grep -v -i "taskledger" <<<"$output" || true)
[[ -n "$other" ]] && printf 'systemd-analyze, not about our units:\n%s\n' "$other"
if [[ $status -ne 0 || -n "$about_ours" ]]; then
  printf 'systemd-analyze verify (exit %d):\n%s\n' "$status" "$output" >&2
  echo "check-units.sh: the units in packaging/systemd/ do not verify" >&2
  exit 1
fi

# The accounts the units name must be creatable (and the file must parse cleanly).
mkdir -p "$scratch/root/etc"
status=0
sysusers=$(systemd-sysusers --root="$scratch/root" "$units_dir/taskledger.sysusers.conf" 2>&1) || status=$?
# It prints one `Creating ...` line per account; anything else is a complaint.
complaints=$(grep -v '^Creating ' <<<"$sysusers" || true)
if [[ $status -ne 0 || -n "$complaints" ]] ||
   ! grep -q '^taskledger-clients:.*:taskledger-worker$' "$scratch/root/etc/group" ||
   ! grep -q '^taskledger-worker:' "$scratch/root/etc/passwd"; then
  printf 'systemd-sysusers (exit %d):\n%s\n' "$status" "$sysusers" >&2
  echo "check-units.sh: packaging/systemd/taskledger.sysusers.conf does not create the accounts the units name" >&2
  exit 1
fi
echo "check-units.sh: taskledger.socket, taskledger.service, taskledger-worker@.service and the sysusers file verify"
