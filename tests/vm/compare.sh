#!/bin/bash
# Side by side with PoPToP pptpd: one VM boot, the same real client (pptp-linux
# 1.10 + pppd 2.4.9, same options) against pptpd and then against our server
# (backend tun, then raw), with the same pptpd.conf / options.pptpd /
# chap-secrets.  Prints both servers' figures and the ratios ours/pptpd.
#
#   compare.sh SERVER_BINARY [--backend tun|raw] [--iperf SECS] [--sessions N]
#
# See README.md ("Side by side with pptpd") for what each figure means.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/out"
die() { echo "[compare] ERROR: $*" >&2; exit 2; }
. "$HERE/vmlib.sh"

usage() {
    cat <<'EOF2'
usage: compare.sh SERVER_BINARY [options]
  SERVER_BINARY       our x86_64 server (smolpptpd), a static musl build is best
options:
  --backend tun|raw   only this backend of ours (default: tun and raw)
  --iperf SECS        iperf3 seconds per direction (default 10)
  --sessions N        sessions up at once for the memory figure (default 8, 2..20)
  --mem MB            VM memory (default 384)
  --outdir DIR        logs (default out/compare/<time>)
  --accel tcg|kvm     default: KVM when usable, TCG otherwise
  --table-from LOG    only print the table of an earlier run's console.log
                      (give the same --backend/--iperf/--sessions)
EOF2
}

