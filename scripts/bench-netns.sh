#!/bin/sh
# Native benchmark of smolpptpd in network namespaces (README "Performance").
#
# Builds the daemon and the load client (examples/loadclient.rs) in release for one board,
# then for each session count starts a fresh daemon (tun backend) in a "router" namespace
# and runs the load client in a "client" namespace joined to it by a veth pair: sessions are
# set up from a cold start (connect rate), then every session sends UDP through its tunnel
# to a sink behind the server's TUN. One table row per count: connect rate, aggregate
# throughput, loss, server CPU (utime+stime from /proc) as cores and per Gbit/s, server RSS
# after connecting, at the end, and its peak; the load client's own CPU.
#
#   sudo scripts/bench-netns.sh [SESSION COUNTS...]      default: 1 8 64 and the board's max
#
# Environment: BOARD (default host; x86_64-1024 for 1024 sessions), SIZE (IP packet bytes,
# default 1396: the largest that fits the MRU of 1400 with MPPE), SECONDS_PER_RUN (default 5), IN_FLIGHT (sessions negotiating at once while
# connecting, default 32), WINDOW (packets in flight, default 512), KEEP_LOGS=1 (print each daemon's log).
# Needs root, iproute2 and the tun module; uses only RFC 5737 documentation addresses and
# the 10.64.0.0/14 pool inside the namespaces, which are deleted on exit.
set -eu

BOARD=${BOARD:-host}
SIZE=${SIZE:-1396}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
IN_FLIGHT=${IN_FLIGHT:-32}
WINDOW=${WINDOW:-512}

cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }

TARGET_DIR=${CARGO_TARGET_DIR:-target}/bench-$BOARD
echo "building (board $BOARD) into $TARGET_DIR ..." >&2
SMOLPPTP_BOARD=$BOARD CARGO_TARGET_DIR=$TARGET_DIR \
    cargo build --quiet --release --bin smolpptpd --example loadclient
DAEMON=$TARGET_DIR/release/smolpptpd
LOAD=$TARGET_DIR/release/examples/loadclient
MAX=$(sed -n 's/^max_sessions *= *\([0-9]*\).*/\1/p' "boards/$BOARD.toml")

if [ $# -gt 0 ]; then COUNTS="$*"; else COUNTS="1 8 64 $MAX"; fi

TAG=smolbench$$
CLIENT_NS=$TAG-c
ROUTER_NS=$TAG-r
DIR=$(mktemp -d /tmp/smolpptp-bench.XXXXXX)
DAEMON_PID=

cleanup() {
    if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
    ip netns del "$CLIENT_NS" 2>/dev/null || true
    ip netns del "$ROUTER_NS" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

ip netns add "$CLIENT_NS"
ip netns add "$ROUTER_NS"
ip -n "$CLIENT_NS" link set lo up
ip -n "$ROUTER_NS" link set lo up
ip link add vc0 netns "$CLIENT_NS" type veth peer name vr0 netns "$ROUTER_NS"
ip -n "$CLIENT_NS" addr add 192.0.2.100/24 dev vc0
ip -n "$ROUTER_NS" addr add 192.0.2.1/24 dev vr0
ip -n "$CLIENT_NS" link set vc0 up
ip -n "$ROUTER_NS" link set vr0 up

# Pool: 10.64.0.1-254, 10.64.1.1-254, ... enough for MAX sessions.
POOL=
n=0
while [ $((n * 254)) -lt "$MAX" ]; do
    POOL=${POOL:+$POOL,}10.64.$n.1-254
    n=$((n + 1))
done

cat >"$DIR/options.pptpd" <<EOF
name pptpd
auth
require-mschap-v2
refuse-pap
refuse-chap
refuse-mschap
require-mppe-128
nomppe-stateful
ms-dns 203.0.113.53
mtu 1400
mru 1400
lcp-echo-interval 30
lcp-echo-failure 4
EOF
printf 'bench pptpd "bench-password" *\n' >"$DIR/chap-secrets"
chmod 600 "$DIR/chap-secrets"
cat >"$DIR/pptpd.conf" <<EOF
option $DIR/options.pptpd
connections $MAX
localip 198.51.100.1
remoteip $POOL
max-per-source 0
auth-throttle off
stimeout 10
pidfile $DIR/pptpd.pid
backend tun
wan vr0
address 203.0.113.2/32
firewall on
forwarding on
chap-secrets $DIR/chap-secrets
EOF

echo "smolpptpd in network namespaces: board $BOARD (max $MAX sessions), tun backend," \
     "MPPE-128 stateless, ${SIZE}-byte IP packets client -> server -> TUN -> UDP sink," \
     "${SECONDS_PER_RUN} s per run; $(nproc) CPUs: $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1)"
HEADER=--header
for count in $COUNTS; do
    ip netns exec "$ROUTER_NS" "$DAEMON" --fg -c "$DIR/pptpd.conf" >"$DIR/daemon.log" 2>&1 &
    DAEMON_PID=$!
    ip netns exec "$CLIENT_NS" "$LOAD" $HEADER --pid="$DAEMON_PID" --router-ns="$ROUTER_NS" \
        --sessions="$count" --size="$SIZE" --seconds="$SECONDS_PER_RUN" \
        --in-flight="$IN_FLIGHT" --window="$WINDOW" || {
        echo "load client failed with $count sessions; daemon log:" >&2
        tail -20 "$DIR/daemon.log" >&2
        exit 1
    }
    HEADER=
    kill "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
    if [ -n "${KEEP_LOGS:-}" ]; then cat "$DIR/daemon.log"; fi
done
