#!/bin/sh
# Side by side: the same real client (pptp-linux + pppd, same options) against
# each server of COMPARE_SERVERS in turn, in this one VM.  Run by /init when
# /e2e/env says E2E_SCRIPT=/e2e/compare.sh; the host's tests/vm/compare.sh
# writes /etc/compare/<server>.conf and prints the table from these lines:
#   RESULT <server> <metric> <value>     (metrics: see measure_server)
#   ERROR <server> <what>                (the server could not be measured)
# Settings (/e2e/env): COMPARE_SERVERS="pptpd tun raw" IPERF_SECS=10 SESSIONS=8
. /e2e/env
: "${COMPARE_SERVERS:=pptpd}" "${IPERF_SECS:=10}" "${SESSIONS:=8}"
. /e2e/lib.sh

# client addresses of the extra sessions: pptp-linux shares one control
# connection between calls to the same server from the same address, so each
# session gets its own (PoPToP takes one call per control connection)
extra_addr() { echo "198.51.100.$((10 + $1))"; }

result() { echo "RESULT $1 $2 $3"; }
error() { _s=$1; shift; echo "ERROR $_s $*"; }

# server_pids: the server's processes (everything in srv but the tools)
server_pids() {
    for _p in $(ip netns pids $SRV_NS); do
        case "$(cat /proc/$_p/comm 2>/dev/null)" in iperf3|tcpdump|ping|ip|"") ;; *) echo $_p ;; esac
    done
}
# mem_kb: "RSS PSS NPROC" summed over the server's processes, kB
# (smaps_rollup: PSS splits each shared page between the processes mapping it)
mem_kb() {
    for _p in $(server_pids); do cat /proc/$_p/smaps_rollup 2>/dev/null; echo "PROC 1"; done |
        awk '$1 == "Rss:" {r += $2} $1 == "Pss:" {p += $2} $1 == "PROC" {n++} END {printf "%d %d %d\n", r, p, n}'
}
# vm_ticks: "BUSY TOTAL" clock ticks of all vCPUs since boot (/proc/stat)
vm_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# cpu_ticks: user + system clock ticks (USER_HZ = 100) of the server's processes
cpu_ticks() {
    for _p in $(server_pids); do
        # comm may hold spaces: the fields after ") " start at field 3 (state)
        sed 's/.*) //' /proc/$_p/stat 2>/dev/null
    done | awk '{t += $12 + $13} END {print t + 0}'
}

