//! Network interface configuration through the classic ioctls (SIOCSIF*, SIOCADDRT), so the
//! daemon needs neither `ip` nor `ifconfig` on the router. Start-up and teardown only.

use core::net::Ipv4Addr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A kernel interface name: at most 15 bytes (IFNAMSIZ - 1), NUL-terminated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IfName {
    bytes: [u8; libc::IFNAMSIZ],
}

impl IfName {
    /// Err unless 1..=15 bytes without NUL, '/' or whitespace (what the kernel accepts;
    /// `%d` is allowed as a template for TUNSETIFF).
    pub fn new(name: &str) -> io::Result<IfName> {
        let b = name.as_bytes();
        let bad = b.is_empty()
            || b.len() >= libc::IFNAMSIZ
            || b.iter()
                .any(|&c| c == 0 || c == b'/' || c.is_ascii_whitespace());
        if bad {
            return Err(super::io_error(
                io::ErrorKind::InvalidInput,
                format_args!("bad interface name"),
            ));
        }
        let mut bytes = [0u8; libc::IFNAMSIZ];
        bytes[..b.len()].copy_from_slice(b);
        Ok(IfName { bytes })
    }

    /// From a kernel-filled `ifr_name` (always NUL-terminated within IFNAMSIZ).
    pub(crate) fn from_c(raw: &[libc::c_char; libc::IFNAMSIZ]) -> IfName {
        let mut bytes = [0u8; libc::IFNAMSIZ];
        for (d, s) in bytes.iter_mut().zip(raw.iter()).take(libc::IFNAMSIZ - 1) {
            *d = *s as u8;
        }
        IfName { bytes }
    }

    pub fn as_str(&self) -> &str {
        let n = self.bytes.iter().position(|&c| c == 0).unwrap_or(0);
        core::str::from_utf8(&self.bytes[..n]).unwrap_or("?")
    }

    /// NUL-terminated, for `rt_dev`.
    pub(crate) fn as_c_ptr(&self) -> *const libc::c_char {
        self.bytes.as_ptr().cast()
    }

    pub(crate) fn ifreq(&self) -> libc::ifreq {
        let mut req: libc::ifreq = unsafe { core::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(self.bytes.iter()) {
            *d = *s as libc::c_char;
        }
        req
    }
}

impl core::fmt::Debug for IfName {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Display for IfName {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `sockaddr_in` for `addr`, typed as the generic `sockaddr` the ioctls take.
pub(crate) fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    unsafe { core::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

pub(crate) fn sockaddr_ipv4(sa: &libc::sockaddr) -> Ipv4Addr {
    let sin: libc::sockaddr_in = unsafe { core::mem::transmute_copy(sa) };
    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))
}

/// The kernel's `struct rtentry` (<linux/route.h>); libc has it for musl only.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *const libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// An AF_INET datagram socket: the handle every interface ioctl goes through.
pub struct Control {
    fd: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// ioctl(2) as the plain system call. musl's wrapper also converts the results of a few
/// timestamp requests (SIOCGSTAMP and the like) for 32-bit boards' 64-bit `time_t`, none of
/// which is ours: 1.2 KB of the mipsel binary for nothing. One function for every request and
/// argument type.
#[inline(never)]
pub(crate) fn ioctl(fd: RawFd, request: libc::c_ulong, arg: *mut libc::c_void) -> io::Result<()> {
    // SAFETY: the caller passes an fd and an argument of the type `request` expects.
    let rc = unsafe { libc::syscall(libc::SYS_ioctl, libc::c_long::from(fd), request, arg) };
    check(rc as libc::c_int)
}

impl Control {
    pub fn open() -> io::Result<Control> {
        let fd = super::sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(fd)?;
        Ok(Control {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    #[inline(always)]
    pub(crate) fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T) -> io::Result<()> {
        ioctl(self.fd.as_raw_fd(), request, (arg as *mut T).cast())
    }

    pub fn index(&self, name: &IfName) -> io::Result<u32> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFINDEX, &mut req)?;
        Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
    }

    pub fn exists(&self, name: &IfName) -> bool {
        self.index(name).is_ok()
    }

    pub fn set_address(&self, name: &IfName, addr: Ipv4Addr) -> io::Result<()> {
        let mut req = name.ifreq();
        req.ifr_ifru.ifru_addr = sockaddr(addr);
        self.ioctl(libc::SIOCSIFADDR, &mut req)
    }

