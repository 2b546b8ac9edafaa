#!/bin/sh
# The OpenWrt init script's file generation, without a router: start_service of
# packaging/openwrt/smolpptpd/files/smolpptpd.init runs over fake OpenWrt shell
# libraries (fake_openwrt.sh), then the generated pptpd.conf, options.pptpd and
# chap-secrets are checked line by line and given to `smolpptpd check`.
#
# usage: sh tests/packaging/initscript_test.sh [SMOLPPTPD]
#   SMOLPPTPD        the binary (default target/debug/smolpptpd)
#   SMOLPPTP_KEEP    an empty directory to work in and leave behind: each case's
#                    fake root is DIR/CASE/ (tests/packaging.rs loads the
#                    generated files from there with the library)
# Exit status 0 when every check passed.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FILES=$ROOT/packaging/openwrt/smolpptpd/files
BIN=${1:-$ROOT/target/debug/smolpptpd}
if [ -n "${SMOLPPTP_KEEP:-}" ]; then
	WORK=$(cd "$SMOLPPTP_KEEP" && pwd) || exit 2
else
	WORK=$(mktemp -d)
	trap 'rm -rf "$WORK"' EXIT INT TERM
fi
FAILS=0
CASE=
D=

[ -x "$BIN" ] || {
	echo "initscript_test: no smolpptpd binary at $BIN (cargo build first)" >&2
	exit 2
}

fail() {
	echo "FAIL [$CASE]: $*" >&2
	FAILS=$((FAILS + 1))
}

# has_line FILE LINE: FILE holds exactly this line.
has_line() {
	grep -qxF -- "$2" "$1" 2>/dev/null || fail "${1#"$D"/} has no line '$2'"
}

# lacks_text FILE TEXT: no line outside comments contains TEXT.
lacks_text() {
	! grep -v '^#' "$1" 2>/dev/null | grep -qF -- "$2" || fail "${1#"$D"/} should not contain '$2'"
}

# new_case NAME: an empty fake root $D with /etc/config, /etc/ppp and /var.
new_case() {
	CASE=$1
	D=$WORK/$1
	mkdir -p "$D/etc/config" "$D/etc/ppp" "$D/var/etc"
	echo "case $CASE"
}

# run_init: start_service of the real init script, with its paths moved into $D.
run_init() {
	(
		# OpenWrt runs init scripts without nounset.
		set +u
		UCI_CONFIG_DIR=$D/etc/config
		PROCD_TRACE=$D/procd.trace
		: >"$PROCD_TRACE"
		. "$HERE/fake_openwrt.sh"
		. "$FILES/smolpptpd.init"
		RUN_DIR=$D/var/etc/smolpptpd
		BASE_CONF=$D/etc/pptpd.conf
		BASE_OPTIONS=$D/etc/ppp/options.pptpd
		BASE_SECRETS=$D/etc/ppp/chap-secrets
		start_service
	) 2>"$D/init.stderr"
}

# run_check: `smolpptpd check` on the generated files must accept them (it prints
# the summary line only after the configuration loaded). Host findings (tun
# device, nft, forwarding) depend on this machine and are not judged here.
# Warnings other than the expected ones (extended regexps, arguments) fail.
run_check() {
	local out="$D/check.out" expected w ok
	"$BIN" check -c "$D/var/etc/smolpptpd/pptpd.conf" >"$out" 2>&1
	grep -q '^backend tun: ' "$out" || {
		fail "smolpptpd check rejected the files: $(grep -m3 '^error' "$out")"
		return
	}
	grep '^warning: ' "$out" | while IFS= read -r w; do
		ok=
		for expected in "$@"; do
			echo "$w" | grep -Eq -- "$expected" && ok=1
		done
		[ -n "$ok" ] || echo "$w"
	done >"$D/unexpected.warnings"
	[ -s "$D/unexpected.warnings" ] && fail "unexpected: $(cat "$D/unexpected.warnings")"
	for expected in "$@"; do
		grep -Eq -- "^warning: .*$expected" "$out" || fail "check did not warn: $expected"
	done
}

GEN=var/etc/smolpptpd

