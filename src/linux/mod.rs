//! The Linux edge of the daemon (behind the `std` feature): devices, clock, randomness,
//! signals, syslog, firewall and the poll loop. Everything here that runs per packet or per
//! event works in buffers allocated at start-up; only start-up, reload and exit allocate.
//!
//! - [`interface`]: interface ioctls (address, peer, MTU, up, routes) without `ip`.
//! - [`tun`]: the TUN interface and its smoltcp `Device` (Medium::Ip).
//! - [`packet`]: the `raw` backend's AF_PACKET `Device` (Medium::Ethernet) with a BPF filter.
//! - [`device`]: the daemon's one smoltcp `Device` over the backend's devices, and their tokens.
//! - [`firewall`]: our own nftables table, and its text for `smolpptpd check`.
//! - [`signals`], [`syslog`], [`clock`], [`random`]: process plumbing.
//! - [`file`]: whole-file reads and writes without std's `OpenOptions`.
//! - [`spawn`]: fork + exec for the hook scripts and `nft`, without std's `Command`.
//! - [`daemon`]: the poll loop driving `server::Server`.

pub mod allocator;
pub mod clock;
pub mod control_socket;
pub mod daemon;
pub mod device;
pub mod file;
pub mod firewall;
pub mod hooks;
pub mod host;
pub mod interface;
pub mod neighbours;
pub mod packet;
pub mod proxy_arp;
pub mod random;
pub mod signals;
pub mod spawn;
pub mod sys;
pub mod syslog;
pub mod tun;
pub mod wtmp;

use core::net::Ipv4Addr;
use std::{fmt, io};

/// An `io::Error` of `kind` saying `message`. Not `io::Error::new(kind, "...")`: that boxes
/// std's string error, whose derived `Debug` links the Unicode escaping tables (~2.5 KB).
#[inline(never)]
pub fn io_error(kind: io::ErrorKind, message: fmt::Arguments<'_>) -> io::Error {
    io::Error::new(kind, Message(fmt::format(message)))
}

/// An `io::Error` as std prints it (`{e}`), without linking std's `Display` for it: that
/// one also holds the texts of every `ErrorKind` ("permission denied", ...), 1 KB and more
/// of the binary, for errors this daemon never makes. An OS error is its `strerror` text
/// and `(os error N)`; an error made by [`io_error`] its message. The daemon makes no other
/// kind (those would print nothing).
pub struct ErrorText(pub io::Error);

impl fmt::Display for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if let Some(code) = e.raw_os_error() {
            // SAFETY: strerror returns a NUL-terminated text for any number, which stays
            // valid (musl's are static; the daemon does not change its locale).
            let text = unsafe { core::ffi::CStr::from_ptr(libc::strerror(code)) };
            return write!(f, "{} (os error {code})", text.to_str().unwrap_or(""));
        }
        match e.get_ref() {
            Some(inner) => fmt::Display::fmt(inner, f),
            None => Ok(()),
        }
    }
}

/// A value, or `text` in its place (padded like the value would be) when there is none.
pub struct Or<T>(pub Option<T>, pub &'static str);

impl<T: core::fmt::Display> core::fmt::Display for Or<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.pad(self.1),
        }
    }
}

/// `.1` and the address, or `.2` without one (the firewall's rules, `smolpptpd check`).
pub(crate) struct Either(pub Option<Ipv4Addr>, pub &'static str, pub &'static str);

impl fmt::Display for Either {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{}{a}", self.1),
            None => f.write_str(self.2),
        }
    }
}

struct Message(String);

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

#[cfg(test)]
pub(crate) mod testns {
    //! Run a test body in a fresh network namespace of its own thread (unshare is per
    //! thread for CLONE_NEWNET, and child processes such as `ip` inherit it). Needs root;
    //! without it the test prints why and passes.

