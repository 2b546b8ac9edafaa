//! Our own nftables table (`table ip smolpptp`), installed at start-up and deleted at exit.
//! We never touch another table: an admin's or fw4's rules stay as they are.
//!
//! Backends (rust.md §2):
//! - `tun` (option C): PPTP (tcp/1723) and GRE addressed to the host itself are DNATed to
//!   smoltcp's address behind the TUN, and GRE replies are SNATed back (conntrack keys GRE by
//!   call ID and marks both directions UNREPLIED, so without that rule the replies leak the
//!   private address). Needs `net.ipv4.ip_forward=1`, since DNATed packets are forwarded.
//! - `raw` (option A): smoltcp reads the WAN through AF_PACKET before netfilter, so the kernel
//!   only has to be silenced: tcp/1723 and GRE to our address are dropped in `input`.
//!
//! With `forwarding` on, clients may talk to the router (`input` from the TUN) and through it
//! (`forward`), and the pool is masqueraded out of every other interface.
//!
//! An `accept` in our table does not override a `drop` in another table's base chain (every
//! base chain on a hook sees the packet): with a default-drop firewall such as OpenWrt's fw4,
//! put the TUN in a zone there as well. `smolpptpd check` prints that reminder.

use crate::settings::AddressList;
use core::fmt::Write;
use core::net::Ipv4Addr;
use std::io;
use std::path::Path;

use super::spawn::{self, CStrings};
use super::Either;

/// The name of our nftables table, as a literal so that the fixed lines naming it are
/// whole literals too.
macro_rules! table {
    () => {
        "smolpptp"
    };
}
/// The name of our nftables table.
pub const TABLE: &str = table!();
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// smoltcp lives behind the TUN at `smoltcp`; the kernel DNATs PPTP to it.
    Tun { smoltcp: Ipv4Addr },
    /// smoltcp shares the host's `address` on the WAN through AF_PACKET.
    Raw { address: Ipv4Addr },
}

#[derive(Clone, Copy, Debug)]
pub struct FirewallConfig<'a> {
    pub mode: Mode,
    /// The TUN interface carrying client traffic (and, in `tun` mode, PPTP).
    pub tun: &'a str,
    /// The interface PPTP arrives on; None: any interface except the TUN.
    pub wan: Option<&'a str>,
    /// Source address for GRE replies in `tun` mode; None: masquerade (dynamic WAN).
    pub public_address: Option<Ipv4Addr>,
    /// pptpd's `listen`: only PPTP to this address is ours (tun: DNATed; default: any of
    /// the host's own addresses).
    pub listen: Option<Ipv4Addr>,
    /// The client pool (`remoteip`).
    pub pool: &'a AddressList,
    /// Let clients reach the router and the networks behind it, masqueraded.
    pub forwarding: bool,
}

impl FirewallConfig<'_> {
    /// Does this setup need the kernel to forward IPv4?
    pub fn needs_ip_forward(&self) -> bool {
        self.forwarding || matches!(self.mode, Mode::Tun { .. })
    }
}

/// A rule's match on the interface PPTP comes in or goes out by: the WAN's name after
/// `.1`, else the TUN's after `.2` (anything but the TUN); `.3` closes either.
struct WanMatch<'a>(
    &'a FirewallConfig<'a>,
    &'static str,
    &'static str,
    &'static str,
);

impl core::fmt::Display for WanMatch<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (prefix, name) = match self.0.wan {
            Some(wan) => (self.1, wan),
            None => (self.2, self.0.tun),
        };
        f.write_str(prefix)?;
        f.write_str(name)?;
        f.write_str(self.3)
    }
}

/// `{ a-b, c }` for nft.
fn nft_pool(pool: &AddressList) -> String {
    let mut s = String::from("{ ");
    for (i, r) in pool.ranges.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if r.first == r.last {
            let _ = write!(s, "{}", r.first);
        } else {
            let _ = write!(s, "{}-{}", r.first, r.last);
        }
    }
    s.push_str(" }");
    s
}

