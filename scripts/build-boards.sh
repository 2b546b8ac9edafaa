#!/usr/bin/env bash
# Builds the static `smolpptpd` for every board in boards/ (or the ones named), checks that
# each binary is statically linked and within the size ceiling, runs it under qemu-user
# (`--version`, then `check` on the sample configs in configs/ when the binary has it), and
# prints a table: target, stripped size, session maximum, static RAM, and (for the router boards
# i586, armv7, aarch64 and mipsel, as root) whether a whole session with the test client passed
# with the binary under qemu-user.
#
#   scripts/build-boards.sh                 # every board
#   scripts/build-boards.sh armv7 aarch64   # a subset
#
# Route: nightly `-Z build-std` with panic=immediate-abort for every board (.cargo/small.toml),
# linked without Docker by Debian's cross gcc (.cargo/debian-musl.toml) against musl built from
# source with -Os as position-dependent code (scripts/build-musl.sh).
# On a fresh Debian machine run as root, it installs what it needs with apt-get and rustup.
# Nothing is cached outside target/.
#
# Environment:
#   SMOLPPTP_NIGHTLY   rustup toolchain to build with (default: nightly)
#   SIZE_CEILING       hard limit for every binary in bytes (default 262144 = 256 KiB)
#   SIZE_GOAL          goal for armv7 and i586 in bytes (default 131072 = 128 KiB); a miss warns
#   SIZE_CEILING_EXEMPT  boards whose size above the ceiling is reported instead of failing:
#                      .ci/run names the boards still above it (README "Sizes"); every other
#                      board above the ceiling fails the run
#   NO_INSTALL=1       never call apt-get or rustup to install; just report what is missing
#   SESSION_BOARDS     boards whose binary also runs a whole session under qemu-user in network
#                      namespaces (default "i586 armv7 aarch64 mipsel"; needs root, iproute2
#                      and nftables)
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_BOARDS=(x86_64 i586 i686 armv7 aarch64 mipsel)
GOAL_BOARDS=" armv7 i586 "
NIGHTLY=${SMOLPPTP_NIGHTLY:-nightly}
SIZE_CEILING=${SIZE_CEILING:-262144}
SIZE_GOAL=${SIZE_GOAL:-131072}
SESSION_BOARDS=${SESSION_BOARDS-i586 armv7 aarch64 mipsel}
BIN=smolpptpd

say() { printf '%s\n' "$*" >&2; }
die() { say "build-boards: $*"; exit 1; }

# --- what each board needs --------------------------------------------------------------

board_value() { # board key -> value from boards/<board>.toml (same rules as build.rs)
  sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "boards/$1.toml" | sed 's/#.*//; s/"//g; s/[[:space:]]*$//' | head -n1
}
debian_arch() {
  case $1 in
    x86_64-*) echo amd64 ;; i586-* | i686-*) echo i386 ;; armv7-*) echo armhf ;;
    aarch64-*) echo arm64 ;; mipsel-*) echo mipsel ;; *) die "no Debian architecture known for $1" ;;
  esac
}
debian_gcc() { # package and command of the gcc that links the target
  case $1 in
    x86_64-*) echo "gcc-x86-64-linux-gnu x86_64-linux-gnu-gcc" ;;
    i586-* | i686-*) echo "gcc-i686-linux-gnu i686-linux-gnu-gcc" ;;
    armv7-*) echo "gcc-arm-linux-gnueabihf arm-linux-gnueabihf-gcc" ;;
    aarch64-*) echo "gcc-aarch64-linux-gnu aarch64-linux-gnu-gcc" ;;
    mipsel-*) echo "gcc-mipsel-linux-gnu mipsel-linux-gnu-gcc" ;;
  esac
}
musl_dir() {
  case $(debian_arch "$1") in
    amd64) echo /usr/lib/x86_64-linux-musl ;; i386) echo /usr/lib/i386-linux-musl ;;
    armhf) echo /usr/lib/arm-linux-musleabihf ;; arm64) echo /usr/lib/aarch64-linux-musl ;;
    mipsel) echo /usr/lib/mipsel-linux-musl ;;
  esac
}
qemu_for() { # qemu-user binary and a CPU no better than the board's oldest
  case $1 in
    x86_64-*) echo "qemu-x86_64-static -cpu qemu64" ;;
    i586-*) echo "qemu-i386-static -cpu pentium" ;; # no SSE2, no CMOV: what i586 promises
    i686-*) echo "qemu-i386-static" ;;
    armv7-*) echo "qemu-arm-static -cpu cortex-a7" ;;
    aarch64-*) echo "qemu-aarch64-static -cpu cortex-a53" ;;
    mipsel-*) echo "qemu-mipsel-static -cpu 24KEc" ;; # MT7628's core, no FPU
  esac
}
pointer_bytes() { case $1 in x86_64-* | aarch64-*) echo 8 ;; *) echo 4 ;; esac; }