    pub fn run<F: FnOnce() + Send + 'static>(what: &str, f: F) {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping {what}: needs root for a network namespace");
            return;
        }
        let h = std::thread::spawn(move || {
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                eprintln!(
                    "skipping: unshare(CLONE_NEWNET): {}",
                    std::io::Error::last_os_error()
                );
                return;
            }
            sh("ip link set lo up");
            f()
        });
        if let Err(e) = h.join() {
            std::panic::resume_unwind(e);
        }
    }

    /// Run a shell command in the current thread's namespace; its stdout.
    pub fn sh(cmd: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "`{cmd}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A second namespace for a client, joined to the test's namespace by a veth pair:
    /// `rt0` here (10.1.0.1/24), `cl0` there (10.1.0.100/24). `setup` runs after the
    /// addresses are set (e.g. turning checksum offload off). Deleted on drop.
    pub struct ClientNs(pub String);

    impl ClientNs {
        pub fn new(tag: &str, setup: &str) -> ClientNs {
            let ns = ClientNs(format!("{tag}{}", std::process::id()));
            sh(&format!("ip netns add {}", ns.0));
            sh(&format!(
                "ip link add rt0 type veth peer name cl0 netns {}",
                ns.0
            ));
            sh("ip addr add 10.1.0.1/24 dev rt0 && ip link set rt0 up");
            sh(&format!(
                "ip -n {n} addr add 10.1.0.100/24 dev cl0 && ip -n {n} link set cl0 up \
                 && ip -n {n} link set lo up",
                n = ns.0
            ));
            if !setup.is_empty() {
                sh(&setup.replace("{ns}", &ns.0));
            }
            ns
        }
    }

    impl Drop for ClientNs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }

    /// What the backends' end-to-end tests serve on smoltcp: TCP echo on port 1723, and a
    /// raw GRE socket that sends every packet back with source and destination swapped.
    pub struct Reflector {
        pub sockets: smoltcp::iface::SocketSet<'static>,
        tcp: smoltcp::iface::SocketHandle,
        gre: smoltcp::iface::SocketHandle,
    }

    impl Reflector {
        pub fn new() -> Reflector {
            use smoltcp::iface::{SocketSet, SocketStorage};
            use smoltcp::socket::{raw, tcp};
            use smoltcp::wire::{IpProtocol, IpVersion};
            fn leak<T>(v: Vec<T>) -> &'static mut [T] {
                Box::leak(v.into_boxed_slice())
            }
            let mut listener = tcp::Socket::new(
                tcp::SocketBuffer::new(leak(vec![0u8; 512])),
                tcp::SocketBuffer::new(leak(vec![0u8; 512])),
            );
            listener.listen(1723).unwrap();
            let gre = raw::Socket::new(
                Some(IpVersion::Ipv4),
                Some(IpProtocol::from(47u8)),
                raw::PacketBuffer::new(
                    leak(vec![raw::PacketMetadata::EMPTY; 4]),
                    leak(vec![0u8; 2048]),
                ),
                raw::PacketBuffer::new(
                    leak(vec![raw::PacketMetadata::EMPTY; 4]),
                    leak(vec![0u8; 2048]),
                ),
            );
            let mut sockets =
                SocketSet::new(leak(vec![SocketStorage::EMPTY, SocketStorage::EMPTY]));
            let tcp = sockets.add(listener);
            let gre = sockets.add(gre);
            Reflector { sockets, tcp, gre }
        }

        /// Echo what TCP received and reflect one GRE packet.
        pub fn serve(&mut self) {
            use smoltcp::socket::{raw, tcp};
            let mut packet = [0u8; 2048];
            let t = self.sockets.get_mut::<tcp::Socket>(self.tcp);
            if t.can_recv() {
                let n = t.recv_slice(&mut packet).unwrap();
                t.send_slice(&packet[..n]).unwrap();
            }
            let g = self.sockets.get_mut::<raw::Socket>(self.gre);
            if let Ok(n) = g.recv_slice(&mut packet) {
                let mut src = [0u8; 4];
                src.copy_from_slice(&packet[12..16]);
                packet.copy_within(16..20, 12);
                packet[16..20].copy_from_slice(&src);
                g.send_slice(&packet[..n]).unwrap();
            }
        }
    }

    /// In namespace `ns`: connect to 10.1.0.1:1723, expect the echo, then send a GRE packet
    /// and print where its reflection came from. `drive` is called until the client exits
    /// (at most 5 s); the client's output must show both round trips.
    pub fn run_client_against(ns: &str, mut drive: impl FnMut()) {
        use std::process::{Command, Stdio};
        let client = r#"
import socket
s = socket.create_connection(("10.1.0.1", 1723), timeout=3)
s.sendall(b"hello")
print(s.recv(16).decode())
g = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
g.settimeout(3)
g.sendto(bytes([0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 7]), ("10.1.0.1", 0))
data, addr = g.recvfrom(2000)
print(addr[0], data[9])
"#;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", client])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 client");
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(5) {
            drive();
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello\n10.1.0.1 47\n",
            "client stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[cfg(test)]
mod error_text_tests {
    use super::{io_error, ErrorText};
    use std::io;

    /// [`ErrorText`] prints every error the daemon makes as std's `Display` does.
    #[test]
    fn error_text_is_std_display() {
        let mut errors: Vec<io::Error> = (-2..300).map(io::Error::from_raw_os_error).collect();
        for (kind, text) in [
            (io::ErrorKind::InvalidInput, "NUL in a path"),
            (io::ErrorKind::WriteZero, "write zero"),
            (io::ErrorKind::OutOfMemory, "out of memory"),
            (io::ErrorKind::Other, "nft -f -: Error: syntax error"),
            (io::ErrorKind::InvalidData, ""),
            (
                io::ErrorKind::Other,
                "x: Permission denied (os error 13) (is it?)",
            ),
        ] {
            errors.push(io_error(kind, format_args!("{text}")));
        }
        for e in errors {
            let std = e.to_string();
            assert_eq!(ErrorText(e).to_string(), std);
            assert_eq!(
                format!("<{:>90}>", ErrorText(io::Error::other(std.clone()))),
                format!("<{:>90}>", io::Error::other(std))
            );
        }
        // The two kinds the daemon used to make as kinds print as their std texts.
        assert_eq!(
            io::Error::from(io::ErrorKind::WriteZero).to_string(),
            "write zero"
        );
        assert_eq!(
            io::Error::from(io::ErrorKind::OutOfMemory).to_string(),
            "out of memory"
        );
    }
}
