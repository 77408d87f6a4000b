#!/usr/bin/env bash
# The CI fuzz smoke (docs/testing.md): builds every target with AFL++ instrumentation, then
# fuzzes each for a few seconds from its committed corpus, 60 s of fuzzing at most in all
# (SMOKE_SECONDS per target, default 8). Every seed runs first, so a finding that was fixed and
# kept in the corpus fails here if it comes back; any crash or hang fails the smoke.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(usersig query body event fold cursor)
seconds="${SMOKE_SECONDS:-8}"
(( seconds * ${#TARGETS[@]} <= 60 )) || { echo "SMOKE_SECONDS=$seconds: over 60 s in all" >&2; exit 2; }
# The same build as the long runs (fuzz/run.sh), so on a machine that ran them only callrec's
# own crates are rebuilt (opt-level 1 would save little: most of the build is not LLVM's time).
export NICE="${NICE:-0}"

fuzz/run.sh build
started=$(date +%s)
failed=0
for t in "${TARGETS[@]}"; do
  timeout $((seconds + 30)) fuzz/run.sh "$t" "$seconds" || failed=1
done
echo "fuzz smoke: ${#TARGETS[@]} targets, $(($(date +%s) - started)) s"
exit "$failed"
