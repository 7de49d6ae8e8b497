#!/usr/bin/env bash
# Installs what taskledger needs to build and test on Debian 12 (all Debian packages).
set -euo pipefail
# clang-14 and libclang-rt-14-dev: the libFuzzer targets (tests/fuzz/run.sh).
# libsystemd-dev: serve's socket activation and readiness (tools/server/systemd_support).
# help2man, lintian, dpkg-dev, file, systemd: the man page, the Debian packages and their
# check (scripts/package.sh), systemd-analyze for the units (scripts/check-units.sh).
# python3-prometheus-client: the test that parses serve --http's /metrics.
# curl: docs/http.md's examples, run as printed by tests/e2e/http_docs_test.py.
# python3-pytest: the Python client's tests (python/tests, CTest python_client).
# libsqlite3-dev, sqlite3: import-board reads a kanban board's SQLite file (and its tests
# write fixture boards).
# libgoogle-perftools-dev: tcmalloc_minimal, the taskledger binary's allocator (faster per
# command than glibc's malloc; tools/CMakeLists.txt).
# libnats-dev: the NATS JetStream client of the replicated log (ledger/jetstream_log.h); the
# server the cluster tests run is trixie's (scripts/install-nats-server.sh, below).
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  librocksdb-dev capnproto libcapnp-dev libspdlog-dev libfmt-dev \
  libgtest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev \
  libsystemd-dev libsqlite3-dev sqlite3 libgoogle-perftools-dev procps chromium curl \
  help2man lintian dpkg-dev file systemd python3-prometheus-client python3-pytest \
  clang-14 libclang-rt-14-dev libnats-dev >/dev/null
"$(dirname "$0")/install-nats-server.sh"
echo "install-deps: done"
