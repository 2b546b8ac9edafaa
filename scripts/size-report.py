#!/usr/bin/env python3
"""Where the bytes of a board's daemon go, by feature.

    scripts/size-report.py BOARD [BOARD ...]

Builds `smolpptpd` for each board the way scripts/build-boards.sh does (nightly build-std,
.cargo/small.toml, .cargo/debian-musl.toml) but unstripped, into target/size-report, then
sums `nm -S` symbol sizes by the feature their name belongs to and prints one table with a
column per board. Read-only data (.rodata: log and error texts, option names, constant
tables) is one row of its own: texts are not attributed to features.

LTO inlines across modules, so a feature's code inlined into a caller is counted there: the
daemon loop (`smolpptpd::serve`) holds most of the per-packet path. The figures are an
approximation of what leaving a feature out would save, not a measurement of it.
"""

import os
import re
import subprocess
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# First match wins: (row, pattern on the demangled symbol name).
FEATURES = [
    ("daemon loop (server, PPP, smoltcp inlined)", r"^smolpptpd::serve$|smolpptp::linux::(daemon|device)::"),
    ("start-up, arguments, version", r"^<?smolpptpd::(run|parse_args|print_version|command|main|daemonize|storage|net_config|load_config|fail|write_out|Plan|open_tun|devices|operations|reload|log_warnings|config_error|failed|PidFile|print_text|write_line)|^main$"),
    ("status and kick (client and server side)", r"^smolpptpd::(admin|ask)|smolpptp::linux::control_socket"),
    ("check command", r"^smolpptpd::check|smolpptp::linux::host::"),
    ("config parsers (pptpd.conf, options, chap-secrets)", r"smolpptp::conf::"),
    ("settings (limits per user, pools)", r"smolpptp::settings"),
    ("ip-up/ip-down hooks, fork+exec", r"smolpptp::linux::(hooks|spawn)::"),
    ("nft firewall", r"smolpptp::linux::firewall"),
    ("wtmp and accounting", r"smolpptp::linux::wtmp"),
    ("proxyarp", r"smolpptp::linux::proxy_arp"),
    ("raw backend (AF_PACKET, neighbours)", r"smolpptp::linux::(packet|neighbours)::"),
    ("tun backend, routes, interface ioctls", r"smolpptp::linux::(tun|interface)::"),
    ("syslog and logging", r"smolpptp::(linux::syslog|logging)"),
    ("allocator, signals, clock, files, random", r"smolpptp::(linux::(allocator|signals|clock|file|random)|rand)"),
    ("IPv6CP", r"smolpptp::ppp::ipv6cp"),
    ("PPP: automaton, LCP, IPCP, CCP, link", r"smolpptp::ppp::"),
    ("MS-CHAPv2 and MPPE", r"smolpptp::crypto::|^<?(sha1|md4|des|rc4|cipher|digest|block_buffer)::"),
    ("PPTP control, calls, GRE, session table", r"smolpptp::pptp::"),
    ("server (outside the loop)", r"smolpptp::server::"),
    ("wire formats", r"smolpptp::wire::"),
    ("smoltcp", r"smoltcp::"),
    ("Rust core, alloc, std (formatting, strings)", r"^<?(core|alloc|std)::|^<.* as (core|alloc|std)::"),
    ("musl libc", r"^[A-Za-z_][A-Za-z_0-9]*$"),
]


def target_of(board):
    with open(os.path.join(ROOT, "boards", board + ".toml")) as f:
        for line in f:
            m = re.match(r'\s*target\s*=\s*"([^"]+)"', line)
            if m:
                return m.group(1)
    sys.exit(f"boards/{board}.toml names no target")


def build(board):
    target = target_of(board)
    tdir = os.path.join(ROOT, "target", "size-report")
    env = dict(os.environ, SMOLPPTP_BOARD=board, CARGO_TARGET_DIR=tdir,
               CARGO_PROFILE_RELEASE_STRIP="false")
    done = subprocess.run(
        ["cargo", "+" + os.environ.get("SMOLPPTP_NIGHTLY", "nightly"), "build", "-q",
         "--release", "--locked", "--bin", "smolpptpd", "--target", target,
         "--config", ".cargo/small.toml", "--config", ".cargo/debian-musl.toml"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"building {board} failed:\n{done.stderr}")
    return os.path.join(tdir, target, "release", "smolpptpd")


def sizes(binary):
    out = subprocess.run(["nm", "-S", "-C", "--size-sort", binary], capture_output=True, text=True,
                         check=True).stdout
    rows = Counter()
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ ([0-9a-f]+) (\w) (.*)$", line)
        if not m:
            continue
        size, kind, name = int(m.group(1), 16), m.group(2), m.group(3)
        if kind in "rRdDbB":
            continue
        for row, pattern in FEATURES:
            if re.search(pattern, name):
                rows[row] += size
                break
        else:
            rows["other"] += size
    sections = subprocess.run(["size", "-A", binary], capture_output=True, text=True,
                              check=True).stdout
    for line in sections.splitlines():
        m = re.match(r"^\.rodata\s+(\d+)", line)
        if m:
            rows["read-only data: texts, tables (.rodata)"] += int(m.group(1))
    return rows


def main():
    boards = sys.argv[1:] or ["i586", "armv7", "mipsel"]
    results = {b: sizes(build(b)) for b in boards}
    order = [r for r, _ in FEATURES] + ["read-only data: texts, tables (.rodata)", "other"]
    print("| feature | " + " | ".join(boards) + " |")
    print("|---|" + "---:|" * len(boards))
    for row in order:
        cells = [f"{results[b].get(row, 0):,}" for b in boards]
        print(f"| {row} | " + " | ".join(cells) + " |")
    print("| code and read-only data | " + " | ".join(f"{sum(results[b].values()):,}" for b in boards) + " |")


if __name__ == "__main__":
    main()
