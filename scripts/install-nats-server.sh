#!/usr/bin/env bash
# Installs the NATS server the cluster tests and `serve --cluster` run against:
# nats-server 2.10.27 from Debian trixie, unpacked into /opt/nats-server-2.10.27.
#
# Why not bookworm's 2.9.10: under R3 replication it lets two publishers that race with the
# same expected last sequence both succeed (docs/scale-out.md, "Which NATS server";
# tests/cluster/jetstream_fencing_test.cc checks the version used here does not). Trixie's
# package is linked against libc only (GLIBC_2.34, bookworm has 2.36), so it runs here as
# unpacked, without replacing anything the system's apt knows about. apt fetches it from a
# private list with the archive's signed index, so the package is verified as usual.
set -euo pipefail
VERSION=2.10.27-1+b2
DEST=/opt/nats-server-2.10.27
if [ -x "$DEST/nats-server" ] && "$DEST/nats-server" --version | grep -q 'v2.10.27'; then
  echo "install-nats-server: $DEST/nats-server already there"
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
(cd "$S" && apt-get "${A[@]}" download -qq "nats-server=$VERSION")
dpkg -x "$S"/nats-server_*.deb "$S/root"
$SUDO install -D -m 0755 "$S/root/usr/sbin/nats-server" "$DEST/nats-server"
"$DEST/nats-server" --version
