#!/usr/bin/env bash
# Bounded fuzzing of every cargo-fuzz target in fuzz/ (see fuzz/checks/ for what each
# checks). Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60, or $FUZZ_SECONDS)
#
# Installs the nightly toolchain and cargo-fuzz if missing, builds the targets (release,
# debug assertions and overflow checks on, no sanitizer: the code under test is safe Rust,
# where an out-of-bounds access is already a panic), then runs each one for the given
# time on its corpus (fuzz/corpus/<target>, not committed) seeded from fuzz/seeds/<target>
# and fuzz/regressions/<target>. Any crash, timeout or out-of-memory input is copied to
# fuzz/regressions/<target>/ (commit it: tests/fuzz_regressions.rs replays it under
# `cargo test`) and the script exits non-zero. FUZZ_TARGETS="a b" runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-60}}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# A small board: fewer sockets and smaller buffers make a fresh Server per input cheap
# (several times more executions per second), and tables fill up sooner, which is where
# the edge cases are. Any limits must pass, so export your own to override these.
export SMOLPPTP_MAX_SESSIONS="${SMOLPPTP_MAX_SESSIONS:-4}"
export SMOLPPTP_MAX_CONTROL_CONNECTIONS="${SMOLPPTP_MAX_CONTROL_CONNECTIONS:-6}"
export SMOLPPTP_GRE_RX_PACKETS="${SMOLPPTP_GRE_RX_PACKETS:-16}"
export SMOLPPTP_GRE_RX_BUFFER="${SMOLPPTP_GRE_RX_BUFFER:-16384}"
export SMOLPPTP_GRE_TX_PACKETS="${SMOLPPTP_GRE_TX_PACKETS:-16}"
export SMOLPPTP_GRE_TX_BUFFER="${SMOLPPTP_GRE_TX_BUFFER:-16384}"

# -O release, -a debug assertions (with overflow checks), -s none: no sanitizer.
flags=(-O -a -s none)
cd fuzz
cargo "+$toolchain" fuzz build "${flags[@]}"

failed=()
summary=()
for target in ${FUZZ_TARGETS:-$(cargo "+$toolchain" fuzz list)}; do
  corpus="corpus/$target"
  artifacts="artifacts/$target"
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  inputs=("$corpus")
  for extra in "seeds/$target" "regressions/$target"; do
    [ -d "$extra" ] && inputs+=("$extra")
  done
  log="artifacts/$target.log"
  echo "=== $target: ${seconds}s"
  status=0
  # The outer timeout only guards against a hang of libFuzzer itself.
  timeout $((seconds + 300)) cargo "+$toolchain" fuzz run "${flags[@]}" "$target" "${inputs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=0
  for crash in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/leak-*; do
    [ -e "$crash" ] || continue
    mkdir -p "regressions/$target"
    cp "$crash" "regressions/$target/"
    found=$((found + 1))
  done
  if [ "$status" != 0 ] || [ "$found" != 0 ]; then
    failed+=("$target")
    grep -E -A30 'panicked|ERROR: libFuzzer|deadly signal' "$log" | head -60 || tail -40 "$log"
    echo "$target FAILED (exit $status); inputs copied to fuzz/regressions/$target/"
  fi
  summary+=("$(printf '%-20s %4ss %12s execs %8s exec/s  %s' "$target" "$seconds" "${execs:-?}" "${rate:-?}" \
    "$([ "$status" = 0 ] && [ "$found" = 0 ] && echo ok || echo FAILED)")")
done

echo
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} != 0 ]; then
  echo "crashes in: ${failed[*]} (see fuzz/regressions/, fuzz/artifacts/*.log)"
  exit 1
fi
