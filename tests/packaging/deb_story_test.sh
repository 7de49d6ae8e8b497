#!/usr/bin/env bash
# The Debian packages of a build (scripts/package.sh --no-build: cpack and lintian,
# warnings failing), extracted into a temporary root with dpkg-deb -x, and the packaged
# binary's own story run from there: create, run a real command under supervision,
# explain, verify; plus what the package must hold (man page, completion, units, docs).
# Usage: deb_story_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$source_dir/scripts/package.sh" --no-build --build-dir "$build_dir" --out "$work/dist"
deb=$(ls "$work"/dist/taskledger_*.deb)
dev_deb=$(ls "$work"/dist/taskledger-dev_*.deb)

root=$work/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -x "$dev_deb" "$root"
for f in usr/bin/taskledger usr/share/man/man1/taskledger.1.gz usr/share/bash-completion/completions/taskledger \
         usr/lib/systemd/system/taskledger.service usr/lib/systemd/system/taskledger.socket \
         usr/lib/systemd/system/taskledger-worker@.service usr/lib/sysusers.d/taskledger.conf \
         usr/share/doc/taskledger/operations.md usr/share/doc/taskledger/copyright \
         usr/include/taskledger/ledger/ledger.h; do
  [ -e "$root/$f" ] || { echo "FAIL: the packages do not hold /$f" >&2; exit 1; }
done
# dpkg-shlibdeps named the libraries the binary links.
dpkg-deb -f "$deb" Depends | grep -q librocksdb || { echo "FAIL: Depends lacks librocksdb" >&2; exit 1; }
# The man page documents every verb (it is made from --help).
for verb in create claim run worker serve verify explain backup; do
  zcat "$root/usr/share/man/man1/taskledger.1.gz" | grep -q "^ *$verb" ||
    { echo "FAIL: the man page lacks the verb $verb" >&2; exit 1; }
done

tl() { "$root/usr/bin/taskledger" --db "$work/ledger" "$@"; }
"$root/usr/bin/taskledger" --version
tl create build --title "Build" >/dev/null
tl create test --title "Test" --after build >/dev/null
tl run --next --worker w1 --ttl 10s -- sh -c 'exit 0'
tl run --next --worker w1 --ttl 10s -- sh -c 'exit 7' && { echo "FAIL: run hid the child's exit 7" >&2; exit 1; } || [ $? = 7 ]
tl explain test | tee "$work/explain.txt"
grep -q "exit code 7\|exited 7\|code 7" "$work/explain.txt" || { echo "FAIL: explain does not tell the exit 7" >&2; exit 1; }
tl verify
echo "deb_story_test: ok"
