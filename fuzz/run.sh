#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ (cargo-afl), one target at a time (docs/testing.md).
#
#   fuzz/run.sh build                 install cargo-afl if missing, build every target
#   fuzz/run.sh TARGET SECONDS        fuzz TARGET for SECONDS of fuzzing time
#   fuzz/run.sh TARGET --execs N      fuzz TARGET until about N executions
#
# TARGET is one of: usersig query body event fold cursor. Seeds come from fuzz/corpus/TARGET,
# findings go to target/fuzz-out/TARGET (crashes/ and hangs/, with a copy of fuzzer_stats).
# One afl-fuzz process, at nice 19 (NICE=0 to change), not bound to a core. Exits non-zero if
# the run saved a crash or a hang. Environment: CALLREC_FUZZ_TARGET_DIR (the instrumented build;
# default ~/.cache/callrec-fuzz/target-o<level>, shared by checkouts and CI runs on one machine),
# AFL_OPT_LEVEL (cargo afl's, default 3), RESUME=1 (continue the previous run).
set -euo pipefail
cd "$(dirname "$0")/.."

AFL_VERSION=0.18.2
TARGETS=(usersig query body event fold cursor)
# One build directory per optimization level: cargo would rebuild everything on each switch.
export CARGO_TARGET_DIR="${CALLREC_FUZZ_TARGET_DIR:-$HOME/.cache/callrec-fuzz/target-o${AFL_OPT_LEVEL:-3}}"
NICE="${NICE:-19}"

# cargo-afl builds AFL++ (bundled with the crate) when it is installed: only make and a C
# compiler are needed, which Debian's build-essential brings.
install_afl() {
  if ! command -v make >/dev/null || ! command -v cc >/dev/null; then
    apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
  fi
  if [[ "$(cargo afl --version 2>/dev/null)" != "cargo-afl $AFL_VERSION "* ]]; then
    echo "== cargo install cargo-afl $AFL_VERSION"
    cargo install --locked --force cargo-afl --version "$AFL_VERSION"
  fi
  # AFL++ is built per Rust toolchain.
  local help
  help=$(cargo afl fuzz -h 2>&1 || true)
  if [[ "$help" == *"was not built"* ]]; then
    cargo afl config --build
  fi
}

build() {
  install_afl
  nice -n "$NICE" cargo afl build --profile fuzz --locked -p callrec-fuzz --features afl \
    $(printf -- '--bin %s ' "${TARGETS[@]}")
}

if [[ "${1:-}" == build ]]; then
  build
  exit 0
fi

target="${1:?usage: fuzz/run.sh build | TARGET SECONDS | TARGET --execs N}"
[[ " ${TARGETS[*]} " == *" $target "* ]] || { echo "unknown target $target (${TARGETS[*]})" >&2; exit 2; }
case "${2:-}" in
  --execs) limit=(-E "${3:?--execs needs a number}") ;;
  '' ) echo "give SECONDS or --execs N" >&2; exit 2 ;;
  *) limit=(-V "$2") ;;
esac

build
out="target/fuzz-out/$target"
input=(-i "fuzz/corpus/$target")
if [[ "${RESUME:-0}" == 1 && -d "$out/default" ]]; then
  input=(-i -)
else
  rm -rf "$out"
fi
mkdir -p "$out"
dict=()
[[ -f "fuzz/dict/$target.dict" ]] && dict=(-x "fuzz/dict/$target.dict")
# Longest input AFL++ makes: room for every structure a target reads, but no megabyte inputs,
# which make every execution (and trimming) slow without reaching anything new.
case "$target" in
  fold) max_len=512 ;;
  cursor) max_len=1024 ;;
  body) max_len=8192 ;;
  *) max_len=4096 ;;
esac

# No UI (its output goes to afl.log); no core binding, so another fuzzer or a build keeps the
# other core; a 1 s hang limit, so a loaded machine does not count slow runs as hangs.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  AFL_FAST_CAL=1
started=$(date +%s)
set +e
nice -n "$NICE" cargo afl fuzz "${input[@]}" -o "$out" "${limit[@]}" "${dict[@]}" -t 1000 \
  -G "$max_len" -- "$CARGO_TARGET_DIR/fuzz/$target" >"$out/afl.log" 2>&1
status=$?
set -e
stats="$out/default/fuzzer_stats"
if [[ ! -f "$stats" ]]; then
  tail -n 30 "$out/afl.log" >&2
  echo "$target: afl-fuzz exited with status $status before fuzzing" >&2
  exit 1
fi
cp "$stats" "$out/fuzzer_stats"
stat() { sed -n "s/^$1 *: //p" "$stats"; }
crashes=$(stat saved_crashes)
hangs=$(stat saved_hangs)
printf '%s: %s execs in %ss (%s exec/s, wall %ss), corpus %s, crashes %s, hangs %s\n' \
  "$target" "$(stat execs_done)" "$(stat run_time)" "$(stat execs_per_sec)" \
  "$(($(date +%s) - started))" "$(stat corpus_count)" "$crashes" "$hangs"
if [[ "$crashes" != 0 || "$hangs" != 0 ]]; then
  echo "$target: findings in $out/default/crashes and $out/default/hangs" >&2
  exit 1
fi