# --- which boards -----------------------------------------------------------------------

if [ $# -gt 0 ]; then BOARDS=("$@"); else BOARDS=("${ALL_BOARDS[@]}"); fi
declare -A TARGET
for b in "${BOARDS[@]}"; do
  [ -f "boards/$b.toml" ] || die "no board file boards/$b.toml (boards: ${ALL_BOARDS[*]})"
  t=$(board_value "$b" target)
  [ -n "$t" ] || die "boards/$b.toml names no target"
  case $t in *-linux-musl*) ;; *) die "boards/$b.toml: target $t is not a Linux musl target; this script builds static musl binaries" ;; esac
  TARGET[$b]=$t
done

# --- install what is missing ------------------------------------------------------------

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_packages() {
  local arches=() pkgs=() p a native
  native=$(dpkg --print-architecture)
  for p in qemu-user-static binutils make curl; do installed "$p" || pkgs+=("$p"); done
  for b in "${BOARDS[@]}"; do
    t=${TARGET[$b]}
    a=$(debian_arch "$t")
    read -r p _ <<<"$(debian_gcc "$t")"
    # The native gcc is the package `gcc`; the x86-64 "cross" one only exists off amd64.
    [ "$a" = "$native" ] && [ "$a" = amd64 ] && p=gcc
    installed "$p" || pkgs+=("$p")
    if [ "$a" = "$native" ]; then
      # Name the architecture: a bare `musl-dev` also matches musl-dev:<foreign arch>.
      installed "musl-dev:$a" || pkgs+=("musl-dev:$a")
    else
      installed "musl-dev:$a" || pkgs+=("musl-dev:$a")
      dpkg --print-foreign-architectures | grep -qx "$a" || arches+=("$a")
    fi
  done
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u | sed '/^$/d')
  [ ${#pkgs[@]} -eq 0 ] && return 0
  if [ "${NO_INSTALL:-}" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "missing Debian packages: ${pkgs[*]} (run as root on Debian, or install them; foreign architectures to add: ${arches[*]:-none})"
  fi
  say "== installing: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for a in $(printf '%s\n' "${arches[@]}" | sort -u); do dpkg --add-architecture "$a"; done
  # The first update after adding an architecture often fails on one index ("File has
  # unexpected size ... Mirror sync in progress?"); apt still exits 0 for partial failures,
  # and the packages we need come from the main archive, so retry, then try the install.
  local try
  for try in 1 2 3; do
    if apt-get update -qq; then break; fi
    say "apt-get update failed (try $try), retrying"; sleep $((try * 3))
  done
  for try in 1 2; do
    if apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then return 0; fi
    say "apt-get install failed (try $try), updating the indexes again"
    apt-get update -qq || true
  done
  die "could not install: ${pkgs[*]}"
}

install_rust() {
  if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
    [ "${NO_INSTALL:-}" = 1 ] && die "rust toolchain $NIGHTLY is missing"
    say "== rustup: installing $NIGHTLY"
    rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src
  fi
  local sysroot
  sysroot=$(rustup run "$NIGHTLY" rustc --print sysroot)
  if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
    [ "${NO_INSTALL:-}" = 1 ] && die "rust-src for $NIGHTLY is missing (-Z build-std needs it)"
    say "== rustup: adding rust-src to $NIGHTLY"
    rustup component add rust-src --toolchain "$NIGHTLY"
  fi
}

command -v dpkg-query >/dev/null || die "this script installs with Debian's apt; on another system install the packages by hand (see README)"
install_packages
install_rust

# --- build, check, run ------------------------------------------------------------------

# Sample configurations for `check`: configs/ copied into target/, with the /etc/ppp/... and
# /etc/... paths inside them (option, chap-secrets) pointed at the copies.
SAMPLE_CONFS=()
if [ -d configs ] && [ -n "$(find configs -maxdepth 1 -name 'pptpd*.conf' -print -quit)" ]; then
  stage=$PWD/target/board-configs
  rm -rf "$stage"
  mkdir -p "$stage"
  cp configs/* "$stage/" 2>/dev/null || true
  for f in "$stage"/*; do
    for g in "$stage"/*; do
      n=$(basename "$g")
      sed -i "s#/etc/ppp/$n\b#$g#g; s#/etc/$n\b#$g#g" "$f"
    done
  done
  mapfile -t SAMPLE_CONFS < <(find "$stage" -maxdepth 1 -name 'pptpd*.conf' -type f | sort)
fi

const_in_source() { # name default -> value of `pub const NAME: usize = N;` in src/limits.rs
  local v
  v=$(sed -n "s/.*pub const $1: usize = \([0-9_]*\);.*/\1/p" src/limits.rs | tr -d _ | head -n1)
  echo "${v:-$2}"
}
MAX_PPP_FRAME=$(const_in_source MAX_PPP_FRAME 1532)
MAX_CONTROL_FRAME=$(const_in_source MAX_CONTROL_FRAME 300)

# RAM the limits reserve, in bytes: the server's storage, which the daemon allocates once at
# start (TCP buffers of every control socket, the raw GRE socket's buffers and metadata,
# smoltcp's socket storage, the session table) plus the Server struct itself. The per-item
# sizes are size_of values measured on x86_64 and i686 (README, "Static RAM"); a session is
# its reorder slots and control queue plus about 1.7-1.9 KiB of PPP/MPPE/GRE state.
tables_bytes() { # board target
  local b=$1 p sessions control
  p=$(pointer_bytes "$2")
  sessions=$(board_value "$b" max_sessions)
  control=$(board_value "$b" max_control_connections)
  local socket_storage=$((p == 8 ? 416 : 300)) raw_meta=$((2 * p))
  local slot=$((MAX_PPP_FRAME + (p == 8 ? 20 : 16))) session_state=$((p == 8 ? 1904 : 1728))
  local control_slot=$((p == 8 ? 72 : 60)) server_state=$((p == 8 ? 5736 : 5528))
  echo $((control * ($(board_value "$b" tcp_rx_buffer) + $(board_value "$b" tcp_tx_buffer)
    + socket_storage + control_slot) + socket_storage
    + $(board_value "$b" gre_rx_buffer) + $(board_value "$b" gre_tx_buffer)
    + ($(board_value "$b" gre_rx_packets) + $(board_value "$b" gre_tx_packets)) * raw_meta
    + sessions * ($(board_value "$b" reorder_slots) * slot
      + $(board_value "$b" control_queue) * (MAX_CONTROL_FRAME + 8) + session_state)
    + server_state))
}

# Writable sections the binary reserves (.data, .bss, .got, .tbss, ...): readelf -S, flags W+A.
writable_bytes() {
  local total=0 size flags
  # [Nr] Name Type Address Off Size ES Flg Lk Inf Al
  while read -r size flags; do
    [[ $flags == *W* && $flags == *A* ]] && total=$((total + 16#$size))
  done < <(readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] *//p' | awk '{ print $5, $7 }')
  echo "$total"
}

is_static() { # no program interpreter and no shared libraries
  ! readelf -lW "$1" | grep -q 'INTERP' && ! readelf -dW "$1" 2>/dev/null | grep -q '(NEEDED)'
}

kib() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1024 }'; }

FAILED=()
ROWS=()
NOTES=()
for b in "${BOARDS[@]}"; do
  t=${TARGET[$b]}
  say ""
  say "== $b: $t"
  start=$SECONDS
  # musl from source, small and position-dependent (scripts/build-musl.sh says why); cargo does
  # not track the C library, so a rebuilt one forces the link.
  if ! scripts/build-musl.sh "$t"; then
    FAILED+=("$b: building musl failed")
    ROWS+=("$b|$t|-|-|-|-|-|-|musl build failed")
    continue
  fi
  if [ "target/musl/$t/stamp" -nt "target/$t/release/$BIN" ]; then
    rm -f "target/$t/release/$BIN" "target/$t/release/deps/$BIN"-*
  fi
  if ! SMOLPPTP_BOARD=$b cargo "+$NIGHTLY" build --release --locked --bin "$BIN" --target "$t" \
    --config .cargo/small.toml --config .cargo/debian-musl.toml; then
    FAILED+=("$b: build failed")
    ROWS+=("$b|$t|-|-|-|-|-|-|build failed")
    continue
  fi
  exe=target/$t/release/$BIN
  size=$(stat -c %s "$exe")
  status=ok
  if ! is_static "$exe"; then
    FAILED+=("$b: not statically linked")
    status="NOT STATIC"
  fi
  if [ "$size" -gt "$SIZE_CEILING" ] && [[ " ${SIZE_CEILING_EXEMPT:-} " == *" $b "* ]]; then
    NOTES+=("$b: $size bytes is above the ceiling of $SIZE_CEILING (in SIZE_CEILING_EXEMPT: reported, not failed)")
    status="over ceiling"
  elif [ "$size" -gt "$SIZE_CEILING" ]; then
    FAILED+=("$b: $size bytes is above the ceiling of $SIZE_CEILING")
    status="OVER CEILING"
  elif [[ $GOAL_BOARDS == *" $b "* ]] && [ "$size" -gt "$SIZE_GOAL" ]; then
    NOTES+=("$b: $size bytes misses the goal of $SIZE_GOAL")
    status="over goal"
  fi

  # mipsel: MT7621/MT7628 have no FPU, and OpenWrt kernels have no FPU emulator, so one FPU
  # instruction there is a SIGILL. Our musl is built soft-float like Rust's target; this
  # catches a link against Debian's hard-float musl-dev:mipsel (the link script's fallback).
  if [[ $t == mips* ]]; then
    tab=$'\t'
    fpu=$(mipsel-linux-gnu-objdump -d "$exe" | grep -cE "$tab(lwc1|swc1|ldc1|sdc1|mtc1|mfc1|mthc1|mfhc1|ctc1|cfc1|bc1[ft]|(add|sub|mul|div|sqrt|abs|neg|mov|cvt|trunc|round|ceil|floor)[.][a-z.]+|c[.][a-z]+[.][sd])($tab|$)" || true)
    if [ "$fpu" -gt 0 ]; then
      FAILED+=("$b: $fpu FPU instructions (a hard-float musl?): it would die with SIGILL on an FPU-less router")
      status="FPU CODE"
    else
      say "no FPU instructions"
    fi
  fi

  reported=
  # --version under qemu: must run, and print this board's limits once main.rs prints them.
  read -r -a qemu <<<"$(qemu_for "$t")"
  if ! out=$("${qemu[@]}" "$exe" --version 2>&1); then
    FAILED+=("$b: '$BIN --version' failed under ${qemu[*]}: $out")
    status="RUN FAILED"
  elif grep -q '^max_sessions' <<<"$out"; then
    say "$out"
    # A binary that reports its own storage size (a `storage_bytes = N` line) beats the estimate.
    reported=$(sed -n 's/^\(storage\|tables\|memory\)[a-z_]* *= *\([0-9][0-9]*\).*/\2/p' <<<"$out" | head -n1)
    for key in max_sessions max_control_connections tcp_rx_buffer gre_rx_buffer reorder_slots; do
      want=$(board_value "$b" "$key")
      got=$(sed -n "s/^$key *= *//p" <<<"$out")
      [ "$got" = "$want" ] || { FAILED+=("$b: --version says $key = $got, boards/$b.toml says $want"); status="WRONG LIMITS"; }
    done
  else
    say "skip: this $BIN does not print its limits with --version yet (it printed: ${out:0:80})"
  fi

  # check on the sample configs, when there are some and the binary has the command.
  if [ ${#SAMPLE_CONFS[@]} -eq 0 ]; then
    [ "$b" = "${BOARDS[0]}" ] && say "skip: no sample configs (configs/pptpd*.conf) to check yet"
  else
    for conf in "${SAMPLE_CONFS[@]}"; do
      # The configuration is what is checked here; the host findings (TUN device, nft,
      # ip_forward) are about this build machine, not the router, so they only get reported.
      # `check` prints its "backend ..." summary once the files loaded and planned.
      name=configs/$(basename "$conf")
      if out=$("${qemu[@]}" "$exe" check -c "$conf" 2>&1); then
        say "check $name: ok"
      elif grep -q '^backend ' <<<"$out"; then
        say "check $name: configuration ok; host findings on this build machine: $(grep '^error:' <<<"$out" | tr '\n' ' ')"
      elif grep -qiE 'not yet|unknown (option|command)|usage:' <<<"$out"; then
        say "skip: this $BIN does not have 'check' yet (it printed: $(head -n1 <<<"$out"))"
        break
      else
        FAILED+=("$b: '$BIN check -c $name' failed: $(tail -n3 <<<"$out")")
        status="CHECK FAILED"
      fi
    done
  fi

  # A whole session under qemu-user: the project's test client in one network namespace, this
  # binary (run by qemu) in another, over both backends: connect, MS-CHAPv2, MPPE-128, traffic
  # both ways, hang-up (tests/netns.rs, with SMOLPPTP_TEST_DAEMON pointing at the board's binary).
  session=-
  if [[ " $SESSION_BOARDS " == *" $b "* ]]; then
    if [ "$(id -u)" != 0 ]; then
      session="skipped (needs root)"
      NOTES+=("$b: whole-session test skipped: network namespaces need root")
    elif SMOLPPTP_TEST_DAEMON="${qemu[*]} $PWD/$exe" cargo test --locked -q --test netns \
      backend_session_carries_traffic_both_ways_and_hangs_up >"target/$b-session.log" 2>&1 &&
      grep -q "test result: ok. 2 passed" "target/$b-session.log"; then
      session="tun+raw ok"
    else
      session="FAILED"
      FAILED+=("$b: whole session under qemu-user failed: $(grep -E 'panicked|FAILED|error' "target/$b-session.log" | head -n3 | tr '\n' ' ')")
    fi
    say "session under ${qemu[*]}: $session"
  fi

  ROWS+=("$b|$t|$size|$(kib "$size")|$(board_value "$b" max_sessions)|$(writable_bytes "$exe")|${reported:-~$(tables_bytes "$b" "$t")}|$session|$status ($((SECONDS - start)) s)")
done

# --- the table ----------------------------------------------------------------------------

say ""
table_row() { printf '%-8s %-31s %10s %7s %8s %11s %11s  %-12s %s\n' "$@"; }
table_row board target "stripped" KiB sessions ".data+.bss" tables "session" result
for row in "${ROWS[@]}"; do
  IFS='|' read -r -a cols <<<"$row"
  table_row "${cols[@]}"
done
say "ceiling $SIZE_CEILING bytes on every board; goal $SIZE_GOAL bytes on armv7 and i586."
say ".data+.bss: writable sections in the binary. tables: the server storage the limits reserve, allocated once at start (~: estimated from the limits, README \"Static RAM\")."
for n in "${NOTES[@]}"; do say "note: $n"; done
if [ ${#FAILED[@]} -gt 0 ]; then
  for f in "${FAILED[@]}"; do say "FAILED: $f"; done
  exit 1
fi
