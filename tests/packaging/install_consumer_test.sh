#!/usr/bin/env bash
# cmake --install into a temporary prefix, then a program outside the tree built against
# it twice, with find_package(taskledger CONFIG) and with pkg-config, and run: it opens a
# ledger, creates, claims and completes a task.
# Usage: install_consumer_test.sh BUILD_DIR   (a built taskledger tree)
set -euo pipefail
build_dir=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for f in bin/taskledger include/taskledger/ledger/ledger.h include/taskledger/schemas/event.capnp \
         include/taskledger/schemas/rpc.capnp.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f is not installed" >&2; exit 1; }
done
# The implementation's headers stay private.
if [ -e "$prefix/include/taskledger/ledger/ledger_impl.h" ]; then
  echo "FAIL: a private header (ledger_impl.h) is installed" >&2; exit 1
fi
"$prefix/bin/taskledger" --version

echo "== CMake: find_package(taskledger CONFIG)"
cmake -S "$here/consumer" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer" "$work/ledger-cmake"

echo "== pkg-config"
pc_dir=$(dirname "$(find "$prefix" -name taskledger.pc)")
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs taskledger)
# shellcheck disable=SC2086  # the flags are words
c++ -std=c++20 -o "$work/consumer-pc" "$here/consumer/main.cc" $flags
"$work/consumer-pc" "$work/ledger-pc"

# The ledgers the consumers wrote verify with the installed binary.
"$prefix/bin/taskledger" --db "$work/ledger-cmake" verify
echo "install_consumer_test: ok"
