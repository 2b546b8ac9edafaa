//! The Linux edge of the daemon (behind the `std` feature): devices, clock, randomness,
//! signals, syslog, firewall and the poll loop. Everything here that runs per packet or per
//! event works in buffers allocated at start-up; only start-up, reload and exit allocate.
//!
//! - [`interface`]: interface ioctls (address, peer, MTU, up, routes) without `ip`.
//! - [`tun`]: the TUN interface and its smoltcp `Device` (Medium::Ip).
//! - [`packet`]: the `raw` backend's AF_PACKET `Device` (Medium::Ethernet) with a BPF filter.
//! - [`firewall`]: our own nftables table, and its text for `smolpptpd check`.
//! - [`signals`], [`syslog`], [`clock`], [`random`]: process plumbing.
//! - [`daemon`]: the poll loop driving `server::Server`.

pub mod clock;
pub mod control_socket;
pub mod daemon;
pub mod firewall;
pub mod hooks;
pub mod host;
pub mod interface;
pub mod packet;
pub mod random;
pub mod signals;
pub mod syslog;
pub mod tun;
pub mod wtmp;

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
}