# ---------------------------------------------------------------- the table
# print_table CONSOLE_LOG: the table from the guest's RESULT/ERROR lines;
# status 1 when a server could not be measured
print_table() {
awk -v servers="${SERVERS[*]}" -v secs="$secs" -v iperf="$IPERF" -v nsess="$SESSIONS" -v accel="$ACCEL" '
$1 == "RESULT" { v[$2, $3] = $4 }
$1 == "ERROR" { err = err "  " $0 "\n" }
function num(s, k) { return ((s, k) in v) && v[s, k] != "-" && v[s, k] != "" }
# per-session growth: (with N sessions - idle) / N
# memory per added session: (N sessions - 1 session after its iperf3) / (N - 1),
# so the buffers the traffic of the first session warmed (shared by all) are not
# counted as per-session cost
function per_session(s, what) {
    if (!num(s, "sessions_" what "_kb") || !num(s, "after_iperf_" what "_kb") || v[s, "sessions_up"] + 0 < 2) return "-"
    return (v[s, "sessions_" what "_kb"] - v[s, "after_iperf_" what "_kb"]) / (v[s, "sessions_up"] - 1)
}
function first_session(s, what) {
    if (!num(s, "one_session_" what "_kb") || !num(s, "idle_" what "_kb")) return "-"
    return v[s, "one_session_" what "_kb"] - v[s, "idle_" what "_kb"]
}
function warmed(s) {
    if (!num(s, "after_iperf_rss_kb") || !num(s, "one_session_rss_kb")) return "-"
    return v[s, "after_iperf_rss_kb"] - v[s, "one_session_rss_kb"]
}
function whole_per_session(s) {
    if (!num(s, "sessions_rss_kb") || v[s, "sessions_up"] + 0 < 1) return "-"
    return v[s, "sessions_rss_kb"] / v[s, "sessions_up"]
}
# CPU ms per Mbit carried: ticks * 10 ms / ((c2s + s2c) Mbit/s * iperf s)
function per_mbit(s, ticks) {
    if (!num(s, ticks) || !num(s, "c2s_mbps") || !num(s, "s2c_mbps") || v[s, "c2s_mbps"] + v[s, "s2c_mbps"] == 0) return "-"
    return v[s, ticks] * 10 / ((v[s, "c2s_mbps"] + v[s, "s2c_mbps"]) * iperf)
}
function metric(s, m) {
    if (m == "c2s") return num(s, "c2s_mbps") ? v[s, "c2s_mbps"] : "-"
    if (m == "s2c") return num(s, "s2c_mbps") ? v[s, "s2c_mbps"] : "-"
    if (m == "connect") return num(s, "connect_ms") ? v[s, "connect_ms"] : "-"
    if (m == "wire") return num(s, "wire_span_ms") ? v[s, "wire_span_ms"] : "-"
    if (m == "turn") return num(s, "server_turn_ms") ? v[s, "server_turn_ms"] : "-"
    if (m == "pss") return per_session(s, "pss")
    if (m == "rss") return per_session(s, "rss")
    if (m == "pss1") return first_session(s, "pss")
    if (m == "rss1") return first_session(s, "rss")
    if (m == "whole") return whole_per_session(s)
    if (m == "warm") return warmed(s)
    if (m == "cpumbit") return per_mbit(s, "iperf_cpu_ticks")
    if (m == "vmmbit") return per_mbit(s, "iperf_vm_busy_ticks")
    if (m == "vmbusy") return num(s, "iperf_vm_busy_ticks") && v[s, "iperf_vm_all_ticks"] > 0 ? 100 * v[s, "iperf_vm_busy_ticks"] / v[s, "iperf_vm_all_ticks"] : "-"
    if (m == "idlecpu") return num(s, "idle_cpu_ticks_5s") ? v[s, "idle_cpu_ticks_5s"] / 5 : "-"
    if (m == "idle") return num(s, "idle_rss_kb") ? v[s, "idle_rss_kb"] : "-"
    if (m == "cpu") return num(s, "iperf_cpu_ticks") ? v[s, "iperf_cpu_ticks"] / 100 : "-"
    if (m == "up") return ((s, "sessions_up") in v) ? v[s, "sessions_up"] : "-"
}
function fmt(x) { if (x == "-") return "-"; return (x >= 100 || x == int(x)) ? sprintf("%.0f", x) : sprintf("%.2f", x) }
function ratio(a, b) {
    if (a == "-" || b == "-" || b + 0 == 0) return "-"
    r = a / b
    return r >= 10 ? sprintf("%.1f", r) : (r >= 0.01 || r == 0 ? sprintf("%.3f", r) : sprintf("%.5f", r))
}
# goal: "ge X" or "le X" on the ratio
function verdict(r, goal) {
    if (goal == "" ) return ""
    split(goal, g, " ")
    if (r == "-") return "goal " (g[1] == "ge" ? ">= " : "<= ") g[2] ": not measured"
    ok = (g[1] == "ge") ? (r + 0 >= g[2] + 0) : (r + 0 <= g[2] + 0)
    return "goal " (g[1] == "ge" ? ">= " : "<= ") g[2] ": " (ok ? "met" : "MISSED")
}
END {
    n = split(servers, S, " ")
    nm = split("c2s s2c connect wire turn pss rss pss1 rss1 warm whole idle cpu cpumbit vmbusy vmmbit idlecpu up", M, " ")
    label["c2s"] = "iperf3 client->server, Mbit/s"
    label["s2c"] = "iperf3 server->client, Mbit/s"
    label["connect"] = "connect, pppd start to ip-up, ms"
    label["wire"] = "connect, TCP SYN to ip-up, ms"
    label["turn"] = "connect, server part, ms"
    label["pss"] = "memory per added session, PSS, kB"
    label["rss"] = "memory per added session, RSS, kB"
    label["pss1"] = "memory, first session (connect), PSS, kB"
    label["rss1"] = "memory, first session (connect), RSS, kB"
    label["warm"] = "memory, warmed by iperf3 (shared), RSS, kB"
    label["whole"] = "all server RSS / sessions, kB"
    label["idle"] = "server RSS, idle, kB"
    label["cpu"] = "server CPU during iperf3, s"
    label["cpumbit"] = "server CPU per Mbit carried, ms"
    label["vmbusy"] = "VM CPUs busy during iperf3, %"
    label["vmmbit"] = "whole VM CPU per Mbit carried, ms"
    label["idlecpu"] = "server CPU, sessions up, no traffic, %"
    label["up"] = "sessions up at once"
    goal["c2s"] = "ge 3"; goal["s2c"] = "ge 3"; goal["turn"] = "le 0.5"
    goal["pss"] = "le 0.01"; goal["rss"] = "le 0.01"
    printf "\n==== side by side (%s, iperf3 %d s each way, %d sessions, VM run %d s); ratios: ours / pptpd\n", accel, iperf, nsess, secs
    hdr = sprintf("%-44s", "")
    for (i = 1; i <= n; i++) hdr = hdr sprintf(" %10s", S[i] == "pptpd" ? "pptpd" : "smol-" S[i])
    for (i = 2; i <= n; i++) hdr = hdr sprintf(" %10s", S[i] "/pptpd")
    print hdr
    for (j = 1; j <= nm; j++) {
        m = M[j]; line = sprintf("%-44s", label[m]); vd = ""
        for (i = 1; i <= n; i++) line = line sprintf(" %10s", fmt(metric(S[i], m)))
        for (i = 2; i <= n; i++) {
            r = (m == "up") ? "" : ratio(metric(S[i], m), metric(S[1], m))
            line = line sprintf(" %10s", r)
            if (goal[m] != "") vd = vd (vd == "" ? "" : "; ") S[i] " " verdict(r, goal[m])
        }
        print line (vd == "" ? "" : "   " vd)
    }
    if (err != "") { printf "errors:\n%s", err; bad = 1 }
    exit bad
}' "$1"
}

