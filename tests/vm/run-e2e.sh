#!/bin/bash
# End-to-end test of a PPTP server against the real Linux client (pptp-linux +
# pppd) in a QEMU VM.  See README.md.
#
#   run-e2e.sh SERVER_BINARY [--backend tun|raw] [options]   our daemon (both backends by default)
#   run-e2e.sh pptpd [options]                               PoPToP pptpd, the reference
#
# Prints "PASS name: ..." / "FAIL name: ..." per check and per run, then
# "e2e: N passed, M failed"; exits 1 if anything failed.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/out"

usage() {
    cat <<'EOF'
usage: run-e2e.sh SERVER_BINARY|pptpd [options]
  SERVER_BINARY     x86_64 Linux server binary, started in the VM as
                    SERVER --fg -c /etc/pptpd.conf (one run per backend)
  pptpd             PoPToP pptpd from Debian: pptpd --fg -c /etc/pptpd.conf
options:
  --backend tun|raw   only this backend (default: tun, then raw; not for pptpd)
  --conf LINE         append LINE to the generated /etc/pptpd.conf (repeatable)
  --iperf SECS        iperf3 seconds per direction (default 30)
  --mem MB            VM memory (default 384)
  --outdir DIR        logs (default out/runs/<time>-<server>)
  --accel tcg|kvm     default: KVM when usable, TCG otherwise
EOF
}
die() { echo "[e2e] ERROR: $*" >&2; exit 2; }
. "$HERE/vmlib.sh"

[ $# -ge 1 ] || { usage; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
SERVER="$1"; shift
BACKENDS=(); CONF_EXTRA=(); IPERF=30; MEM=384; OUTDIR=""; ACCEL=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) [ $# -ge 2 ] || die "--backend needs a value"
                   case "$2" in tun|raw) BACKENDS=("$2") ;; *) die "--backend tun|raw" ;; esac; shift 2 ;;
        --conf) [ $# -ge 2 ] || die "--conf needs a value"; CONF_EXTRA+=("$2"); shift 2 ;;
        --iperf) [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 300 ] || die "--iperf 1..300"
                 IPERF="$2"; shift 2 ;;
        --mem) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--mem MB"; MEM="$2"; shift 2 ;;
        --outdir) [ $# -ge 2 ] || die "--outdir needs a value"; OUTDIR="$2"; shift 2 ;;
        --accel) case "${2:-}" in tcg|kvm|auto) ACCEL="$2" ;; *) die "--accel tcg|kvm" ;; esac; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

if [ "$SERVER" = pptpd ]; then
    [ ${#BACKENDS[@]} = 0 ] || die "--backend is for our server; pptpd has its own data path"
    KIND=pptpd; NAME=pptpd; RUNS=(pptpd)
else
    [ -f "$SERVER" ] || die "$SERVER: no such file (or say 'pptpd')"
    check_binary "$SERVER"
    KIND=binary; NAME="$(basename "$SERVER")"
    [ ${#BACKENDS[@]} -gt 0 ] || BACKENDS=(tun raw)
    RUNS=("${BACKENDS[@]}")
fi

"$HERE/build.sh"

[ -n "$OUTDIR" ] || OUTDIR="$OUT/runs/$(date +%Y%m%d-%H%M%S)-$NAME-$$"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
STAGE="$(mktemp -d /tmp/smolpptp-e2e.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT

pick_accel "$ACCEL"
VM_TIMEOUT=$((2 * IPERF + 150))          # the scenario's own limit inside the VM

# pptpd.conf for one run: what a pptpd user has, plus our keywords
write_conf() {  # $1 = run label (pptpd | tun | raw)
    {
        echo "# /etc/pptpd.conf written by tests/vm/run-e2e.sh ($1)"
        echo "option /etc/ppp/options.pptpd"
        echo "listen 198.51.100.1"
        echo "localip 10.9.0.1"
        echo "remoteip 10.9.0.2-31"
        if [ "$1" != pptpd ]; then
            # what README tells a pptpd user moving over: the daemon opens
            # TCP 1723 and GRE to itself (DNAT to smoltcp for tun; for raw,
            # the kernel must not answer on the shared address)
            echo "firewall on"
            echo "backend $1"
            [ "$1" = raw ] && echo "interface veth-srv"
        fi
        for l in "${CONF_EXTRA[@]}"; do echo "$l"; done
    }
}

TOTAL_PASS=0; TOTAL_FAIL=0; SUMMARY=()
T_ALL=$(date +%s)
for run in "${RUNS[@]}"; do
    dir="$OUTDIR/$run"
    mkdir -p "$dir"
    rm -rf "$STAGE/root"; mkdir -p "$STAGE/root/etc" "$STAGE/root/e2e"
    write_conf "$run" > "$STAGE/root/etc/pptpd.conf"
    cp "$STAGE/root/etc/pptpd.conf" "$dir/pptpd.conf"
    {
        echo "SERVER_KIND=$KIND"
        echo "SERVER_NAME='$NAME'"
        echo "BACKEND=$([ "$run" = pptpd ] || echo "$run")"
        echo "IPERF_SECS=$IPERF"
        echo "E2E_TIMEOUT=$VM_TIMEOUT"
    } > "$STAGE/root/e2e/env"
    [ "$KIND" = binary ] && install -m 0755 "$SERVER" "$STAGE/root/e2e/server"
    label="$NAME"; [ "$run" = pptpd ] || label="$NAME, backend $run"
    echo "[e2e] ==== $label: VM ($ACCEL, $MEM MiB), logs in $dir" >&2
    t0=$(date +%s)
    vm_boot "$STAGE/root" "$dir" "$VM_TIMEOUT" "$MEM" || true
    secs=$(( $(date +%s) - t0 ))
    np=$(grep -c '^PASS ' "$dir/console.log" || true)
    nf=$(grep -c '^FAIL ' "$dir/console.log" || true)
    if ! grep -q '^E2E_EXIT=' "$dir/console.log"; then
        nf=$((nf + 1)); echo "FAIL vm_finished: no E2E_EXIT line (VM crashed or timed out)" >> "$dir/console.log"
    fi
    TOTAL_PASS=$((TOTAL_PASS + np)); TOTAL_FAIL=$((TOTAL_FAIL + nf))
    while IFS= read -r l; do SUMMARY+=("[$run] $l"); done < <(grep -E '^(PASS|FAIL|INFO) ' "$dir/console.log")
    SUMMARY+=("[$run] $np passed, $nf failed in ${secs} s")
done

echo
echo "==== e2e summary: $NAME ($ACCEL, $(( $(date +%s) - T_ALL )) s, logs in $OUTDIR)"
printf '%s\n' "${SUMMARY[@]}"
echo "e2e: $TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" = 0 ]
