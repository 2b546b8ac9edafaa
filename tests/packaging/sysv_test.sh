#!/bin/sh
# The SysV script (packaging/sysv/smolpptpd) driving a stand-in daemon: start,
# status, reload (SIGHUP), stop, the pid file named in pptpd.conf, a stale pid
# file. The real daemon needs a tun device and root; this tests the script.
# usage: sh tests/packaging/sysv_test.sh

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d)
FAILS=0
cleanup() {
	pid=$(cat "$WORK/run/smol.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# expect STATUS OUTPUT-REGEXP ACTION: run the script, compare status and output.
expect() {
	local want="$1" pattern="$2" out rc
	shift 2
	out=$(sh "$WORK/init" "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $out"
	echo "$out" | grep -Eq -- "$pattern" || fail "'$*' printed '$out', expected /$pattern/"
}

mkdir -p "$WORK/sbin" "$WORK/run"
# Like smolpptpd without --fg: detach, write the pid file from pptpd.conf,
# SIGHUP is a reload, SIGTERM removes the pid file and exits.
cat >"$WORK/sbin/smolpptpd" <<FAKE
#!/bin/sh
[ "\$1" = check ] && { echo "fake check \$*"; exit 0; }
[ "\$1" = -c ] || { echo "no -c" >&2; exit 1; }
pidfile=\$(awk '/^[^ \t#]/ && \$1 == "pidfile" { print \$2; exit }' "\$2")
sh -c 'echo \$\$ > "\$0"; trap "echo hup >> $WORK/hups" HUP; trap "rm -f \$0; exit 0" TERM
	while :; do sleep 1 & wait \$!; done' "\$pidfile" smolpptpd >/dev/null 2>&1 &
exit 0
FAKE
chmod +x "$WORK/sbin/smolpptpd"
cat >"$WORK/pptpd.conf" <<EOF2
#pidfile /nonexistent/commented
 pidfile /nonexistent/indented
pidfile $WORK/run/smol.pid
pidfile /nonexistent/second
EOF2
printf 'DAEMON=%s\nCONF=%s\nSTOP_TIMEOUT=5\n' "$WORK/sbin/smolpptpd" "$WORK/pptpd.conf" >"$WORK/default"
sed -e "s#/etc/default/\$NAME#$WORK/default#g" -e "s#/etc/sysconfig/\$NAME#$WORK/none#g" \
	"$ROOT/packaging/sysv/smolpptpd" >"$WORK/init"

sh -n "$ROOT/packaging/sysv/smolpptpd" || fail "syntax"
grep -q '^# chkconfig: 2345 ' "$WORK/init" || fail "no chkconfig header"
grep -q '^### BEGIN INIT INFO' "$WORK/init" || fail "no LSB header"

expect 3 'is stopped' status
expect 0 'Starting smolpptpd: ok' start
[ -s "$WORK/run/smol.pid" ] || fail "no pid file where pptpd.conf says"
expect 0 'is running \(pid [0-9]+\)' status
expect 0 'already running' start
expect 0 'Reloading' reload
sleep 2
[ "$(cat "$WORK/hups" 2>/dev/null)" = hup ] || fail "the daemon did not get one SIGHUP"
expect 0 'Stopping smolpptpd: ok' stop
[ -e "$WORK/run/smol.pid" ] && fail "pid file left after stop"
expect 3 'is stopped' status
expect 0 'not running' stop
expect 7 'not running' reload
expect 0 'fake check check -c' check
# A stale pid file naming a live, unrelated process (this shell).
echo $$ >"$WORK/run/smol.pid"
expect 1 'dead but the pid file' status
expect 0 'Starting smolpptpd: ok' restart
expect 0 'Stopping smolpptpd: ok' stop
expect 2 'usage' bogus

if [ "$FAILS" -ne 0 ]; then
	echo "sysv_test: $FAILS check(s) failed" >&2
	exit 1
fi
echo "sysv_test: all checks passed"
