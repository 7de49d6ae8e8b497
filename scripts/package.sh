#!/usr/bin/env bash
# Builds the Debian packages with CPack and checks them with lintian:
#   taskledger      the binary, man page, bash completion, systemd units, docs
#   taskledger-dev  static libraries, headers, schemas, CMake package, pkg-config file
# Usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--no-build]
#   default: a Release build in build-release/, the .deb files in dist/
#   --no-build: package what DIR already holds (the test suite packages its own build)
# Needs what scripts/install-deps.sh installs (help2man, lintian, dpkg-dev, file).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build-release
out=dist
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "package.sh: unknown argument '$1' (usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--no-build])" >&2; exit 2 ;;
  esac
done
for tool in cpack dpkg-buildflags dpkg-shlibdeps lintian help2man; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool not found (run scripts/install-deps.sh)" >&2; exit 1; }
done

if [ "$build" = 1 ]; then
  # Debian's hardening flags, as dpkg-buildpackage would set them (all of them: PIE,
  # fortify, stack protector, relro and bind-now). CMake reads CXXFLAGS and LDFLAGS when
  # a build folder is first configured; it has no CPPFLAGS, so those join CXXFLAGS.
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  export CXXFLAGS="$CPPFLAGS $CXXFLAGS" CFLAGS="$CPPFLAGS $CFLAGS"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  # Only what the packages hold: not the benchmarks.
  cmake --build "$build_dir" -j "$(nproc)" --target taskledger taskledger_man_page taskledger_debian_changelog
fi
[ -f "$build_dir/CPackConfig.cmake" ] || { echo "package.sh: $build_dir is not a configured build" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/taskledger*.deb
cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$out" >/dev/null
rm -rf "$out/_CPack_Packages"
# Warnings fail too; the overrides, each with its reason, are in packaging/debian/lintian.
lintian --fail-on error,warning --profile debian --suppress-tags-from-file packaging/debian/lintian-suppressed \
  "$out"/taskledger*.deb
ls "$out"/taskledger*.deb
