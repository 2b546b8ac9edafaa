//! What `smolpptpd check` verifies about the host before the daemon would start: the TUN
//! driver, the firewall tool, forwarding and the interfaces named in the configuration.

use super::firewall;
use super::interface::{Control, IfName};
use super::proxy_arp::ProxyArp;
use crate::settings::AddressList;
use core::fmt;

/// Where the checks put their findings: `ok` false means the daemon would not work as
/// configured. The message is handed over unformatted, so a caller that prints it formats
/// it once, straight to its output (no `String` per finding).
pub type Report<'a> = &'a mut dyn FnMut(bool, fmt::Arguments<'_>);

/// Can we open /dev/net/tun (driver loaded, permission)?
pub fn check_tun_device(report: Report) {
    let path = b"/dev/net/tun\0";
    let fd = unsafe { super::sys::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return report(
            false,
            format_args!(
                "/dev/net/tun: {} (load the tun module: kmod-tun on OpenWrt)",
                crate::linux::ErrorText(e)
            ),
        );
    }
    unsafe { libc::close(fd) };
    report(true, format_args!("/dev/net/tun can be opened"))
}

/// Is `nft` there when the firewall is on?
pub fn check_nft(firewall_on: bool, report: Report) {
    let (ok, text) = match (firewall_on, firewall::nft_available()) {
        (_, true) => (true, "nft is available"),
        (false, false) => (
            true,
            "nft not found; `firewall off`, so the rules below are yours to install",
        ),
        (true, false) => (
            false,
            "nft not found or not working, but `firewall on` needs it (install nftables, \
             or set `firewall off` and apply the rules below yourself)",
        ),
    };
    report(ok, format_args!("{text}"))
}

/// net.ipv4.ip_forward now, and whether the configuration needs it (we set it at start).
pub fn check_ip_forward(needed: bool, firewall_on: bool, report: Report) {
    match firewall::ip_forward() {
        Ok(v) => {
            // One message with the verdict's note at its end: one formatting site for all.
            let (ok, note) = if v == "1" || !needed {
                (true, "")
            } else if firewall_on {
                (true, "; smolpptpd sets it to 1 while it runs")
            } else {
                (false, ", but this setup needs 1 (firewall is off)")
            };
            report(ok, format_args!("net.ipv4.ip_forward = {v}{note}"))
        }
        Err(e) => report(
            !needed,
            format_args!("net.ipv4.ip_forward: {}", crate::linux::ErrorText(e)),
        ),
    }
}

/// Does the interface exist (and, for the raw backend, is it Ethernet)?
pub fn check_interface(name: &str, need_ethernet: bool, report: Report) {
    let ifname = match IfName::new(name) {
        Ok(n) => n,
        Err(_) => return report(false, format_args!("'{name}' is not an interface name")),
    };
    let ctl = match Control::open() {
        Ok(c) => c,
        Err(e) => {
            return report(
                false,
                format_args!("socket: {}", crate::linux::ErrorText(e)),
            )
        }
    };
    if !ctl.exists(&ifname) {
        return report(false, format_args!("interface {name} does not exist"));
    }
    if need_ethernet {
        if let Err(e) = ctl.mac(&ifname) {
            return report(
                false,
                format_args!(
                    "interface {name}: {} (raw backend needs Ethernet)",
                    crate::linux::ErrorText(e)
                ),
            );
        }
    }
    let address = super::Either(ctl.address(&ifname).ok(), ", address ", ", no IPv4 address");
    report(true, format_args!("interface {name} exists{address}"))
}

/// With `proxyarp`, which LAN interface the router would answer ARP on for each `remoteip`
/// range (looked up at its first and last address, like pppd at each ip-up). Not ok: some
/// addresses are in no LAN subnet, so LAN hosts cannot reach those clients by ARP; the
/// sessions still work, so the caller shows this as a warning, as in pppd.
// Not inlined into `smolpptpd check`: its locals would push that frame past 4 KiB, where
// every ARM access takes an extra instruction (MIPS reaches 32 KiB in one).
#[cfg_attr(not(target_arch = "mips"), inline(never))]
pub fn check_proxyarp(remote: &AddressList, report: Report) {
    let p = match ProxyArp::new() {
        Ok(p) => p,
        Err(e) => {
            return report(
                false,
                format_args!("proxyarp: {}", crate::linux::ErrorText(e)),
            )
        }
    };
    let mut names: heapless::Vec<IfName, 4> = heapless::Vec::new();
    for r in &remote.ranges {
        for a in [r.first, r.last] {
            match p.lan_for(a) {
                Ok(Some(lan)) => {
                    if !names.contains(&lan.name) {
                        let _ = names.push(lan.name);
                    }
                }
                Ok(None) => {
                    return report(
                        false,
                        format_args!(
                            "proxyarp: no up Ethernet interface's subnet holds {a}: LAN hosts \
                             cannot reach clients there (pppd: Cannot determine ethernet \
                             address for proxy ARP)"
                        ),
                    )
                }
                Err(e) => {
                    return report(
                        false,
                        format_args!("proxyarp: {}", crate::linux::ErrorText(e)),
                    )
                }
            }
        }
    }
    let mut message = String::from("proxyarp: the router answers ARP for client addresses on");
    for (i, n) in names.iter().enumerate() {
        message.push_str(if i == 0 { " " } else { ", " });
        message.push_str(n.as_str());
    }
    report(true, format_args!("{message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check's findings as (ok, message).
    fn findings(check: impl FnOnce(Report)) -> Vec<(bool, String)> {
        let mut all = Vec::new();
        check(&mut |ok, m| all.push((ok, m.to_string())));
        all
    }

    fn one(check: impl FnOnce(Report)) -> (bool, String) {
        let mut all = findings(check);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn findings_on_this_host() {
        assert!(one(|r| check_interface("lo", false, r)).0);
        assert!(one(|r| check_interface("lo", false, r))
            .1
            .contains("127.0.0.1"));
        assert!(
            !one(|r| check_interface("lo", true, r)).0,
            "loopback is not Ethernet"
        );
        assert!(!one(|r| check_interface("nosuch0", false, r)).0);
        assert!(!one(|r| check_interface("bad name", false, r)).0);
        // Not needed: fine whatever the value.
        assert!(one(|r| check_ip_forward(false, false, r)).0);
        assert!(
            one(|r| check_ip_forward(true, true, r)).0,
            "we set it ourselves"
        );
        assert!(one(|r| check_nft(false, r)).0);
        // The loopback holds 127.0.0.0/8 but speaks no ARP.
        let mut pool = AddressList::default();
        pool.ranges
            .push(crate::settings::AddressRange {
                first: core::net::Ipv4Addr::new(127, 0, 0, 9),
                last: core::net::Ipv4Addr::new(127, 0, 0, 12),
            })
            .unwrap();
        let (ok, e) = one(|r| check_proxyarp(&pool, r));
        assert!(
            !ok && e.contains("127.0.0.9") && e.contains("Cannot determine"),
            "{e}"
        );
        let tun = one(check_tun_device);
        assert_eq!(
            tun.0,
            std::path::Path::new("/dev/net/tun").exists(),
            "{tun:?}"
        );
    }
}
