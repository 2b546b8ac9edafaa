#!/bin/sh
# End-to-end check of a PPTP server against the real Linux client, inside the
# test VM (busybox ash).  Run by /init; settings come from /e2e/env:
#   SERVER_KIND=pptpd|binary  SERVER_NAME=...  BACKEND=tun|raw|""  IPERF_SECS=30
#
# Layout: netns "srv" (the router: veth-srv 198.51.100.1/24, runs the server
# with /etc/pptpd.conf, /etc/ppp/options.pptpd, /etc/ppp/chap-secrets) and
# netns "cli" (veth-cli 198.51.100.2/24 and .99/24, runs pptp-linux + pppd).
# Prints one "PASS name: detail" or "FAIL name: detail" line per check; the
# host (run-e2e.sh) counts them.  Exit status 0 = no check failed.
. /e2e/env
: "${SERVER_KIND:=pptpd}" "${SERVER_NAME:=pptpd}" "${BACKEND:=}" "${IPERF_SECS:=30}"

. /e2e/lib.sh
CLI2_IP=198.51.100.99           # the second client (wrong password)
# expected from /etc/pptpd.conf and /etc/ppp/options.pptpd
TUN_LOCAL=$(awk '$1 == "localip" {print $2}' /etc/pptpd.conf)
FIRST_REMOTE=$(awk '$1 == "remoteip" {sub(/[-,].*/, "", $2); print $2}' /etc/pptpd.conf)
DNS_EXPECTED=$(awk '$1 == "ms-dns" {printf "%s%s", s, $2; s = " "}' /etc/ppp/options.pptpd)
FAILED=0
pass() { _n=$1; shift; echo "PASS $_n: $*"; }
fail() { _n=$1; shift; echo "FAIL $_n: $*"; FAILED=1; }
check() { _n=$1; _d=$2; shift 2; if "$@"; then pass "$_n" "$_d"; else fail "$_n" "$_d"; fi; }
finish() {
    if [ "$SERVER_KIND" = binary ] && [ -s $RUN/server.out ]; then
        log "last 30 lines of the server's output:"; tail -n 30 $RUN/server.out
    fi
    [ $FAILED = 0 ] || dump $RUN/pppd-client.0.log
    exit $FAILED
}

# ---------------------------------------------------------------- network
netns_setup $CLI2_IP || { fail netns "setup, or no ping over the veth pair"; finish; }

# ---------------------------------------------------------------- server
log "server $SERVER_NAME${BACKEND:+ backend $BACKEND}; /etc/pptpd.conf:"
grep -v '^[[:space:]]*\(#\|$\)' /etc/pptpd.conf | sed 's/^/    /'
server_start "$SERVER_KIND" /etc/pptpd.conf $RUN/server.out
listening=0; wait_listening && listening=1
if [ $listening = 0 ]; then
    if alive $SERVER_PID; then
        fail server_listening "nothing on $SRV_IP:1723 after 12 s"
    else
        wait $SERVER_PID; fail server_listening "the server exited with status $? before listening on $SRV_IP:1723"
    fi
    dump $RUN/server.out; finish
fi
pass server_listening "TCP $SRV_IP:1723"

# ---------------------------------------------------------------- client 0
syslog_mark() { wc -l < /var/log/messages; }
syslog_since() { sed -n "$(( $1 + 1 )),\$p" /var/log/messages; }

t0=$(now_ms)
client_start 0 $CLI_IP /e2e/client-ip-up
PID0=$CLIENT_PID
up=0
while [ $(( $(now_ms) - t0 )) -lt 30000 ] && alive $PID0; do
    [ -s $RUN/client-ipup.0 ] && { up=1; break; }
    usleep 50000
done
CONNECT_MS=$(( $(now_ms) - t0 ))
L0=$RUN/pppd-client.0.log
if grep -q 'rcvd \[LCP ConfAck' $L0 && grep -q 'sent \[LCP ConfAck' $L0; then
    pass lcp_up "$(grep -m1 'rcvd \[LCP ConfReq' $L0 | sed 's/.*rcvd //')"
else fail lcp_up "no LCP ConfAck both ways"; fi
if grep -q 'CHAP authentication succeeded' $L0 && grep -q 'rcvd \[LCP ConfReq.*<auth chap MS-v2>' $L0; then
    pass mschapv2_success "$(grep -m1 'rcvd \[CHAP Success' $L0 | sed 's/.*rcvd //')"