    /// The interface's primary IPv4 address (what `ip addr` lists first).
    pub fn address(&self, name: &IfName) -> io::Result<Ipv4Addr> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFADDR, &mut req)?;
        Ok(sockaddr_ipv4(unsafe { &req.ifr_ifru.ifru_addr }))
    }

    /// The prefix length of the interface's primary address (from its netmask).
    pub fn prefix_len(&self, name: &IfName) -> io::Result<u8> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFNETMASK, &mut req)?;
        let mask = u32::from(sockaddr_ipv4(unsafe { &req.ifr_ifru.ifru_netmask }));
        Ok(mask.leading_ones() as u8)
    }

    pub fn set_netmask(&self, name: &IfName, prefix_len: u8) -> io::Result<()> {
        let mut req = name.ifreq();
        req.ifr_ifru.ifru_netmask = sockaddr(prefix_mask(prefix_len));
        self.ioctl(libc::SIOCSIFNETMASK, &mut req)
    }

    /// The far end of a point-to-point link.
    pub fn set_peer(&self, name: &IfName, peer: Ipv4Addr) -> io::Result<()> {
        let mut req = name.ifreq();
        req.ifr_ifru.ifru_dstaddr = sockaddr(peer);
        self.ioctl(libc::SIOCSIFDSTADDR, &mut req)
    }

    pub fn set_mtu(&self, name: &IfName, mtu: u16) -> io::Result<()> {
        let mut req = name.ifreq();
        req.ifr_ifru.ifru_mtu = mtu.into();
        self.ioctl(libc::SIOCSIFMTU, &mut req)
    }

    pub fn mtu(&self, name: &IfName) -> io::Result<u16> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFMTU, &mut req)?;
        Ok(unsafe { req.ifr_ifru.ifru_mtu }.clamp(0, u16::MAX.into()) as u16)
    }

    /// IFF_* flags.
    pub fn flags(&self, name: &IfName) -> io::Result<libc::c_int> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFFLAGS, &mut req)?;
        Ok(libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags }) & 0xFFFF)
    }

    pub fn set_up(&self, name: &IfName, up: bool) -> io::Result<()> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFFLAGS, &mut req)?;
        let mut flags = unsafe { req.ifr_ifru.ifru_flags };
        let bits = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if up {
            flags |= bits;
        } else {
            flags &= !bits;
        }
        req.ifr_ifru.ifru_flags = flags;
        self.ioctl(libc::SIOCSIFFLAGS, &mut req)
    }

    /// The 6-byte hardware address of an Ethernet interface.
    pub fn mac(&self, name: &IfName) -> io::Result<[u8; 6]> {
        let mut req = name.ifreq();
        self.ioctl(libc::SIOCGIFHWADDR, &mut req)?;
        let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
        if sa.sa_family != libc::ARPHRD_ETHER {
            return Err(super::io_error(
                io::ErrorKind::Unsupported,
                format_args!("not an Ethernet interface"),
            ));
        }
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
            *d = *s as u8;
        }
        Ok(mac)
    }

    /// Add or delete the route `dst/prefix_len dev <dev>`; adding one that exists already is
    /// not an error.
    pub(crate) fn route(
        &self,
        add: bool,
        dev: &IfName,
        dst: Ipv4Addr,
        prefix_len: u8,
    ) -> io::Result<()> {
        let mut flags = libc::RTF_UP;
        if prefix_len == 32 {
            flags |= libc::RTF_HOST;
        }
        let mut rt = RtEntry {
            rt_pad1: 0,
            rt_dst: sockaddr(dst),
            rt_gateway: sockaddr(Ipv4Addr::UNSPECIFIED),
            rt_genmask: sockaddr(prefix_mask(prefix_len)),
            rt_flags: flags,
            rt_pad2: 0,
            rt_pad3: 0,
            rt_pad4: core::ptr::null_mut(),
            rt_metric: 0,
            rt_dev: dev.as_c_ptr(),
            rt_mtu: 0,
            rt_window: 0,
            rt_irtt: 0,
        };
        let request = if add {
            libc::SIOCADDRT
        } else {
            libc::SIOCDELRT
        };
        match self.ioctl(request, &mut rt) {
            // Deleting never fails with EEXIST.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// A route `dst/prefix_len dev <dev>`; an identical existing route is not an error.
    pub fn add_route(&self, dev: &IfName, dst: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
        self.route(true, dev, dst, prefix_len)
    }

    pub fn delete_route(&self, dev: &IfName, dst: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
        self.route(false, dev, dst, prefix_len)
    }
}

/// The gateway of the main table's default route through `name`, from /proc/net/route
/// (start-up only: it allocates).
pub fn default_gateway(name: &str) -> Option<Ipv4Addr> {
    parse_default_gateway(
        &super::file::read_to_string(Path::new("/proc/net/route")).ok()?,
        name,
    )
}

/// /proc/net/route: `Iface Destination Gateway Flags ...`, addresses as native-endian hex.
fn parse_default_gateway(table: &str, name: &str) -> Option<Ipv4Addr> {
    table.lines().skip(1).find_map(|line| {
        // The kernel writes ASCII: no need for (and no code of) Unicode's whitespace table.
        let mut f = line.split_ascii_whitespace();
        let (iface, dst, gw, mask) = (f.next()?, f.next()?, f.next()?, f.nth(4)?);
        if iface != name || dst != "00000000" || mask != "00000000" {
            return None;
        }
        let gw = u32::from_str_radix(gw, 16).ok()?;
        // The kernel prints the network-order word as a native integer.
        (gw != 0).then(|| Ipv4Addr::from(gw.to_ne_bytes()))
    })
}

/// 255.255.255.0 for 24; 0.0.0.0 for 0; lengths above 32 count as 32.
pub fn prefix_mask(prefix_len: u8) -> Ipv4Addr {
    let len = u32::from(prefix_len.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

/// Calls `each(network, prefix_len)` for the fewest CIDR blocks that cover exactly
/// `first..=last` (the classic range-to-prefix split). Exact, rather than one covering
/// prefix, so a pool like .20-.30 never captures the router's LAN neighbours .16-.19.
/// At most 62 blocks per range; nothing is allocated.
pub fn for_each_prefix(first: Ipv4Addr, last: Ipv4Addr, mut each: impl FnMut(Ipv4Addr, u8)) {
    // u32 arithmetic throughout (u64 is two registers and a carry on 32-bit boards): a
    // block of 2^bits addresses is `mask(bits)` past its first, bits 0..=32.
    let mask = |bits: u32| u32::MAX.checked_shr(32 - bits).unwrap_or(0);
    let (mut lo, hi) = (u32::from(first), u32::from(last));
    if lo > hi {
        return;
    }
    loop {
        // Largest aligned block starting at `lo` that does not pass `hi`.
        let mut bits = lo.trailing_zeros();
        while mask(bits) > hi - lo {
            bits -= 1;
        }
        each(Ipv4Addr::from(lo), (32 - bits) as u8);
        let end = lo + mask(bits);
        if end == hi {
            return;
        }
        lo = end + 1;
    }
}

/// The classic split with u64 arithmetic, which `for_each_prefix` replaced: the two must agree.
#[cfg(test)]
fn for_each_prefix_u64(first: Ipv4Addr, last: Ipv4Addr, mut each: impl FnMut(Ipv4Addr, u8)) {
    let (mut lo, hi) = (u64::from(u32::from(first)), u64::from(u32::from(last)));
    while lo <= hi {
        let mut size: u64 = if lo == 0 {
            1 << 32
        } else {
            1 << lo.trailing_zeros()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        let prefix_len = 32 - size.trailing_zeros() as u8;
        each(Ipv4Addr::from(lo as u32), prefix_len);
        lo += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(a: &str, b: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_prefix(a.parse().unwrap(), b.parse().unwrap(), |n, l| {
            v.push(format!("{n}/{l}"))
        });
        v
    }

    #[test]
    fn ranges_split_into_exact_prefixes() {
        assert_eq!(split("10.0.0.5", "10.0.0.5"), ["10.0.0.5/32"]);
        assert_eq!(split("192.168.0.0", "192.168.0.255"), ["192.168.0.0/24"]);
        assert_eq!(
            split("192.168.0.20", "192.168.0.30"),
            [
                "192.168.0.20/30",
                "192.168.0.24/30",
                "192.168.0.28/31",
                "192.168.0.30/32"
            ]
        );
        assert_eq!(
            split("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(split("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(
            split("255.255.255.255", "255.255.255.255"),
            ["255.255.255.255/32"]
        );
        assert!(split("10.0.0.9", "10.0.0.1").is_empty());
        assert_eq!(split("0.0.0.1", "255.255.255.254").len(), 62);
    }

    #[test]
    fn prefixes_cover_exactly_the_range() {
        let mut rng = crate::rand::XorShift(0x1234_5678);
        use crate::rand::Random;
        for _ in 0..2000 {
            let a = rng.next_u32() >> (rng.next_u32() % 32);
            let b = a.saturating_add(rng.next_u32() >> (rng.next_u32() % 32));
            let mut next = u64::from(a);
            for_each_prefix(Ipv4Addr::from(a), Ipv4Addr::from(b), |n, l| {
                assert_eq!(u64::from(u32::from(n)), next, "contiguous");
                let mask = u32::from(prefix_mask(l));
                assert_eq!(u32::from(n) & !mask, 0, "aligned");
                next += 1u64 << (32 - l);
            });
            assert_eq!(next, u64::from(b) + 1);
        }
    }

    #[test]
    fn u32_split_matches_the_u64_one() {
        let mut rng = crate::rand::XorShift(0x5eed);
        use crate::rand::Random;
        let list = |a: u32, b: u32, f: fn(Ipv4Addr, Ipv4Addr, &mut dyn FnMut(Ipv4Addr, u8))| {
            let mut v = Vec::new();
            f(Ipv4Addr::from(a), Ipv4Addr::from(b), &mut |n, l| {
                v.push((n, l))
            });
            v
        };
        let new: fn(Ipv4Addr, Ipv4Addr, &mut dyn FnMut(Ipv4Addr, u8)) =
            |a, b, f| for_each_prefix(a, b, f);
        let old: fn(Ipv4Addr, Ipv4Addr, &mut dyn FnMut(Ipv4Addr, u8)) =
            |a, b, f| for_each_prefix_u64(a, b, f);
        let edges = [0, 1, 2, 0x7fff_ffff, 0x8000_0000, u32::MAX - 1, u32::MAX];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(list(a, b, new), list(a, b, old), "{a:#x}-{b:#x}");
            }
        }
        for _ in 0..20_000 {
            let a = rng.next_u32() >> (rng.next_u32() % 33).min(31);
            let b = match rng.next_u32() % 3 {
                0 => rng.next_u32(),
                1 => a.saturating_add(rng.next_u32() >> (rng.next_u32() % 32)),
                _ => a.wrapping_sub(rng.next_u32() % 4),
            };
            assert_eq!(list(a, b, new), list(a, b, old), "{a:#x}-{b:#x}");
        }
    }

    #[test]
    fn default_gateway_from_proc_net_route() {
        // Little-endian layout, as on x86 and most routers' ARM/MIPS-el.
        let le =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        let want = if cfg!(target_endian = "little") {
            Some(Ipv4Addr::new(192, 168, 1, 1))
        } else {
            Some(Ipv4Addr::new(1, 1, 168, 192))
        };
        assert_eq!(parse_default_gateway(le, "eth0"), want);
        assert_eq!(parse_default_gateway(le, "eth1"), None);
        assert_eq!(parse_default_gateway("garbage\nx y", "x"), None);
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_mask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(prefix_mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_mask(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(prefix_mask(40), Ipv4Addr::new(255, 255, 255, 255));
    }

    #[test]
    fn interface_names() {
        assert_eq!(IfName::new("smolpptp0").unwrap().as_str(), "smolpptp0");
        assert!(IfName::new("").is_err());
        assert!(IfName::new("0123456789abcdef").is_err());
        assert!(IfName::new("a b").is_err());
        assert!(IfName::new("a/b").is_err());
        assert_eq!(IfName::new("0123456789abcde").unwrap().as_str().len(), 15);
    }

    #[test]
    fn loopback_via_ioctls() {
        let ctl = Control::open().unwrap();
        let lo = IfName::new("lo").unwrap();
        assert!(ctl.index(&lo).unwrap() >= 1);
        assert_eq!(ctl.address(&lo).unwrap(), Ipv4Addr::LOCALHOST);
        assert_eq!(ctl.prefix_len(&lo).unwrap(), 8);
        assert!(ctl.mac(&lo).is_err(), "loopback is not Ethernet");
        assert!(!ctl.exists(&IfName::new("nosuchif0").unwrap()));
    }
}
