#!/usr/bin/env bash
# The bash completion (packaging/bash-completion/taskledger) against a built binary: verbs,
# a verb's flags, a global flag's values, files, and the command after `--`.
# Usage: completion_test.sh SOURCE_DIR BINARY
set -euo pipefail
source_dir=$(cd "$1" && pwd)
bin_dir=$(cd "$(dirname "$2")" && pwd)
PATH=$bin_dir:$PATH
# shellcheck source=/dev/null
source "$source_dir/packaging/bash-completion/taskledger"
failures=0
expect() {  # expect "WANTED WORDS" WORD... : completing the last word offers exactly these
  local wanted=$1
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _taskledger
  local got="${COMPREPLY[*]}"
  if [ "$got" != "$wanted" ]; then
    echo "FAIL: [$*] offered '$got', want '$wanted'" >&2
    failures=$((failures + 1))
  fi
}
cd "$(mktemp -d)"
trap 'rm -rf "$PWD"' EXIT
mkdir ledger.db
expect "create" taskledger cr
expect "claim" taskledger --db x.db cl
expect "cancel" taskledger --json can
expect "--title" taskledger create --ti
expect "--concurrency" taskledger worker --conc
expect "--json" taskledger --js
expect "warn" taskledger --log-level wa
expect "json" taskledger --log-format j
expect "ledger.db" taskledger --db led
expect "" taskledger create --queue de    # a queue name: nothing to guess
expect "taskledger" taskledger run --next -- taskledg   # commands on PATH
[ "$failures" = 0 ] && echo "completion_test: ok"
