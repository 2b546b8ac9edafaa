# Shared by run-e2e.sh and compare.sh (sourced, bash): choose the accelerator
# and boot one test VM.  Needs HERE (this directory) and OUT (HERE/out).

# pick_accel auto|tcg|kvm: sets ACCEL and ACCEL_ARGS.  TCG unless KVM really
# works: this build host's KVM is kvm_pvm (PVM), which runs only PVM-enabled
# guest kernels; a stock kernel crawls and then dies.
pick_accel() {
    ACCEL="$1"
    if [ "$ACCEL" = auto ]; then
        if [ ! -d /sys/module/kvm_pvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
    fi
    if [ "$ACCEL" = kvm ]; then
        ACCEL_ARGS=(-enable-kvm -cpu host,-arch-capabilities)
    else
        ACCEL_ARGS=(-accel tcg,thread=multi -cpu max)
    fi
}

# vm_boot OVERLAY_DIR LOG_DIR GUEST_TIMEOUT MEM_MB: boot the VM with
# OVERLAY_DIR's files (/e2e/env, configs, a server binary) added to the
# initramfs as a second cpio; the console goes to stdout and
# LOG_DIR/console.log, the guest's /e2e/out (9p) is LOG_DIR/share.  The host
# kills QEMU 60 s after GUEST_TIMEOUT.  Returns QEMU's status.
vm_boot() {
    local overlay="$1" dir="$2" guest_timeout="$3" mem="$4" img rc
    mkdir -p "$dir/share"
    img="$(mktemp /tmp/smolpptp-initrd.XXXXXX)"
    # the kernel unpacks both archives, the second one over the first
    { cat "$OUT/initrd.img"
      (cd "$overlay" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) | gzip -1
    } > "$img"
    set +e
    # -nic none: the VM has no network card at all; every address used lives
    # in its own network namespaces
    timeout -k 10 $((guest_timeout + 60)) qemu-system-x86_64 -nographic -no-reboot -nic none \
        -m "$mem" -smp 2 "${ACCEL_ARGS[@]}" \
        -kernel "$OUT/vmlinuz" -initrd "$img" \
        -append "console=ttyS0,115200 panic=-1 loglevel=4 quiet" \
        -device virtio-rng-pci \
        -virtfs "local,path=$dir/share,mount_tag=e2eout,security_model=none,id=e2eout" \
        < /dev/null 2>&1 | sed -u 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' | tee "$dir/console.log"
    rc=${PIPESTATUS[0]}
    set -e
    rm -f "$img"
    return "$rc"
}

# check_binary FILE: dies unless FILE is an x86_64 ELF; notes a dynamic one
check_binary() {
    [ -f "$1" ] || die "$1: no such file"
    readelf -h "$1" 2>/dev/null | grep -q 'Machine:.*X86-64' || die "$1 is not an x86_64 ELF binary"
    if readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; then
        echo "note: $1 is dynamically linked (the VM has Debian 12's glibc and libgcc_s)" >&2
    fi
}
