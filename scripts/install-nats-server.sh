#!/usr/bin/env bash
# Installs the NATS server the cluster tests and the scale-out benchmark run against:
# Debian trixie's nats-server (2.10.27 when this was written), unpacked into
# /opt/taskledger-nats.
#
# Why not bookworm's 2.9.10: under R3 replication it lets two clients that race to write
# the same subject with the same expected last subject sequence both win, which the
# writer leases rely on (docs/scale-out.md "Which NATS server"; the suite's check is
# tests/cluster/jetstream_cluster_test.cc, OfTwoStandbysRacingForAPartitionExactlyOneTakesIt).
# Trixie's package is linked against libc only (GLIBC_2.34; bookworm has 2.36), so it runs
# here as unpacked, without replacing anything the system's apt knows about. apt fetches it
# through a private list with the archive's signed index, so the package is verified.
#
# The version pinned below is taken if trixie still has it; otherwise trixie's current
# one, if it is a 2.10 or later (the suite's race tests then say whether it keeps the
# guarantees).
set -euo pipefail
PINNED=2.10.27-1+b2
DEST=/opt/taskledger-nats
version_ok() {  # a 2.10 or later
  local v
  v=$("$1" --version 2>/dev/null) || return 1
  [[ $v =~ v2\.(1[0-9]|[2-9][0-9])\. || $v =~ v[3-9]\. ]]
}
if [ -x "$DEST/nats-server" ] && version_ok "$DEST/nats-server"; then
  echo "install-nats-server: $("$DEST/nats-server" --version) already in $DEST"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
mkdir -p "$S/lists/partial" "$S/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  >"$S/sources.list"
A=(-o "Dir::Etc::sourcelist=$S/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$S/lists"
   -o "Dir::Cache=$S/cache" -o APT::Sandbox::User=root)
apt-get "${A[@]}" update -qq
if ! (cd "$S" && apt-get "${A[@]}" download -qq "nats-server=$PINNED" 2>/dev/null); then
  echo "install-nats-server: trixie no longer has $PINNED; taking its current nats-server" >&2
  (cd "$S" && apt-get "${A[@]}" download -qq nats-server)
fi
dpkg -x "$S"/nats-server_*.deb "$S/root"
if ! version_ok "$S/root/usr/sbin/nats-server"; then
  echo "install-nats-server: trixie's nats-server is older than 2.10: $("$S/root/usr/sbin/nats-server" --version)" >&2
  exit 1
fi
$SUDO install -D -m 0755 "$S/root/usr/sbin/nats-server" "$DEST/nats-server"
echo "install-nats-server: $("$DEST/nats-server" --version) in $DEST"