/// The ruleset as an `nft -f` script. It first creates and deletes the table so that a
/// leftover table from a crashed run is replaced, not added to.
pub fn nft_script(c: &FirewallConfig) -> String {
    let mut s = String::from(concat!(
        "table ip ",
        table!(),
        "\ndelete table ip ",
        table!(),
        "\n"
    ));
    write_ruleset(&mut s, c);
    s
}

/// The table itself, in `nft list` syntax (what `smolpptpd check` prints).
pub fn nft_ruleset(c: &FirewallConfig) -> String {
    let mut s = String::new();
    write_ruleset(&mut s, c);
    s
}

/// The input chain's first two lines: the raw backend's drops and, with `forwarding`, the
/// clients' accept share them.
const INPUT_CHAIN: &str =
    "\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n";

fn write_ruleset(s: &mut String, c: &FirewallConfig) {
    let tun = c.tun;
    let from_wan = WanMatch(c, "iifname \"", "iifname != \"", "\"");
    let to_wan = WanMatch(c, "oifname \"", "oifname != \"", "\"");
    let to_us = Either(c.listen, "ip daddr ", "fib daddr type local");
    s.push_str(concat!("table ip ", table!(), " {\n"));
    let raw = match c.mode {
        Mode::Tun { smoltcp } => {
            let _ = writeln!(
                s,
                "\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
                 \t\t{from_wan} {to_us} tcp dport 1723 dnat to {smoltcp}\n\
                 \t\t{from_wan} {to_us} ip protocol gre dnat to {smoltcp}\n\t}}"
            );
            false
        }
        Mode::Raw { address } => {
            s.push_str(INPUT_CHAIN);
            let _ = writeln!(
                s,
                "\t\t{from_wan} ip daddr {address} tcp dport 1723 drop\n\
                 \t\t{from_wan} ip daddr {address} ip protocol gre drop"
            );
            true
        }
    };
    if c.forwarding {
        if !raw {
            s.push_str(INPUT_CHAIN);
        }
        let _ = writeln!(s, "\t\tiifname \"{tun}\" accept");
    }
    if raw || c.forwarding {
        s.push_str("\t}\n");
    }
    // The forward chain is always there: with `forwarding off` it keeps the clients to the
    // router itself even on a host that forwards for others.
    s.push_str(
        "\tchain forward {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n",
    );
    if let Mode::Tun { smoltcp } = c.mode {
        let _ = writeln!(
            s,
            "\t\tip daddr {smoltcp} ct status dnat accept\n\t\tip saddr {smoltcp} accept"
        );
    }
    let (from_clients, to_clients) = if c.forwarding {
        ("accept", "ct state established,related accept")
    } else {
        ("drop", "drop")
    };
    let _ = writeln!(
        s,
        "\t\tiifname \"{tun}\" {from_clients}\n\t\toifname \"{tun}\" {to_clients}\n\t}}"
    );
    let gre_snat = match c.mode {
        Mode::Tun { smoltcp } => Some(smoltcp),
        Mode::Raw { .. } => None,
    };
    let masquerade_pool = c.forwarding && !c.pool.is_empty();
    if gre_snat.is_some() || masquerade_pool {
        s.push_str(
            "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
        );
        if let Some(smoltcp) = gre_snat {
            let action = Either(c.public_address, "snat to ", "masquerade");
            let _ = writeln!(
                s,
                "\t\tip saddr {smoltcp} ip protocol gre {to_wan} {action}"
            );
        }
        if masquerade_pool {
            let _ = writeln!(
                s,
                "\t\tip saddr {} oifname != \"{tun}\" masquerade",
                nft_pool(c.pool)
            );
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\n");
}

/// The same rules as iptables commands, for hosts without nft (printed, never run).
pub fn iptables_commands(c: &FirewallConfig) -> String {
    let tun = c.tun;
    let from_wan = WanMatch(c, "-i ", "! -i ", "");
    let to_wan = WanMatch(c, "-o ", "! -o ", "");
    let mut s = String::new();
    match c.mode {
        Mode::Tun { smoltcp } => {
            let to_us = Either(c.listen, "-d ", "-m addrtype --dst-type LOCAL");
            for proto in &["-p tcp --dport 1723", "-p gre"] {
                let _ = writeln!(
                    s,
                    "iptables -t nat -I PREROUTING {from_wan} {to_us} {proto} -j DNAT --to-destination {smoltcp}"
                );
            }
            let action = Either(c.public_address, "SNAT --to-source ", "MASQUERADE");
            let _ = writeln!(
                s,
                "iptables -t nat -I POSTROUTING -s {smoltcp} -p gre {to_wan} -j {action}\n\
                 iptables -I FORWARD -d {smoltcp} -m conntrack --ctstate DNAT -j ACCEPT\n\
                 iptables -I FORWARD -s {smoltcp} -j ACCEPT"
            );
        }
        Mode::Raw { address } => {
            for proto in &["-p tcp --dport 1723", "-p gre"] {
                let _ = writeln!(
                    s,
                    "iptables -I INPUT {from_wan} -d {address} {proto} -j DROP"
                );
            }
        }
    }
    if c.forwarding {
        let _ = writeln!(
            s,
            "iptables -I INPUT -i {tun} -j ACCEPT\n\
             iptables -I FORWARD -i {tun} -j ACCEPT\n\
             iptables -I FORWARD -o {tun} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
        );
        for r in &c.pool.ranges {
            let _ = writeln!(
                s,
                "iptables -t nat -A POSTROUTING -m iprange --src-range {}-{} ! -o {tun} -j MASQUERADE",
                r.first, r.last
            );
        }
    } else {
        let _ = writeln!(
            s,
            "iptables -A FORWARD -i {tun} -j DROP\niptables -A FORWARD -o {tun} -j DROP"
        );
    }
    if c.needs_ip_forward() {
        s.push_str("sysctl -w net.ipv4.ip_forward=1\n");
    }
    s
}

/// Run `nft` with these arguments (see [`spawn::run`]).
fn nft(args: &[&str], input: Option<&[u8]>, capture: bool) -> io::Result<spawn::Output> {
    let mut argv = CStrings::new();
    for a in ["nft"].iter().chain(args) {
        argv.push(a.as_bytes())?;
    }
    spawn::run(b"nft", &argv, input, capture)
}

/// Is `nft` on the PATH and able to talk to the kernel?
pub fn nft_available() -> bool {
    nft(&["list", "tables"], None, false).is_ok_and(|out| out.status.success())
}

fn run_nft(script: &str) -> io::Result<()> {
    let out = nft(&["-f", "-"], Some(script.as_bytes()), true)
        // Kind Other, not the cause's: only the text is used (see control_socket::query).
        .map_err(|e| {
            super::io_error(
                io::ErrorKind::Other,
                format_args!("nft: {}", super::ErrorText(e)),
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim();
        let other = io::ErrorKind::Other;
        Err(if stderr.is_empty() {
            super::io_error(other, format_args!("nft -f -: {}", out.status))
        } else {
            super::io_error(other, format_args!("nft -f -: {stderr}"))
        })
    }
}

/// `net.ipv4.ip_forward` as "0"/"1".
pub fn ip_forward() -> io::Result<String> {
    Ok(super::file::read_to_string(Path::new(IP_FORWARD))?
        .trim()
        .to_string())
}

/// `net.ipv4.ip_forward=1` while this lives; the old value comes back on drop.
pub struct IpForward {
    restore: Option<String>,
}

impl IpForward {
    pub fn enable() -> io::Result<IpForward> {
        let old = ip_forward()?;
        if old == "1" {
            return Ok(IpForward { restore: None });
        }
        super::file::write(Path::new(IP_FORWARD), b"1")?;
        Ok(IpForward { restore: Some(old) })
    }
}

impl Drop for IpForward {
    fn drop(&mut self) {
        if let Some(old) = self.restore.take() {
            if let Err(e) = super::file::write(Path::new(IP_FORWARD), old.as_bytes()) {
                crate::warn!("restoring net.ipv4.ip_forward: {}", super::ErrorText(e));
            }
        }
    }
}

/// The installed rules; [`Firewall::remove`] (or drop) deletes them and restores
/// `ip_forward` if we changed it.
pub struct Firewall {
    installed: bool,
    _ip_forward: Option<IpForward>,
}

impl Firewall {
    pub fn install(c: &FirewallConfig) -> io::Result<Firewall> {
        let ip_forward = if c.needs_ip_forward() {
            Some(IpForward::enable()?)
        } else {
            None
        };
        run_nft(&nft_script(c))?;
        Ok(Firewall {
            installed: true,
            _ip_forward: ip_forward,
        })
    }

    /// Replace our table's rules (a reload changed the pool or the switches); atomic, as
    /// `nft -f` applies a script in one transaction. `ip_forward` follows: turned on if the
    /// new rules need it, put back as we found it if they no longer do.
    pub fn update(&mut self, c: &FirewallConfig) -> io::Result<()> {
        match (c.needs_ip_forward(), self._ip_forward.is_some()) {
            (true, false) => self._ip_forward = Some(IpForward::enable()?),
            (false, true) => self._ip_forward = None,
            _ => {}
        }
        run_nft(&nft_script(c))
    }

    /// Delete our table and put `ip_forward` back. Errors are logged, not returned: at exit
    /// there is nothing better to do.
    pub fn remove(self) {}
}

impl Drop for Firewall {
    fn drop(&mut self) {
        if self.installed {
            self.installed = false;
            if let Err(e) = run_nft(concat!("delete table ip ", table!(), "\n")) {
                crate::warn!("removing firewall table {TABLE}: {}", super::ErrorText(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::testns::{run, sh};
    use crate::settings::AddressRange;

    fn pool() -> AddressList {
        let mut l = AddressList::default();
        l.ranges
            .push(AddressRange {
                first: Ipv4Addr::new(192, 168, 0, 20),
                last: Ipv4Addr::new(192, 168, 0, 30),
            })
            .unwrap();
        l.ranges
            .push(AddressRange {
                first: Ipv4Addr::new(192, 168, 0, 40),
                last: Ipv4Addr::new(192, 168, 0, 40),
            })
            .unwrap();
        l
    }

    fn tun_config(pool: &AddressList, forwarding: bool) -> FirewallConfig<'_> {
        FirewallConfig {
            mode: Mode::Tun {
                smoltcp: Ipv4Addr::new(10, 99, 0, 2),
            },
            tun: "smolpptp0",
            wan: Some("eth0"),
            public_address: None,
            listen: None,
            pool,
            forwarding,
        }
    }

    #[test]
    fn tun_mode_rules() {
        let p = pool();
        let r = nft_ruleset(&tun_config(&p, false));
        assert!(r.starts_with("table ip smolpptp {\n"));
        assert!(
            r.contains("iifname \"eth0\" fib daddr type local tcp dport 1723 dnat to 10.99.0.2\n")
        );
        assert!(
            r.contains("iifname \"eth0\" fib daddr type local ip protocol gre dnat to 10.99.0.2\n")
        );
        assert!(r.contains("ip saddr 10.99.0.2 ip protocol gre oifname \"eth0\" masquerade\n"));
        assert!(r.contains("ip daddr 10.99.0.2 ct status dnat accept"));
        assert!(!r.contains("192.168.0"), "no pool rules without forwarding");
        assert!(!r.contains("chain input"));

        let r = nft_ruleset(&tun_config(&p, true));
        assert!(r.contains("ip saddr { 192.168.0.20-192.168.0.30, 192.168.0.40 } oifname != \"smolpptp0\" masquerade"));
        assert!(r.contains("chain input"));
        assert!(r.contains("iifname \"smolpptp0\" accept"));

        let mut c = tun_config(&p, false);
        c.wan = None;
        c.public_address = Some(Ipv4Addr::new(198, 51, 100, 1));
        let r = nft_ruleset(&c);
        assert!(r.contains("iifname != \"smolpptp0\" fib daddr type local tcp dport 1723"));
        assert!(r.contains("oifname != \"smolpptp0\" snat to 198.51.100.1"));
        c.listen = Some(Ipv4Addr::new(198, 51, 100, 1));
        let r = nft_ruleset(&c);
        assert!(r.contains(
            "iifname != \"smolpptp0\" ip daddr 198.51.100.1 ip protocol gre dnat to 10.99.0.2"
        ));
        assert!(iptables_commands(&c).contains(
            "-t nat -I PREROUTING ! -i smolpptp0 -d 198.51.100.1 -p tcp --dport 1723 -j DNAT"
        ));
    }

    #[test]
    fn raw_mode_rules() {
        let p = pool();
        let mut c = tun_config(&p, false);
        c.mode = Mode::Raw {
            address: Ipv4Addr::new(203, 0, 113, 5),
        };
        assert!(!c.needs_ip_forward());
        let r = nft_ruleset(&c);
        assert!(r.contains("iifname \"eth0\" ip daddr 203.0.113.5 tcp dport 1723 drop\n"));
        assert!(r.contains("iifname \"eth0\" ip daddr 203.0.113.5 ip protocol gre drop\n"));
        assert!(!r.contains("nat"));
        // Without `forwarding`, clients reach the router only, even if the host forwards.
        assert!(r.contains("\t\tiifname \"smolpptp0\" drop\n\t\toifname \"smolpptp0\" drop\n"));
        let i = iptables_commands(&c);
        assert_eq!(
            i,
            "iptables -I INPUT -i eth0 -d 203.0.113.5 -p tcp --dport 1723 -j DROP\n\
             iptables -I INPUT -i eth0 -d 203.0.113.5 -p gre -j DROP\n\
             iptables -A FORWARD -i smolpptp0 -j DROP\n\
             iptables -A FORWARD -o smolpptp0 -j DROP\n"
        );
        c.forwarding = true;
        assert!(c.needs_ip_forward());
        let i = iptables_commands(&c);
        assert!(i.contains("--src-range 192.168.0.20-192.168.0.30 ! -o smolpptp0 -j MASQUERADE"));
        assert!(i.ends_with("sysctl -w net.ipv4.ip_forward=1\n"));
    }

    #[test]
    fn iptables_tun_mode() {
        let p = pool();
        let i = iptables_commands(&tun_config(&p, false));
        assert!(i.contains("iptables -t nat -I PREROUTING -i eth0 -m addrtype --dst-type LOCAL -p tcp --dport 1723 -j DNAT --to-destination 10.99.0.2\n"));
        assert!(i.contains(
            "iptables -t nat -I POSTROUTING -s 10.99.0.2 -p gre -o eth0 -j MASQUERADE\n"
        ));
    }

    #[test]
    fn installs_and_removes_only_our_table() {
        if !nft_available() {
            eprintln!("skipping: nft not available");
            return;
        }
        run("nft install", || {
            // A rejected script comes back with nft's own complaint.
            let e = run_nft("table ip smolpptp { chain c { bogus; } }\n").unwrap_err();
            let e = e.to_string();
            assert!(e.starts_with("nft -f -: ") && e.contains("Error"), "{e}");
            assert!(e.contains("bogus"), "{e}");
            sh("nft add table ip other");
            std::fs::write(IP_FORWARD, "0").unwrap();
            let p = pool();
            for forwarding in [false, true] {
                let c = tun_config(&p, forwarding);
                let fw = Firewall::install(&c).expect("install");
                assert_eq!(ip_forward().unwrap(), "1");
                let listed = sh("nft list table ip smolpptp");
                assert!(listed.contains("dnat to 10.99.0.2"), "{listed}");
                // Installing again (a crashed run's leftovers) replaces, not duplicates.
                run_nft(&nft_script(&c)).unwrap();
                let again = sh("nft list table ip smolpptp");
                assert_eq!(again.matches("dnat to").count(), 2, "{again}");
                fw.remove();
                assert_eq!(ip_forward().unwrap(), "0");
                let tables = sh("nft list tables");
                assert!(!tables.contains("smolpptp"));
                assert!(tables.contains("table ip other"));
            }
            let mut c = tun_config(&p, true);
            c.mode = Mode::Raw {
                address: Ipv4Addr::new(203, 0, 113, 5),
            };
            let fw = Firewall::install(&c).expect("raw install");
            assert!(sh("nft list table ip smolpptp").contains("ip protocol gre drop"));
            drop(fw);
            assert!(!sh("nft list tables").contains("smolpptp"));

            // A reload that turns forwarding on or off in the raw backend moves ip_forward
            // with it, and the old value still comes back at exit.
            c.forwarding = false;
            let mut fw = Firewall::install(&c).expect("raw install, no forwarding");
            assert_eq!(ip_forward().unwrap(), "0");
            c.forwarding = true;
            fw.update(&c).expect("reload with forwarding on");
            assert_eq!(ip_forward().unwrap(), "1");
            assert!(sh("nft list table ip smolpptp").contains("masquerade"));
            c.forwarding = false;
            fw.update(&c).expect("reload with forwarding off");
            assert_eq!(ip_forward().unwrap(), "0");
            c.forwarding = true;
            fw.update(&c).expect("reload with forwarding on again");
            drop(fw);
            assert_eq!(ip_forward().unwrap(), "0");
        });
    }

    /// rust.md §2 option C with our own code: a client in another namespace connects to the
    /// router's WAN address; DNAT brings TCP and GRE through the TUN to smoltcp, and the GRE
    /// reply leaves with the router's address, not smoltcp's.
    #[test]
    fn tun_backend_end_to_end_through_dnat() {
        use crate::linux::testns::{run_client_against, ClientNs, Reflector};
        use crate::linux::tun::{Ingress, Tun, TunConfig, TunDevice, DEFAULT_SMOLTCP_ADDRESS};
        use smoltcp::iface::{Config, Interface};
        use smoltcp::wire::{HardwareAddress, IpCidr};
        if !nft_available() {
            eprintln!("skipping: nft not available");
            return;
        }
        run("option C end to end", || {
            let client = ClientNs::new("smolcl", "");
            let pool = pool();
            let tun = Tun::open(&TunConfig {
                name: "smolpptp0",
                address: Ipv4Addr::new(10, 99, 0, 1),
                peer: Some(DEFAULT_SMOLTCP_ADDRESS),
                prefix_len: 32,
                mtu: 1500,
                routes: &pool,
            })
            .unwrap();
            let mut c = tun_config(&pool, false);
            c.wan = Some("rt0");
            c.mode = Mode::Tun {
                smoltcp: DEFAULT_SMOLTCP_ADDRESS,
            };
            let _fw = Firewall::install(&c).expect("firewall");

            let mut dev = TunDevice::new(&tun, Some(DEFAULT_SMOLTCP_ADDRESS));
            let now = crate::linux::clock::now;
            let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, now());
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(DEFAULT_SMOLTCP_ADDRESS.into(), 32))
                    .unwrap()
            });
            iface
                .routes_mut()
                .add_default_ipv4_route(Ipv4Addr::new(10, 99, 0, 1))
                .unwrap();
            let mut reflector = Reflector::new();
            // The GRE reflection must come back from 10.1.0.1 (SNAT), not smoltcp's address.
            run_client_against(&client.0, || {
                while let Some(i) = dev.read() {
                    if i == Ingress::Local {
                        iface.poll(now(), &mut dev, &mut reflector.sockets);
                    }
                }
                iface.poll(now(), &mut dev, &mut reflector.sockets);
                reflector.serve();
                iface.poll(now(), &mut dev, &mut reflector.sockets);
            });
        });
    }
}
