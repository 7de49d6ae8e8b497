#!/usr/bin/env bash
# Installs what taskledger needs to build and test on Debian 12 (all Debian packages).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  librocksdb-dev capnproto libcapnp-dev libspdlog-dev libfmt-dev \
  libgtest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev \
  procps >/dev/null
echo "install-deps: done"