else fail mschapv2_success "$(grep -m1 -i 'auth\|CHAP' $L0 | tail -1)"; fi
mppe=$(grep -m1 'MPPE 128-bit.*enabled' $L0)
if [ -n "$mppe" ]; then pass mppe_128 "${mppe#*: }"; else fail mppe_128 "no 'MPPE 128-bit ... enabled' in the client log"; fi
if [ $up = 0 ]; then
    fail ipcp_up "no ip-up within 30 s (client pppd $(alive $PID0 && echo running || echo exited))"
    dump $RUN/server.out; kill $PID0 $SERVER_PID 2>/dev/null; finish
fi
read -r PPP_IF PPP_LOCAL PPP_REMOTE DNS1 DNS2 < $RUN/client-ipup.0
if [ "$PPP_LOCAL" = "$FIRST_REMOTE" ] && [ "$PPP_REMOTE" = "$TUN_LOCAL" ]; then
    pass ipcp_up "$PPP_IF $PPP_LOCAL <-> $PPP_REMOTE, mtu $(in_ns $CLI_NS cat /sys/class/net/$PPP_IF/mtu), ${CONNECT_MS} ms after pppd start"
else
    fail ipcp_up "$PPP_IF $PPP_LOCAL <-> $PPP_REMOTE, expected $FIRST_REMOTE <-> $TUN_LOCAL"
fi
dns_resolv=$(awk '$1 == "nameserver" {printf "%s%s", s, $2; s = " "}' /etc/ppp/resolv.conf 2>/dev/null)
if [ "$DNS1 $DNS2" = "$DNS_EXPECTED" ] && [ "$dns_resolv" = "$DNS_EXPECTED" ]; then
    pass dns_servers "$DNS1 $DNS2"
else
    fail dns_servers "ip-up DNS1/DNS2 '$DNS1 $DNS2', /etc/ppp/resolv.conf '$dns_resolv', expected '$DNS_EXPECTED'"
fi

# ---------------------------------------------------------------- ping both ways
# ping_ok NS TARGET TAG: 5 pings, at most one lost
ping_ok() {
    in_ns "$1" ping -c 5 -i 0.2 -W 2 "$2" > $RUN/ping-$3.log 2>&1
    _got=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' $RUN/ping-$3.log)
    PING_SUMMARY="${_got:-0}/5 replies, $(sed -n 's#.*min/avg/max = \(.*\)#rtt min/avg/max \1#p' $RUN/ping-$3.log)"
    [ "${_got:-0}" -ge 4 ]
}
ping_ok $CLI_NS "$PPP_REMOTE" c2s; check ping_client_to_server "$PPP_REMOTE: $PING_SUMMARY" test $? = 0
ping_ok $SRV_NS "$PPP_LOCAL" s2c; check ping_server_to_client "$PPP_LOCAL: $PING_SUMMARY" test $? = 0

# ---------------------------------------------------------------- iperf3
# iperf_dir TAG [-R]: IPERF_SECS of TCP through the tunnel, bounded in time
iperf_dir() {
    _tag=$1; shift
    in_ns $CLI_NS timeout $((IPERF_SECS + 30)) iperf3 -c "$PPP_REMOTE" -t "$IPERF_SECS" -f m "$@" \
        > $RUN/iperf-$_tag.log 2>&1
    _rc=$?
    _mbps=$(awk '/receiver$/ {for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") v = $(i-1)} END {print v}' $RUN/iperf-$_tag.log)
    _retr=$(awk '/sender$/ {print $(NF-1)}' $RUN/iperf-$_tag.log)
    if [ $_rc = 0 ] && [ -n "$_mbps" ]; then
        pass "iperf3_$_tag" "$_mbps Mbit/s over ${IPERF_SECS} s, $_retr retransmits"
    else
        fail "iperf3_$_tag" "rc $_rc: $(tail -n 2 $RUN/iperf-$_tag.log | tr '\n' ' ')"
    fi
}
( ns_exec $SRV_NS iperf3 -s ) > $RUN/iperf-server.log 2>&1 &
IPERF_PID=$!
usleep 500000
iperf_dir client_to_server
iperf_dir server_to_client -R
kill $IPERF_PID 2>/dev/null; wait $IPERF_PID 2>/dev/null
if alive $PID0 && ping_ok $CLI_NS "$PPP_REMOTE" after-iperf; then
    pass session_up_after_iperf "$PING_SUMMARY"
