# Minimal stand-ins for the OpenWrt shell libraries an init script uses
# (/lib/functions.sh, /lib/functions/procd.sh, /sbin/validate_data), so the
# smolpptpd init script's file generation runs under a plain POSIX sh.
#
# UCI files are shell-shaped (`config TYPE 'name'`, `option KEY 'value'`,
# `list KEY 'value'`), and OpenWrt's own config_load evaluates them the same way:
# through the functions config/option/list below. Set UCI_CONFIG_DIR and
# PROCD_TRACE (a file that receives one line per procd call) before use.

CONFIG_SECTIONS=
CONFIG_SECTION=
CONFIG_ANON=0

config() {
	local type="$1" name="$2"
	if [ -z "$name" ]; then
		CONFIG_ANON=$((CONFIG_ANON + 1))
		name="cfg$CONFIG_ANON"
	fi
	CONFIG_SECTION="$name"
	CONFIG_SECTIONS="$CONFIG_SECTIONS $name"
	eval "CONFIG_${name}_TYPE=\$type"
}

option() {
	eval "CONFIG_${CONFIG_SECTION}_$1=\$2"
}

list() {
	local old
	eval "old=\${CONFIG_${CONFIG_SECTION}_$1:-}"
	eval "CONFIG_${CONFIG_SECTION}_$1=\"\${old:+\$old }\$2\""
}

config_load() {
	local s
	for s in $CONFIG_SECTIONS; do
		unset "CONFIG_${s}_TYPE"
	done
	CONFIG_SECTIONS=
	CONFIG_ANON=0
	[ -f "$UCI_CONFIG_DIR/$1" ] || return 1
	. "$UCI_CONFIG_DIR/$1"
}

# config_get VAR SECTION OPTION [DEFAULT]
config_get() {
	local value
	eval "value=\${CONFIG_${2}_${3}:-}"
	eval "$1=\${value:-\${4:-}}"
}

# config_foreach FUNCTION TYPE [ARGS...]: FUNCTION SECTION [ARGS...] per section.
config_foreach() {
	local fn="$1" type="$2" s stype
	shift 2
	for s in $CONFIG_SECTIONS; do
		eval "stype=\${CONFIG_${s}_TYPE:-}"
		[ "$stype" = "$type" ] && "$fn" "$s" "$@"
	done
	return 0
}

# validate_data's checks for the types our init scripts use; the value of a
# bool comes out as 0 or 1, like /sbin/validate_data prints it.
fake_validate() {
	local var="$1" type="$2" value="$3" item
	case "$type" in
	bool)
		case "$value" in
		1 | yes | on | true | enabled) eval "$var=1" ;;
		0 | no | off | false | disabled) eval "$var=0" ;;
		*) return 1 ;;
		esac
		;;
	uinteger)
		case "$value" in
		'' | *[!0-9]*) return 1 ;;
		esac
		;;
	'list(ipaddr)')
		for item in $value; do
			echo "$item" | grep -Eq '^[0-9]{1,3}(\.[0-9]{1,3}){3}$' || return 1
		done
		;;
	string | 'list(string)') ;;
	*)
		echo "fake_validate: no check for type '$type'" >&2
		return 1
		;;
	esac
}

# uci_load_validate PACKAGE TYPE SECTION CALLBACK SPEC...: each SPEC is
# NAME:TYPE[:DEFAULT]; NAME becomes a local of the caller (and thus visible to
# CALLBACK, as in OpenWrt's procd.sh), then CALLBACK SECTION RESULT runs.
uci_load_validate() {
	local _package="$1" _type="$2" _name="$3" _function="$4" _spec _var _rest _vtype _default _value _result=0
	shift 4
	for _spec in "$@"; do
		eval "local ${_spec%%:*}"
	done
	for _spec in "$@"; do
		_var="${_spec%%:*}"
		_rest="${_spec#*:}"
		_vtype="${_rest%%:*}"
		_default=
		[ "$_vtype" = "$_rest" ] || _default="${_rest#*:}"
		config_get "$_var" "$_name" "$_var" "$_default"
		eval "_value=\${$_var}"
		[ -z "$_value" ] || fake_validate "$_var" "$_vtype" "$_value" || _result=1
	done
	[ -n "$_function" ] || return $_result
	"$_function" "$_name" "$_result"
}

procd_open_instance() { echo "procd_open_instance $*" >> "$PROCD_TRACE"; }
procd_set_param() { echo "procd_set_param $*" >> "$PROCD_TRACE"; }
procd_append_param() { echo "procd_append_param $*" >> "$PROCD_TRACE"; }
procd_close_instance() { echo "procd_close_instance" >> "$PROCD_TRACE"; }
procd_add_reload_trigger() { echo "procd_add_reload_trigger $*" >> "$PROCD_TRACE"; }
procd_open_validate() { :; }
procd_close_validate() { :; }