[ $# -ge 1 ] || { usage; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
SERVER="$1"; shift
BACKENDS=(tun raw); IPERF=10; SESSIONS=8; MEM=384; OUTDIR=""; ACCEL=auto; TABLE_FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) case "${2:-}" in tun|raw) BACKENDS=("$2") ;; *) die "--backend tun|raw" ;; esac; shift 2 ;;
        --iperf) [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 120 ] || die "--iperf 1..120"
                 IPERF="$2"; shift 2 ;;
        --sessions) [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -ge 2 ] && [ "$2" -le 20 ] || die "--sessions 2..20"
                    SESSIONS="$2"; shift 2 ;;
        --mem) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--mem MB"; MEM="$2"; shift 2 ;;
        --outdir) [ $# -ge 2 ] || die "--outdir needs a value"; OUTDIR="$2"; shift 2 ;;
        --accel) case "${2:-}" in tcg|kvm|auto) ACCEL="$2" ;; *) die "--accel tcg|kvm" ;; esac; shift 2 ;;
        --table-from) [ -f "${2:-}" ] || die "--table-from CONSOLE_LOG"; TABLE_FROM="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
SERVERS=(pptpd "${BACKENDS[@]}")
if [ -n "$TABLE_FROM" ]; then   # print the table of an earlier run again, no VM
    secs=0; ACCEL=earlier; print_table "$TABLE_FROM"; exit
fi
check_binary "$SERVER"
"$HERE/build.sh"
pick_accel "$ACCEL"

[ -n "$OUTDIR" ] || OUTDIR="$OUT/compare/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
STAGE="$(mktemp -d /tmp/smolpptp-compare.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT

# per server: boot-free phases of about 2 x iperf + 40 s; generous bound
GUEST_TIMEOUT=$(( ${#SERVERS[@]} * (2 * IPERF + 100) + 30 ))
mkdir -p "$STAGE/root/e2e" "$STAGE/root/etc/compare"
for s in "${SERVERS[@]}"; do
    {
        echo "# written by tests/vm/compare.sh ($s); the same for every server but our own keywords (pptpd ignores them)"
        echo "option /etc/ppp/options.pptpd"
        echo "listen 198.51.100.1"
        echo "localip 10.9.0.1"
        echo "remoteip 10.9.0.2-31"
        case "$s" in
            tun) echo "firewall on"; echo "backend tun" ;;
            raw) echo "firewall on"; echo "backend raw"; echo "interface veth-srv" ;;
        esac
    } > "$STAGE/root/etc/compare/$s.conf"
    cp "$STAGE/root/etc/compare/$s.conf" "$OUTDIR/$s.conf"
done
{
    echo "E2E_SCRIPT=/e2e/compare.sh"
    echo "COMPARE_SERVERS='${SERVERS[*]}'"
    echo "IPERF_SECS=$IPERF"
    echo "SESSIONS=$SESSIONS"
    echo "E2E_TIMEOUT=$GUEST_TIMEOUT"
} > "$STAGE/root/e2e/env"
install -m 0755 "$SERVER" "$STAGE/root/e2e/server"

echo "[compare] pptpd vs $(basename "$SERVER") (${BACKENDS[*]}): one VM ($ACCEL, $MEM MiB), iperf3 ${IPERF} s each way, $SESSIONS sessions; logs in $OUTDIR" >&2
t0=$(date +%s)
# progress on stderr; the whole console is in console.log
vm_boot "$STAGE/root" "$OUTDIR" "$GUEST_TIMEOUT" "$MEM" |
    grep --line-buffered -E '^(\[e2e|ERROR|RESULT|INFO|FAIL)' >&2 || true
secs=$(( $(date +%s) - t0 ))
LOG="$OUTDIR/console.log"


print_table "$LOG" | tee "$OUTDIR/table.txt"
rc=${PIPESTATUS[0]}
grep -q '^E2E_EXIT=' "$LOG" || { echo "ERROR the VM did not finish (see $LOG)"; rc=1; }
exit "$rc"
