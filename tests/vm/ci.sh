#!/bin/bash
# CI entry of the end-to-end test: build the static daemon, build (or reuse)
# the test VM, run the real Linux client (pptp-linux + pppd) against
# smolpptpd with backend tun and backend raw, 30 s of iperf3 each way.
# Prints one PASS/FAIL line per check and per backend, then
# "N passed, M failed"; exits 1 when anything failed.  Needs root and
# Debian's apt (build.sh installs qemu-system-x86, cpio, kmod when missing).
#
# Env: E2E_IPERF=SECS (default 30, what the issue asks for)
#      E2E_PARALLEL=0|1 (default: 1 when the machine has 4 or more CPUs: the
#      two backends' VMs then run at the same time)
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TARGET=x86_64-unknown-linux-musl
BIN="$REPO/target/$TARGET/release/smolpptpd"
IPERF="${E2E_IPERF:-30}"
PARALLEL="${E2E_PARALLEL:-$([ "$(nproc)" -ge 4 ] && echo 1 || echo 0)}"
RUNDIR="$HERE/out/ci/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$RUNDIR"
PASS=0; FAIL=0
T0=$(date +%s)
say() { echo "[ci] $*"; }
result() {  # result PASS|FAIL name detail
    echo "$1 $2: $3"
    if [ "$1" = PASS ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); fi
}
finish() {
    say "total $(( $(date +%s) - T0 )) s, logs in $RUNDIR"
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]; exit
}

# ---------------------------------------------------------------- the binary
say "building smolpptpd for $TARGET"
t=$(date +%s)
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET" >/dev/null 2>&1
if (cd "$REPO" && cargo build --release --locked --target "$TARGET" --bin smolpptpd) > "$RUNDIR/cargo.log" 2>&1; then
    result PASS build_musl "$(du -k "$BIN" | cut -f1) KiB static binary in $(( $(date +%s) - t )) s"
else
    tail -n 30 "$RUNDIR/cargo.log"
    result FAIL build_musl "cargo build --release --target $TARGET failed"; finish
fi

# ---------------------------------------------------------------- the VM
say "building the test VM (cached in tests/vm/cache and tests/vm/out)"
t=$(date +%s)
if "$HERE/build.sh" > "$RUNDIR/vm-build.log" 2>&1; then
    result PASS build_vm "$(tail -n 1 "$RUNDIR/vm-build.log" | sed 's/^\[vm-build\] //') in $(( $(date +%s) - t )) s"
else
    tail -n 30 "$RUNDIR/vm-build.log"
    result FAIL build_vm "tests/vm/build.sh failed"; finish
fi

# ---------------------------------------------------------------- the runs
run_backend() {  # run_backend tun|raw: run-e2e.sh's output to RUNDIR/BACKEND.log
    "$HERE/run-e2e.sh" "$BIN" --backend "$1" --iperf "$IPERF" --outdir "$RUNDIR/e2e" \
        > "$RUNDIR/$1.log" 2>&1
}
if [ "$PARALLEL" = 1 ]; then
    say "backends tun and raw at the same time, iperf3 ${IPERF} s each way"
    run_backend tun & p1=$!
    run_backend raw & p2=$!
    wait $p1; wait $p2
else
    for b in tun raw; do say "backend $b, iperf3 ${IPERF} s each way"; run_backend $b; done
fi
for b in tun raw; do
    log="$RUNDIR/$b.log"
    # run-e2e.sh's summary: "[b] PASS name: ...", "[b] FAIL ...", "[b] INFO ..."
    found=0
    while IFS= read -r l; do
        found=1
        case "$l" in
            "[$b] PASS "*) rest="${l#"[$b] PASS "}"; result PASS "$b/${rest%%:*}" "${rest#*: }" ;;
            "[$b] FAIL "*) rest="${l#"[$b] FAIL "}"; result FAIL "$b/${rest%%:*}" "${rest#*: }" ;;
            "[$b] INFO "*) echo "INFO $b/${l#"[$b] INFO "}" ;;
        esac
    done < <(grep -E "^\[$b\] (PASS|FAIL|INFO) " "$log")
    [ $found = 1 ] || { tail -n 20 "$log"; result FAIL "$b/run" "run-e2e.sh printed no check (see $log)"; }
    if grep -q "^\[$b\] FAIL " "$log"; then
        say "backend $b: the VM's console, from the first failure on (all of it in $RUNDIR/e2e/$b/console.log):"
        sed -n '/^FAIL /,$p' "$RUNDIR/e2e/$b/console.log" | head -n 80 | sed 's/^/    /'
    fi
done
finish