# server_turn_ms CAPTURE: from tcpdump -tt -n lines of client 0's traffic,
# from its TCP SYN to the ICMP marker its ip-up sends: the sum of the gaps
# before each packet the server sent (the time the server held the ball), and
# the whole span.  Empty TCP ACKs and GRE acknowledgements are left out: they
# answer nothing.  Prints "SERVER_MS SPAN_MS PACKETS".
server_turn_ms() {
    awk -v srv="$SRV_IP" '
        { t = $1; from = $3; sub(/:$/, "", from) }
        / Flags \[/ && !/Flags \[[^]]*S/ && / length 0$/ { next }     # empty TCP ACK
        / GREv1/ && /no-payload/ { next }
        !started { if ($0 ~ /Flags \[S\]/) { started = 1; t0 = t; prev = t; n = 1 }; next }
        {
            gap = t - prev; prev = t; n++
            if (from == srv || index(from, srv ".") == 1) server += gap
            if ($0 ~ /ICMP echo request/) { printf "%d %d %d\n", server * 1000 + 0.5, (t - t0) * 1000 + 0.5, n; done = 1; exit }
        }
        END { if (!done) print "- - " n + 0 }' "$1"
}

# iperf_mbps TAG [-R]: receiver's Mbit/s of IPERF_SECS of TCP to the server's
# tunnel address, or "-"
iperf_mbps() {
    _tag=$1; shift
    in_ns $CLI_NS timeout $((IPERF_SECS + 30)) iperf3 -c "$PEER" -t "$IPERF_SECS" -f m "$@" \
        > $RUN/$S-iperf-$_tag.log 2>&1
    awk '/receiver$/ {for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") v = $(i-1)} END {print (v == "" ? "-" : v)}' \
        $RUN/$S-iperf-$_tag.log
}

# stop_all: the clients, then the server (TERM, then KILL), then leftovers
stop_all() {
    kill_ns $CLI_NS
    kill -TERM $SERVER_PID 2>/dev/null
    for _p in $(server_pids); do kill -TERM $_p 2>/dev/null; done
    wait_exit $SERVER_PID 5 || kill -9 $SERVER_PID 2>/dev/null
    usleep 300000
    kill_ns $SRV_NS
    kill_ns $CLI_NS
    rm -f $RUN/client-ipup.* /run/pptp/* 2>/dev/null
    usleep 300000
}

# measure_server S: one server, start to stop
measure_server() {
    S=$1
    kind=binary; [ "$S" = pptpd ] && kind=pptpd
    log "==== $S: $(grep -v '^[[:space:]]*\(#\|$\)' /etc/compare/$S.conf | tr '\n' ';')"
    server_start $kind /etc/compare/$S.conf $RUN/$S-server.out
    if ! wait_listening; then
        error $S "not listening on $SRV_IP:1723"; tail -n 20 $RUN/$S-server.out; stop_all; return
    fi
    usleep 500000
    set -- $(mem_kb); result $S idle_rss_kb $1; result $S idle_pss_kb $2; result $S idle_procs $3

    # ---- connect time of session 0, with the wire trace of it
    ( ns_exec $SRV_NS tcpdump -Z root -i veth-srv -n -tt -l -s 200 \
        "host $CLI_IP and (tcp port 1723 or ip proto 47 or icmp)" ) > $RUN/$S-connect.tcpdump 2> $RUN/$S-tcpdump.err &
    TCPDUMP_PID=$!
    usleep 800000                       # tcpdump attaches
    t0=$(now_ms)
    client_start 0 $CLI_IP /e2e/compare-ip-up
    PID0=$CLIENT_PID
    if ! wait_file $RUN/client-ipup.0 30000; then
        error $S "session 0: no ip-up within 30 s"; tail -n 15 $RUN/pppd-client.0.log
        kill $TCPDUMP_PID 2>/dev/null; stop_all; return
    fi
    result $S connect_ms $(( $(now_ms) - t0 ))
    usleep 500000                       # the marker ping is on the wire
    kill $TCPDUMP_PID 2>/dev/null; wait $TCPDUMP_PID 2>/dev/null
    set -- $(server_turn_ms $RUN/$S-connect.tcpdump)
    result $S server_turn_ms $1; result $S wire_span_ms $2; result $S connect_packets $3
    read -r _if _local PEER _dns1 _dns2 < $RUN/client-ipup.0
    set -- $(mem_kb); result $S one_session_rss_kb $1; result $S one_session_pss_kb $2

    # ---- throughput both ways, and the server's CPU time meanwhile
    ( ns_exec $SRV_NS iperf3 -s ) > $RUN/$S-iperf-server.log 2>&1 &
    IPERF_PID=$!
    usleep 500000
    c0=$(cpu_ticks); set -- $(vm_ticks); b0=$1; a0=$2
    result $S c2s_mbps "$(iperf_mbps c2s)"
    result $S s2c_mbps "$(iperf_mbps s2c -R)"
    result $S iperf_cpu_ticks "$(( $(cpu_ticks) - c0 ))"
    # the whole VM (client, server, iperf3 both ends, the kernel's PPP/MPPE)
    set -- $(vm_ticks); result $S iperf_vm_busy_ticks "$(( $1 - b0 ))"; result $S iperf_vm_all_ticks "$(( $2 - a0 ))"
    kill $IPERF_PID 2>/dev/null; wait $IPERF_PID 2>/dev/null
    set -- $(mem_kb); result $S after_iperf_rss_kb $1; result $S after_iperf_pss_kb $2

    # ---- SESSIONS sessions at once (session 0 and SESSIONS-1 more), each
    # with full-size packets through it, then the memory of all of them
    i=1
    while [ $i -lt $SESSIONS ]; do
        client_start $i "$(extra_addr $i)" /e2e/compare-ip-up
        i=$((i + 1))
    done
    i=1; pings=""
    while [ $i -lt $SESSIONS ]; do
        if wait_file $RUN/client-ipup.$i 40000; then
            read -r _if _local _peer _x < $RUN/client-ipup.$i
            # 1300 + 28 bytes: just under the tunnel MTU (1396 with ours, 1496 with pptpd)
            ( ns_exec $CLI_NS ping -c 10 -i 0.1 -W 2 -s 1300 -I "$_if" "$_peer" ) > $RUN/$S-ping.$i.log 2>&1 &
            pings="$pings $!"
        else
            error $S "session $i: no ip-up within 40 s"; tail -n 5 $RUN/pppd-client.$i.log
        fi
        i=$((i + 1))
    done
    for p in $pings; do wait $p; done
    lost=$(cat $RUN/$S-ping.*.log 2>/dev/null | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p' | awk '$1 > 20 {n++} END {print n + 0}')
    [ "$lost" = 0 ] || log "$S: $lost sessions lost over 20 % of their pings"
    usleep 500000
    set -- $(mem_kb)
    result $S sessions_up "$(ls $RUN/client-ipup.* 2>/dev/null | wc -l)"
    result $S sessions_rss_kb $1; result $S sessions_pss_kb $2; result $S sessions_procs $3
    # CPU with every session up and no traffic but LCP echoes: a busy loop shows here
    c0=$(cpu_ticks); sleep 5
    result $S idle_cpu_ticks_5s "$(( $(cpu_ticks) - c0 ))"
    stop_all
}

netns_setup || { echo "ERROR all netns setup"; exit 1; }
i=1
while [ $i -lt $SESSIONS ]; do ip -n $CLI_NS addr add "$(extra_addr $i)/24" dev veth-cli; i=$((i + 1)); done
log "client: $(head -1 /etc/e2e-manifest); sessions $SESSIONS, iperf3 ${IPERF_SECS} s each way"
for s in $COMPARE_SERVERS; do measure_server $s; done
echo "INFO vm: $(grep -c ^processor /proc/cpuinfo) vCPU, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB"
exit 0
