#!/usr/bin/env bash
# Builds musl's libc.a and start files for one Rust musl target from source, the way a router
# toolchain (OpenWrt's) builds it: -Os, position-dependent, and for mipsel soft-float like
# Rust's target. .cargo/debian-musl/link links the board against target/musl/<triple>/ when
# this has run, and against Debian's musl-dev:<arch> otherwise.
#
#   scripts/build-musl.sh <rust-target-triple>...
#
# Why not Debian's musl-dev: it is built -O2 as position-independent code (on i386 every
# function finds its data through EBX, on MIPS through $gp and the GOT), and on i386 for
# i686, so its string functions may use CMOV, which i586-class CPUs lack. On mipsel it is
# hard-float where Rust's target is soft-float. Measured on the whole daemon (stripped):
# mipsel -4,168 bytes, i586 -4,672.
#
# The source is Debian's own copy of the musl release that musl-dev has (1.2.3), checked by
# SHA-256. Needs the target's Debian cross gcc (scripts/build-boards.sh installs it), make
# and curl. About 30-60 s a target on two cores; nothing is rebuilt when the flags are the
# same.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.2.3
SHA256=7d5b0b6062521e4627e099e4c9dc8248d32a30285e959b7eecaa780cf8cfd4a4
URL=http://deb.debian.org/debian/pool/main/m/musl/musl_$VERSION.orig.tar.gz
OUT=target/musl

[ $# -gt 0 ] || { echo "usage: $0 <rust-target-triple>..." >&2; exit 2; }

tarball=$OUT/musl_$VERSION.orig.tar.gz
if ! echo "$SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
  mkdir -p "$OUT"
  curl -fsSL --retry 3 -o "$tarball.part" "$URL"
  echo "$SHA256  $tarball.part" | sha256sum -c --status ||
    { echo "build-musl: $URL does not have the expected SHA-256" >&2; exit 1; }
  mv "$tarball.part" "$tarball"
fi

for triple in "$@"; do
  # Common: small, position-dependent (the daemon is a static non-PIE executable), and each
  # function in its own section so the linker drops what the daemon never calls.
  cflags="-Os -fno-pic -fno-pie -ffunction-sections -fdata-sections"
  case $triple in
    x86_64-unknown-linux-musl) cc=x86_64-linux-gnu ;;
    i586-unknown-linux-musl) cc=i686-linux-gnu cflags+=" -march=i586" ;;
    i686-unknown-linux-musl) cc=i686-linux-gnu cflags+=" -march=i686" ;;
    # Thumb-2 like the Rust code (.cargo/small.toml); the hard-float ABI of the target.
    armv7-unknown-linux-musleabihf) cc=arm-linux-gnueabihf cflags+=" -march=armv7-a -mthumb -mfpu=vfpv3-d16 -mfloat-abi=hard" ;;
    aarch64-unknown-linux-musl) cc=aarch64-linux-gnu ;;
    # Rust's mipsel target is soft-float; -mno-shared: abicalls objects (as the Rust ones
    # are) with position-dependent code, as gcc builds non-PIE executables.
    mipsel-unknown-linux-musl) cc=mipsel-linux-gnu cflags+=" -msoft-float -mabicalls -mno-shared" ;;
    *) echo "build-musl: no recipe for $triple" >&2; exit 2 ;;
  esac
  dest=$OUT/$triple
  stamp="musl $VERSION $cc $cflags"
  if [ -f "$dest/lib/libc.a" ] && [ "$(cat "$dest/stamp" 2>/dev/null)" = "$stamp" ]; then
    continue
  fi
  command -v "$cc-gcc" >/dev/null || { echo "build-musl: $cc-gcc is missing (scripts/build-boards.sh installs it)" >&2; exit 1; }
  echo "build-musl: $triple ($cflags)"
  rm -rf "$dest"
  mkdir -p "$dest/src"
  tar xzf "$tarball" -C "$dest/src" --strip-components=1
  (
    cd "$dest/src"
    ./configure --target="$cc" --disable-shared CROSS_COMPILE="$cc-" CC="$cc-gcc" CFLAGS="$cflags" >../configure.log 2>&1 ||
      { tail -n 20 ../configure.log >&2; exit 1; }
    make -j"$(nproc)" lib/libc.a lib/crt1.o lib/crti.o lib/crtn.o >../make.log 2>&1 ||
      { tail -n 20 ../make.log >&2; exit 1; }
  )
  mkdir -p "$dest/lib"
  cp "$dest/src/lib/libc.a" "$dest/src/lib/crt1.o" "$dest/src/lib/crti.o" "$dest/src/lib/crtn.o" "$dest/lib/"
  rm -rf "$dest/src"
  echo "$stamp" >"$dest/stamp"
done