# 1. The package as shipped: disabled, so nothing starts.
new_case shipped-disabled
cp "$FILES/smolpptpd.config" "$D/etc/config/smolpptpd"
if run_init; then fail "start_service succeeded with enabled '0'"; fi
grep -q procd_open_instance "$D/procd.trace" && fail "an instance was opened"
[ -e "$D/$GEN/pptpd.conf" ] && fail "files were generated"

# 2. The package as shipped, enabled: the package's base files plus UCI.
new_case shipped-enabled
sed "s/option enabled '0'/option enabled '1'/" "$FILES/smolpptpd.config" >"$D/etc/config/smolpptpd"
cp "$FILES/pptpd.conf" "$D/etc/pptpd.conf"
cp "$FILES/options.pptpd" "$D/etc/ppp/options.pptpd"
run_init || fail "start_service failed: $(cat "$D/init.stderr")"
C=$D/$GEN/pptpd.conf
has_line "$C" "option $D/$GEN/options.pptpd"
has_line "$C" "chap-secrets $D/$GEN/chap-secrets"
has_line "$C" "localip 192.168.0.1"
has_line "$C" "remoteip 192.168.0.20-30"
has_line "$C" "firewall on"
has_line "$C" "forwarding on"
has_line "$C" "stimeout 10"
lacks_text "$C" "logwtmp"
lacks_text "$C" "connections"
has_line "$D/$GEN/options.pptpd" 'name "pptp-server"'
has_line "$D/$GEN/options.pptpd" "mppe required,no40,no56,stateless"
lacks_text "$D/$GEN/options.pptpd" "ms-dns"
has_line "$D/$GEN/chap-secrets" '"youruser" * "yourpass" *'
[ "$(grep -vc '^#' "$D/$GEN/chap-secrets")" = 1 ] || fail "chap-secrets: one login expected"
case "$(ls -l "$D/$GEN/chap-secrets")" in
-rw-------*) ;;
*) fail "chap-secrets is not mode 600: $(ls -l "$D/$GEN/chap-secrets")" ;;
esac
T=$D/procd.trace
has_line "$T" "procd_set_param command /usr/sbin/smolpptpd -c $D/$GEN/pptpd.conf -o $D/$GEN/options.pptpd --fg"
has_line "$T" "procd_set_param respawn"
has_line "$T" "procd_set_param stderr 1"
has_line "$T" "procd_set_param reload_signal HUP"
has_line "$T" "procd_set_param file $D/$GEN/pptpd.conf $D/$GEN/options.pptpd $D/$GEN/chap-secrets"
has_line "$T" "procd_close_instance"
# pptpd's default of 100 connections, cut to the pool (pptpd logs the same).
FEWER="Maximum of [0-9]+ connections reduced to 11"
run_check "$FEWER"
has_line "$D/check.out" "backend tun: TUN smolpptp0 (192.168.0.1 peer 169.254.23.1), smoltcp at 169.254.23.1, 11 client addresses, 11 sessions"
grep -qF '192.168.0.20-192.168.0.30' "$D/check.out" || fail "the pool is not in the firewall rules"
grep -qF '# firewall on' "$D/check.out" || fail "firewall is not on"

# 3. A router moving from pptpd: its /etc/config/pptpd copied verbatim (section
#    'pptpd', quoted option names), its /etc/pptpd.conf and /etc/ppp/options.pptpd
#    as OpenWrt's pptpd package ships them, and /etc/ppp/chap-secrets left as the
#    symlink pptpd's init script makes (dangling after a reboot).
new_case from-pptpd
cat >"$D/etc/config/smolpptpd" <<'EOF'
config service 'pptpd'
	option 'enabled' '1'
	option 'localip' '192.168.0.1'
	option 'remoteip' '192.168.0.20-30'

config 'login'
	option 'username' 'youruser'
	option 'password' 'yourpass'

config 'login'
	option 'username' 'road warrior'
	option 'password' 'a "quoted" pa\ss#1'
	option 'remoteip' '192.168.0.40'

config 'login'
	option 'username' 'nopassword'
