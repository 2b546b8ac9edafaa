#!/bin/bash
# Build the end-to-end test VM: Debian 12's own kernel (it has PPP and MPPE as
# modules; the host kernel here has no PPP at all) and an initramfs holding
# busybox, the real PPTP client (pptp-linux + pppd), PoPToP pptpd as the
# reference server, iperf3, tcpdump, iproute2, nftables, iptables-nft and ethtool.
#
# Everything comes from Debian packages fetched with `apt-get download` into
# tests/vm/cache; outputs go to tests/vm/out (vmlinuz, initrd.img).
# Idempotent: packages are downloaded and extracted once, and the initramfs is
# only rebuilt when this script, guest/ or the package set changed.
#
# Env: SKIP_HOST_TOOLS=1  do not apt-get install missing host tools
#      KERNEL_PKG=linux-image-6.1.0-NN-amd64  (default: what linux-image-amd64 points to)
#      FORCE=1            rebuild the initramfs even when up to date
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="$HERE/cache"
DEBS="$CACHE/debs"
SYSROOT="$CACHE/sysroot"
OUT="$HERE/out"
ROOT="$OUT/root"

log() { echo "[vm-build] $*" >&2; }
die() { echo "[vm-build] ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get, device nodes in the initramfs)"

# ---------------------------------------------------------------- host tools
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio    >/dev/null || need+=(cpio)
command -v depmod  >/dev/null || [ -x /usr/sbin/depmod ] || need+=(kmod)
command -v readelf >/dev/null || need+=(binutils)
command -v gzip    >/dev/null || need+=(gzip)
apt_updated=0
apt_update_once() { [ $apt_updated = 1 ] || { log "apt-get update"; apt-get update -qq >/dev/null; apt_updated=1; }; }
if [ ${#need[@]} -gt 0 ]; then
    [ "${SKIP_HOST_TOOLS:-0}" = 1 ] && die "missing host tools: ${need[*]}"
    log "installing host tools: ${need[*]}"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt_update_once; apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
DEPMOD="$(command -v depmod || echo /usr/sbin/depmod)"

# ---------------------------------------------------------------- packages
if [ -z "${KERNEL_PKG:-}" ]; then
    # keep the kernel already in the cache (stable runs, no archive look-up);
    # an empty cache takes the one linux-image-amd64 points to today
    cached="$(ls "$DEBS"/linux-image-[0-9]*.deb 2>/dev/null | sort -V | tail -1 || true)"
    [ -n "$cached" ] && KERNEL_PKG="$(basename "$cached" | cut -d_ -f1)"
fi
if [ -z "${KERNEL_PKG:-}" ]; then
    resolve_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
    KERNEL_PKG="$(resolve_kernel)"
    [ -n "$KERNEL_PKG" ] || { apt_update_once; KERNEL_PKG="$(resolve_kernel)"; }
    [ -n "$KERNEL_PKG" ] || die "cannot resolve linux-image-amd64"
fi
KVER="${KERNEL_PKG#linux-image-}"

PKGS=(
    "$KERNEL_PKG"
    ppp pptp-linux pptpd iperf3 libiperf0 busybox-static iproute2 netbase
    nftables iptables ethtool tcpdump
)
# The DT_NEEDED closure of the programs above.  resolve() below stops with the
# missing soname if a package is lacking: add it here.
LIBPKGS=(
    libc6 libgcc-s1 libcrypt1 libpam0g libaudit1 libcap-ng0 libssl3
    libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
    libpcap0.8 libdbus-1-3 libwrap0 libnsl2 libtirpc3 libgssapi-krb5-2
    libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1
    libsctp1 libbpf1 libelf1 zlib1g libmnl0 libbsd0 libmd0
    libnftables1 libnftnl11 libjansson4 libgmp10 libxtables12 libedit2 libtinfo6
    libnetfilter-conntrack3 libnfnetlink0
)

mkdir -p "$DEBS" "$SYSROOT" "$CACHE/stamps" "$OUT"
chown _apt:root "$DEBS" 2>/dev/null || true   # apt-get download runs as _apt when it can
missing=()
for p in "${PKGS[@]}" "${LIBPKGS[@]}"; do
    compgen -G "$DEBS/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "downloading ${#missing[@]} packages"
    (cd "$DEBS" && apt-get download -qq "${missing[@]}" >/dev/null 2>&1) ||
        { apt_update_once; (cd "$DEBS" && apt-get download -qq "${missing[@]}" >/dev/null); } ||
        die "apt-get download failed"
fi
newest_deb() { ls "$DEBS/${1}"_*.deb | sort -V | tail -1; }
for p in "${PKGS[@]}" "${LIBPKGS[@]}"; do
    deb="$(newest_deb "$p")"
    stamp="$CACHE/stamps/$(basename "$deb").x"
    [ -e "$stamp" ] && continue
    dpkg -x "$deb" "$SYSROOT"
    touch "$stamp"
done

# ---------------------------------------------------------------- up to date?
# The initramfs depends on this script, guest/ and the exact .deb files.
inputs_hash() {
    {
        cat "$HERE/build.sh"
        (cd "$HERE/guest" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum)
        for p in "${PKGS[@]}" "${LIBPKGS[@]}"; do basename "$(newest_deb "$p")"; done
    } | sha256sum | cut -d' ' -f1
}
HASH="$(inputs_hash)"
if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] &&
   [ "$(cat "$OUT/inputs.sha256" 2>/dev/null)" = "$HASH" ]; then
    log "up to date: $OUT/vmlinuz $OUT/initrd.img ($KVER)"
    exit 0
fi

# drop other kernels (a KERNEL_PKG change, an archive update): ~500 MB each
for d in "$SYSROOT"/lib/modules/*; do
    [ -d "$d" ] && [ "$(basename "$d")" != "$KVER" ] || continue
    k="$(basename "$d")"
    log "removing kernel $k from the cache"
    rm -rf "$d" "$SYSROOT/boot/"*"-$k" "$DEBS/linux-image-${k}_"*.deb "$CACHE/stamps/linux-image-${k}_"*
done

MODDIR="$SYSROOT/lib/modules/$KVER"
[ -d "$MODDIR" ] || die "no modules for $KVER in $SYSROOT"
[ -e "$MODDIR/modules.dep" ] || "$DEPMOD" -b "$SYSROOT" "$KVER"

# ---------------------------------------------------------------- initramfs tree
log "assembling the initramfs"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/lib,lib/x86_64-linux-gnu,lib64,etc/ppp,proc,sys,dev,run,tmp,root,var/log}
ln -s ../../lib/x86_64-linux-gnu "$ROOT/usr/lib/x86_64-linux-gnu"
ln -s /run "$ROOT/var/run"
ln -s /run/lock "$ROOT/var/lock"

install -m 0755 "$SYSROOT/bin/busybox" "$ROOT/bin/busybox"
for a in $("$ROOT/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -s busybox "$ROOT/bin/$a"
done
ln -s ../bin/busybox "$ROOT/sbin/modprobe"

BINS=(usr/sbin/pppd usr/sbin/pptp usr/sbin/pptpd usr/sbin/pptpctrl usr/bin/iperf3 usr/bin/tcpdump
      usr/sbin/nft usr/sbin/xtables-nft-multi)
# ip and ethtool: the path differs between usrmerge layouts
for b in ip ethtool; do
    f="$(for c in bin/$b sbin/$b usr/bin/$b usr/sbin/$b; do
             [ -f "$SYSROOT/$c" ] && [ ! -L "$SYSROOT/$c" ] && echo "$c" && break; done)"
    [ -n "$f" ] || die "$b not found in the sysroot"
    BINS+=("$f")
done
for b in "${BINS[@]}"; do
    install -m 0755 "$SYSROOT/$b" "$ROOT/usr/sbin/$(basename "$b")"
done
mv "$ROOT/usr/sbin/iperf3" "$ROOT/usr/sbin/tcpdump" "$ROOT/usr/bin/"
for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s xtables-nft-multi "$ROOT/usr/sbin/$n"
done
mkdir -p "$ROOT/lib/x86_64-linux-gnu/xtables"
cp -a "$SYSROOT/usr/lib/x86_64-linux-gnu/xtables/." "$ROOT/lib/x86_64-linux-gnu/xtables/"

LIBDIRS=("$SYSROOT/lib/x86_64-linux-gnu" "$SYSROOT/usr/lib/x86_64-linux-gnu")
declare -A SEEN=()
resolve() {  # copy the DT_NEEDED closure of ELF file $1
    local so f d
    for so in $(readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ -n "${SEEN[$so]:-}" ] && continue
        f=""
        for d in "${LIBDIRS[@]}"; do [ -e "$d/$so" ] && { f="$d/$so"; break; }; done
        [ -n "$f" ] || die "$so (needed by ${1#"$SYSROOT"/}) is in no package of LIBPKGS"
        SEEN[$so]=1
        cp -L "$f" "$ROOT/lib/x86_64-linux-gnu/$so"
        resolve "$f"
    done
}
for b in "${BINS[@]}"; do resolve "$SYSROOT/$b"; done
for f in "$SYSROOT"/usr/lib/x86_64-linux-gnu/xtables/*.so; do [ -L "$f" ] || resolve "$f"; done
# the loader, and what a dynamically linked (debug) Rust build of the server needs
cp -L "$SYSROOT/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$ROOT/lib/x86_64-linux-gnu/"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/lib64/ld-linux-x86-64.so.2"
for so in libgcc_s.so.1 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1; do
    [ -e "$ROOT/lib/x86_64-linux-gnu/$so" ] || cp -L "$SYSROOT/lib/x86_64-linux-gnu/$so" "$ROOT/lib/x86_64-linux-gnu/"
done

cp "$SYSROOT/etc/protocols" "$SYSROOT/etc/services" "$ROOT/etc/"
# Debian's stock /etc/ppp/options: every pppd reads it, as on a real install
cp "$SYSROOT/etc/ppp/options" "$ROOT/etc/ppp/options"

# ---------------------------------------------------------------- kernel modules
MODS=(
    ppp_generic ppp_async ppp_mppe slhc libarc4 tun veth
    virtio_pci virtio_rng 9p 9pnet_virtio
    # for a server that installs its own firewall/NAT rules (firewall on):
    # libcrc32c (under nf_tables/nf_conntrack) needs crc32c loaded first
    crc32c_generic
    nf_tables nft_chain_nat nft_nat nft_masq nft_redir nft_ct nft_reject
    nft_reject_inet nft_reject_ipv4 nft_fib_inet nft_fib_ipv4 nft_limit
    nf_conntrack nf_nat nf_conntrack_netlink
    nft_compat x_tables xt_tcpudp xt_nat xt_MASQUERADE xt_conntrack xt_state
    xt_TCPMSS xt_tcpmss xt_comment xt_mark ipt_REJECT
)
KMROOT="$ROOT/lib/modules/$KVER"
declare -A MSEEN=()
ORDER=()
moddeps() {  # append module $1 and its dependencies to ORDER, dependencies first
    local line path d
    line="$(grep -E "/${1//_/[_-]}\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -1)"
    [ -n "$line" ] || die "module $1 not found in $KVER"
    path="${line%%:*}"
    [ -n "${MSEEN[$path]:-}" ] && return 0
    MSEEN[$path]=1
    for d in ${line#*:}; do d="$(basename "$d")"; moddeps "${d%%.ko*}"; done
    ORDER+=("$path")
}
for m in "${MODS[@]}"; do moddeps "$m"; done
: > "$ROOT/etc/e2e-modules"
for p in "${ORDER[@]}"; do
    install -D -m 0644 "$MODDIR/$p" "$KMROOT/$p"
    echo "/lib/modules/$KVER/$p" >> "$ROOT/etc/e2e-modules"
done
cp "$MODDIR/modules.order" "$MODDIR/modules.builtin" "$MODDIR/modules.builtin.modinfo" "$KMROOT/"
"$DEPMOD" -b "$ROOT" "$KVER"

# ---------------------------------------------------------------- guest files
cp -a "$HERE/guest/." "$ROOT/"
chmod 0755 "$ROOT/init" "$ROOT"/e2e/*
chmod 0600 "$ROOT/etc/ppp/chap-secrets"
{
    echo "kernel $KVER"
    for p in "${PKGS[@]}"; do dpkg-deb -f "$(newest_deb "$p")" Package Version | paste -sd' '; done
} > "$ROOT/etc/e2e-manifest"

cp "$SYSROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) |
    gzip -6 > "$OUT/initrd.img.new"
mv "$OUT/initrd.img.new" "$OUT/initrd.img"
cp "$ROOT/etc/e2e-manifest" "$OUT/manifest.txt"
echo "$HASH" > "$OUT/inputs.sha256"
log "kernel $OUT/vmlinuz ($KVER), initramfs $OUT/initrd.img ($(du -h "$OUT/initrd.img" | cut -f1))"