else
    fail session_up_after_iperf "client pppd $(alive $PID0 && echo running || echo exited), $PING_SUMMARY"
fi

# ---------------------------------------------------------------- wrong password
# a second client (own address, so pptp-linux opens its own control
# connection) with a wrong password: pppd must exit with status 19
# (EXIT_AUTH_TOPEER_FAILED: the peer refused our authentication)
# the wire, from the server's side, for the log (LCP and CHAP are clear text)
( ns_exec $SRV_NS tcpdump -Z root -i veth-srv -n -tt -l -v -s 300 "host $CLI2_IP" ) > $RUN/wire-99.txt 2>/dev/null &
TCPDUMP_PID=$!
usleep 500000
client_start 99 $CLI2_IP /e2e/client-ip-up password not-labpass
if wait_exit $CLIENT_PID 30; then
    why=$(grep -m1 -i 'authentication failed\|E=691' $RUN/pppd-client.99.log)
    if [ $EXIT_RC = 19 ] && [ -n "$why" ]; then
        pass wrong_password_refused "pppd exit 19: ${why#*: }"
    else
        fail wrong_password_refused "pppd exit $EXIT_RC: $(tail -n 1 $RUN/pppd-client.99.log)"
    fi
else
    kill $CLIENT_PID 2>/dev/null
    fail wrong_password_refused "pppd still running after 30 s: $(grep -c 'IP address' $RUN/pppd-client.99.log) IPCP address lines"
fi
usleep 300000; kill $TCPDUMP_PID 2>/dev/null
if alive $PID0 && ping_ok $CLI_NS "$PPP_REMOTE" after-wrongpw; then
    pass first_session_unaffected "$PING_SUMMARY"
else
    fail first_session_unaffected "client pppd $(alive $PID0 && echo running || echo exited), $PING_SUMMARY"
fi

# ---------------------------------------------------------------- goodbye
# SIGTERM to the server.  PoPToP's manager leaves running sessions alone on
# SIGTERM (its pptpctrl children outlive it); a service manager stopping it
# signals the whole group, and each pptpctrl then sends
# Call-Disconnect-Notify + Stop-Control-Connection-Request.  So for pptpd
# the TERM goes to every pptpd/pptpctrl process of the netns; a single
# process server just gets it.
mark=$(syslog_mark)
t0=$(now_ms)
if [ "$SERVER_KIND" = pptpd ]; then
    for p in $(ip netns pids $SRV_NS); do
        case "$(cat /proc/$p/comm 2>/dev/null)" in pptpd|pptpctrl) kill -TERM $p ;; esac
    done
else
    kill -TERM $SERVER_PID
fi
if wait_exit $SERVER_PID 8; then
    check server_exit_0 "exit status $EXIT_RC after $(( $(now_ms) - t0 )) ms" test $EXIT_RC = 0
else
    fail server_exit_0 "still running 8 s after SIGTERM"; kill -9 $SERVER_PID 2>/dev/null
fi
if wait_exit $PID0 10; then
    client_ms=$(( $(now_ms) - t0 ))
    usleep 300000                      # let syslogd write pptp's last lines
    syslog_since $mark | grep ' pptp\[' > $RUN/pptp-goodbye.log
    seen=""
    grep -q 'Call disconnect notification received' $RUN/pptp-goodbye.log && seen="Call-Disconnect-Notify"
    grep -q 'Received Stop Control Connection Request' $RUN/pptp-goodbye.log && seen="${seen:+$seen + }Stop-Control-Connection-Request"
    if [ -n "$seen" ]; then
        pass client_goodbye "pptp saw $seen; client pppd exited ($EXIT_RC) after $client_ms ms: $(tail -n 1 $L0)"
    else
        fail client_goodbye "client pppd exited ($EXIT_RC) after $client_ms ms, but pptp logged neither CDN nor StopCCRQ"
        dump $RUN/pptp-goodbye.log
    fi
else
    fail client_goodbye "client pppd still running 10 s after the server's SIGTERM"
    kill $PID0 2>/dev/null
fi
# leftovers of the server (pptpd's pppd children) would keep the netns busy
kill_ns $SRV_NS
# pptp logs every out-of-order GRE packet it buffers: count them, keep the rest
syslog_since 0 | grep ' pptp\[' | grep -v 'buffering packet' > $RUN/pptp-syslog.log
echo "INFO client_gre_reordered: $(grep -c 'pptp\[.*buffering packet' /var/log/messages) packets buffered by pptp as lost or reordered"
finish
