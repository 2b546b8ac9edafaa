# Helpers shared by the in-VM scripts (scenario.sh, compare.sh): busybox ash,
# sourced.  Layout: netns "srv" (the router, veth-srv 198.51.100.1/24) and netns
# "cli" (veth-cli 198.51.100.2/24 plus more client addresses), joined by a veth
# pair; the server runs in srv, pptp-linux + pppd in cli.
RUN=/run/e2e
SRV_NS=srv
CLI_NS=cli
SRV_IP=198.51.100.1
CLI_IP=198.51.100.2
mkdir -p $RUN

# busybox sh runs its own applets before $PATH (no "ip netns" there)
ip() { /usr/sbin/ip "$@"; }
log() { echo "[e2e $(cut -d' ' -f1 /proc/uptime)] $*"; }
# monotonic milliseconds (busybox date has no %N)
now_ms() { sed -n '3s/^now at \([0-9]*\)[0-9]\{6\} nsecs$/\1/p;3q' /proc/timer_list; }
in_ns() { _ns=$1; shift; ip netns exec "$_ns" "$@"; }
# use as ( ns_exec NS prog ... ) & so that $! is prog itself (pitfall: a
# backgrounded function leaves a subshell in between and kill $! misses prog)
ns_exec() { _ns=$1; shift; exec /usr/sbin/ip netns exec "$_ns" "$@"; }
alive() { kill -0 "$1" 2>/dev/null; }
# wait_exit PID SECONDS -> 0 when PID exited in time (then $EXIT_RC is its status)
wait_exit() {
    _end=$(( $(now_ms) + $2 * 1000 ))
    while alive "$1"; do
        [ "$(now_ms)" -ge $_end ] && return 1
        usleep 50000
    done
    wait "$1"; EXIT_RC=$?
    return 0
}
dump() { for _f in "$@"; do [ -s "$_f" ] && { echo "----- $_f"; cat "$_f"; echo "-----"; }; done; }

# netns_setup [EXTRA_CLIENT_ADDR...]: both namespaces and the veth pair.
# Returns non-zero when the link does not work.
netns_setup() {
    ip netns add $SRV_NS && ip netns add $CLI_NS &&
    ip link add veth-srv type veth peer name veth-cli &&
    ip link set veth-srv netns $SRV_NS && ip link set veth-cli netns $CLI_NS || return 1
    ip -n $SRV_NS link set lo up
    ip -n $CLI_NS link set lo up
    ip -n $SRV_NS addr add $SRV_IP/24 dev veth-srv
    ip -n $CLI_NS addr add $CLI_IP/24 dev veth-cli
    for _a in "$@"; do ip -n $CLI_NS addr add "$_a/24" dev veth-cli; done
    ip -n $SRV_NS link set veth-srv up
    ip -n $CLI_NS link set veth-cli up
    # veth hands over TCP with the checksum not yet filled in (CHECKSUM_PARTIAL);
    # a server reading frames with AF_PACKET (backend raw) would see bad sums,
    # which a real NIC never delivers.  Same setting for every server.
    in_ns $CLI_NS ethtool -K veth-cli tx off >/dev/null 2>&1
    in_ns $CLI_NS ping -c 1 -W 2 $SRV_IP >/dev/null
}

# server_start KIND CONF OUT: KIND pptpd runs PoPToP, KIND binary /e2e/server;
# both as "NAME --fg -c CONF" in srv.  Sets SERVER_PID.
server_start() {
    if [ "$1" = pptpd ]; then
        ( ns_exec $SRV_NS pptpd --fg -c "$2" ) > "$3" 2>&1 &
    else
        ( ns_exec $SRV_NS /e2e/server --fg -c "$2" ) > "$3" 2>&1 &
    fi
    SERVER_PID=$!
}

# wait_listening: 0 once the server (SERVER_PID) takes TCP connections on
# SRV_IP:1723, within 12 s.  A kernel socket shows in netstat; a server with
# its own TCP stack has none, so from the 10th try on a TCP connect from the
# client counts too.
wait_listening() {
    _i=0
    while [ $_i -lt 60 ] && alive $SERVER_PID; do
        in_ns $SRV_NS netstat -ltn 2>/dev/null | grep -q ":1723 " && return 0
        if [ $_i -ge 10 ]; then
            in_ns $CLI_NS timeout 2 nc -w 1 $SRV_IP 1723 < /dev/null > $RUN/probe1723.log 2>&1; _rc=$?
            if { [ $_rc = 0 ] || [ $_rc = 143 ]; } && ! grep -qi 'refused\|timed out\|unreachable' $RUN/probe1723.log; then
                return 0
            fi
        fi
        usleep 200000; _i=$((_i + 1))
    done
    return 1
}

# client_start UNIT LOCAL_ADDR IP_UP_SCRIPT [extra pppd options]: the real
# client, as people run it: pppd with pty "pptp SERVER --nolaunchpppd".  Logs
# to $RUN/pppd-client.UNIT.log.  Sets CLIENT_PID.
client_start() {
    _u=$1; _la=$2; _up=$3; shift 3
    : > $RUN/pppd-client.$_u.log
    ( ns_exec $CLI_NS pppd file /etc/ppp/e2e-client-options unit "$_u" ipparam "$_u" \
        logfile $RUN/pppd-client.$_u.log ip-up-script "$_up" \
        pty "pptp $SRV_IP --nolaunchpppd --localbind $_la" "$@" ) > $RUN/pppd-client.$_u.out 2>&1 &
    CLIENT_PID=$!
}

# wait_file FILE MS: 0 when FILE is non-empty within MS milliseconds
wait_file() {
    _end=$(( $(now_ms) + $2 ))
    while [ ! -s "$1" ]; do
        [ "$(now_ms)" -ge $_end ] && return 1
        usleep 50000
    done
    return 0
}

# kill_ns NS: SIGKILL everything left in a namespace
kill_ns() { for _p in $(ip netns pids "$1"); do kill -9 "$_p" 2>/dev/null; done; }