EOF
cat >"$D/etc/pptpd.conf" <<'EOF'
#debug
speed 115200
stimeout 10
#localip & remoteip are not needed, ip management is done by pppd
EOF
cat >"$D/etc/ppp/options.pptpd" <<'EOF'
#debug
#logfile /tmp/pptp-server.log
auth
name "pptp-server"
lcp-echo-failure 3
lcp-echo-interval 60
default-asyncmap
mtu 1482
mru 1482
nobsdcomp
nodeflate
#noproxyarp
#nomppc
require-mschap-v2
refuse-chap
refuse-mschap
refuse-eap
refuse-pap
#ms-dns 172.16.1.1
#plugin radius.so
#radius-config-file /etc/radius.conf
EOF
ln -s /var/etc/chap-secrets "$D/etc/ppp/chap-secrets"
run_init || fail "start_service failed: $(cat "$D/init.stderr")"
C=$D/$GEN/pptpd.conf
has_line "$C" "localip 192.168.0.1"
has_line "$C" "remoteip 192.168.0.20-30"
has_line "$C" "speed 115200"
has_line "$D/$GEN/options.pptpd" "mtu 1482"
has_line "$D/$GEN/options.pptpd" "mppe required,no40,no56,stateless"
S=$D/$GEN/chap-secrets
has_line "$S" '"youruser" * "yourpass" *'
has_line "$S" '"road warrior" * "a \"quoted\" pa\\ss#1" 192.168.0.40'
lacks_text "$S" nopassword
lacks_text "$S" "/var/etc/chap-secrets"
run_check "$FEWER"

# 4. smolpptpd's own UCI options, an admin's chap-secrets and pptpd.conf lines:
#    UCI comes first in pptpd.conf, so its localip beats the file's.
new_case own-options
cat >"$D/etc/config/smolpptpd" <<'EOF'
config service 'smolpptpd'
	option enabled 'yes'
	option localip '10.9.0.1'
	option remoteip '10.9.0.100-119'
	list mppe 'required'
	list mppe 'no40'
	list mppe 'no56'
	list dns '10.9.0.1'
	list dns '9.9.9.9'
	option connections '5'
	option firewall '0'
	option forwarding 'off'
	option logwtmp '1'

config login
	option username 'alice'
	option password 's3cret'
EOF
printf 'localip 172.16.0.1\nlisten 127.0.0.1\n' >"$D/etc/pptpd.conf"
cp "$FILES/options.pptpd" "$D/etc/ppp/options.pptpd"
printf '# admin file\nbob * "b0b pass" *\n' >"$D/etc/ppp/chap-secrets"
run_init || fail "start_service failed: $(cat "$D/init.stderr")"
C=$D/$GEN/pptpd.conf
has_line "$C" "localip 10.9.0.1"
has_line "$C" "connections 5"
has_line "$C" "firewall off"
has_line "$C" "forwarding off"
has_line "$C" "logwtmp"
has_line "$C" "listen 127.0.0.1"
O=$D/$GEN/options.pptpd
has_line "$O" "mppe required,no40,no56"
has_line "$O" "ms-dns 10.9.0.1"
has_line "$O" "ms-dns 9.9.9.9"
S=$D/$GEN/chap-secrets
has_line "$S" '"alice" * "s3cret" *'
has_line "$S" 'bob * "b0b pass" *'
run_check "connections limit \\(5\\) reached"
has_line "$D/check.out" "backend tun: TUN smolpptp0 (10.9.0.1 peer 169.254.23.1), smoltcp at 169.254.23.1, 5 client addresses, 5 sessions"
grep -qF '# firewall off' "$D/check.out" || fail "firewall is not off"

# 5. A value validation rejects: nothing starts, and the reason is printed.
new_case invalid
printf "config service 'smolpptpd'\n\toption enabled 'maybe'\n" >"$D/etc/config/smolpptpd"
if run_init; then fail "start_service succeeded with enabled 'maybe'"; fi
grep -q "validation of section 'smolpptpd' failed" "$D/init.stderr" ||
	fail "no validation message: $(cat "$D/init.stderr")"
grep -q procd_open_instance "$D/procd.trace" && fail "an instance was opened"

# 6. No service section at all.
new_case no-service
printf "config login\n\toption username 'u'\n\toption password 'p'\n" >"$D/etc/config/smolpptpd"
if run_init; then fail "start_service succeeded without a service section"; fi
grep -q procd_open_instance "$D/procd.trace" && fail "an instance was opened"

if [ "$FAILS" -ne 0 ]; then
	echo "initscript_test: $FAILS check(s) failed" >&2
	exit 1
fi
echo "initscript_test: all checks passed"
