//! What `smolpptpd check` verifies about the host before the daemon would start: the TUN
//! driver, the firewall tool, forwarding and the interfaces named in the configuration.

use super::firewall;
use super::interface::{Control, IfName};
use super::proxy_arp::ProxyArp;
use crate::settings::AddressList;

/// One finding of the host check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// False: the daemon would not work as configured.
    pub ok: bool,
    pub message: String,
}

fn finding(ok: bool, message: String) -> Finding {
    Finding { ok, message }
}

/// Can we open /dev/net/tun (driver loaded, permission)?
pub fn check_tun_device() -> Finding {
    let path = b"/dev/net/tun\0";
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return finding(
            false,
            format!("/dev/net/tun: {e} (load the tun module: kmod-tun on OpenWrt)"),
        );
    }
    unsafe { libc::close(fd) };
    finding(true, "/dev/net/tun can be opened".into())
}

/// Is `nft` there when the firewall is on?
pub fn check_nft(firewall_on: bool) -> Finding {
    match (firewall_on, firewall::nft_available()) {
        (_, true) => finding(true, "nft is available".into()),
        (false, false) => finding(
            true,
            "nft not found; `firewall off`, so the rules below are yours to install".into(),
        ),
        (true, false) => finding(
            false,
            "nft not found or not working, but `firewall on` needs it (install nftables, \
             or set `firewall off` and apply the rules below yourself)"
                .into(),
        ),
    }
}

/// net.ipv4.ip_forward now, and whether the configuration needs it (we set it at start).
pub fn check_ip_forward(needed: bool, firewall_on: bool) -> Finding {
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
            finding(ok, format!("net.ipv4.ip_forward = {v}{note}"))
        }
        Err(e) => finding(!needed, format!("net.ipv4.ip_forward: {e}")),
    }
}

/// Does the interface exist (and, for the raw backend, is it Ethernet)?
pub fn check_interface(name: &str, need_ethernet: bool) -> Finding {
    let ifname = match IfName::new(name) {
        Ok(n) => n,
        Err(_) => return finding(false, format!("'{name}' is not an interface name")),
    };
    let ctl = match Control::open() {
        Ok(c) => c,
        Err(e) => return finding(false, format!("socket: {e}")),
    };
    if !ctl.exists(&ifname) {
        return finding(false, format!("interface {name} does not exist"));
    }
    if need_ethernet {
        if let Err(e) = ctl.mac(&ifname) {
            return finding(
                false,
                format!("interface {name}: {e} (raw backend needs Ethernet)"),
            );
        }
    }
    let address = super::Either(ctl.address(&ifname).ok(), ", address ", ", no IPv4 address");
    finding(true, format!("interface {name} exists{address}"))
}

/// With `proxyarp`, which LAN interface the router would answer ARP on for each `remoteip`
/// range (looked up at its first and last address, like pppd at each ip-up). Err: some
/// addresses are in no LAN subnet, so LAN hosts cannot reach those clients by ARP; the
/// sessions still work, so this is a warning, as in pppd.
pub fn check_proxyarp(remote: &AddressList) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("proxyarp: {e}");
    let p = ProxyArp::new().map_err(failed)?;
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
                    return Err(format!(
                        "proxyarp: no up Ethernet interface's subnet holds {a}: LAN hosts \
                         cannot reach clients there (pppd: Cannot determine ethernet address \
                         for proxy ARP)"
                    ))
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }
    let mut message = String::from("proxyarp: the router answers ARP for client addresses on");
    for (i, n) in names.iter().enumerate() {
        message.push_str(if i == 0 { " " } else { ", " });
        message.push_str(n.as_str());
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_on_this_host() {
        assert!(check_interface("lo", false).ok);
        assert!(check_interface("lo", false).message.contains("127.0.0.1"));
        assert!(!check_interface("lo", true).ok, "loopback is not Ethernet");
        assert!(!check_interface("nosuch0", false).ok);
        assert!(!check_interface("bad name", false).ok);
        // Not needed: fine whatever the value.
        assert!(check_ip_forward(false, false).ok);
        assert!(check_ip_forward(true, true).ok, "we set it ourselves");
        let nft = check_nft(false);
        assert!(nft.ok);
        // The loopback holds 127.0.0.0/8 but speaks no ARP.
        let mut pool = AddressList::default();
        pool.ranges
            .push(crate::settings::AddressRange {
                first: core::net::Ipv4Addr::new(127, 0, 0, 9),
                last: core::net::Ipv4Addr::new(127, 0, 0, 12),
            })
            .unwrap();
        let e = check_proxyarp(&pool).unwrap_err();
        assert!(
            e.contains("127.0.0.9") && e.contains("Cannot determine"),
            "{e}"
        );
        let tun = check_tun_device();
        assert_eq!(
            tun.ok,
            std::path::Path::new("/dev/net/tun").exists(),
            "{tun:?}"
        );
    }
}
