//! A two-namespace lab for running `smolpptpd` for real: a "client" and a "router" network
//! namespace joined by a veth pair, the daemon started inside the router namespace with
//! files from a temporary directory, and the project's test client driven from the test
//! process over kernel sockets created in the client namespace.
//!
//! Only documentation addresses (RFC 5737) are used: the link is 192.0.2.0/24, the tunnels
//! 198.51.100.0/24, DNS and the daemon's own TUN address 203.0.113.0/24. Everything lives in
//! the two namespaces, so deleting them (on drop, also after a panic) removes the TUN, the
//! veth pair, the nftables table and the sysctls with them.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::client::ClientConfig;
use crate::support::kernel::KernelClient;

/// The router's address on the veth link: where clients find the PPTP server.
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT_HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
pub const LINK_PREFIX: u8 = 24;
/// `localip`: the server's side of every tunnel; the kernel's address on the TUN.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// `remoteip` 198.51.100.10-17: the first address a client gets.
pub const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const POOL_LAST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 17);
pub const DNS1: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const DNS2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 54);
/// The tun backend's smoltcp address behind the TUN (`address`).
pub const SMOLTCP_TUN_ADDRESS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
pub const USER: &str = "tomc";
pub const PASSWORD: &str = "labpass-42";
/// Interface names inside the namespaces (namespaced, so every lab can use the same ones).
pub const CLIENT_VETH: &str = "vc0";
pub const ROUTER_VETH: &str = "vr0";
/// The daemon's TUN name (its default).
pub const TUN: &str = "smolpptp0";
/// The nftables table the daemon owns.
pub const NFT_TABLE: &str = "smolpptp";

/// How long the daemon may take to accept a PPTP connection after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

pub const DAEMON: &str = env!("CARGO_BIN_EXE_smolpptpd");

/// The command that runs the daemon in the lab: `SMOLPPTP_TEST_DAEMON` when set (words split
/// on white space, e.g. `qemu-arm-static -cpu cortex-a7 target/armv7-.../smolpptpd`, so a
/// router board's binary is tested under qemu-user), else the binary cargo built.
pub fn daemon_command() -> Vec<String> {
    match std::env::var("SMOLPPTP_TEST_DAEMON") {
        Ok(words) if !words.trim().is_empty() => {
            words.split_whitespace().map(str::to_owned).collect()
        }
        _ => vec![DAEMON.to_owned()],
    }
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Why the namespace tests cannot run here, if they cannot: not root, or no `ip netns`.
pub fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some("needs root for network namespaces".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns list` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no `ip` command (iproute2): {e}")),
    }
}

/// Run a command to completion; its stdout, or an error with the command and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `ip netns add` of two labs at once can race on /run/netns's first mount.
static NAMESPACE_SETUP: Mutex<()> = Mutex::new(());

/// Unique names per lab within this test process.
static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: String) -> Result<Netns, String> {
        {
            let _serial = NAMESPACE_SETUP.lock().unwrap_or_else(|e| e.into_inner());
            run("ip", &["netns", "add", &name])?;
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ARGS...`
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip netns exec NAME PROGRAM ARGS...`, run to completion.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip netns exec NAME PROGRAM ARGS...`, whatever its exit status.
    pub fn exec_output(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
    }

    /// Run `f` on a thread that has entered this namespace. Sockets `f` creates belong to
    /// the namespace for good and can be returned and used from any thread.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    panic!("setns({path}): {}", io::Error::last_os_error());
                }
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _serial = NAMESPACE_SETUP.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("cleaning up: {e}");
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("smolpptp-netns-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which backend the lab's pptpd.conf selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Tun,
    Raw,
}

/// Write the lab's pptpd.conf, options file and chap-secrets into `dir`; the pptpd.conf
/// path. `extra_conf` lines go first in pptpd.conf (pptpd: the first line of a keyword
/// wins), `extra_options` last in the options file.
pub fn write_config(
    dir: &TempDir,
    backend: Backend,
    extra_conf: &str,
    extra_options: &str,
) -> PathBuf {
    let secrets = dir.write(
        "chap-secrets",
        &format!("# client server secret addresses\n{USER} pptpd \"{PASSWORD}\" *\n"),
    );
    let _ = std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600));
    let options = dir.write(
        "options.pptpd",
        &format!(
            "name pptpd\nauth\nrequire-mschap-v2\nrefuse-pap\nrefuse-chap\nrefuse-mschap\n\
             require-mppe-128\nnomppe-stateful\nms-dns {DNS1}\nms-dns {DNS2}\nmtu 1400\nmru 1400\n\
             lcp-echo-interval 30\nlcp-echo-failure 4\nnobsdcomp\nnodeflate\n{extra_options}"
        ),
    );
    let backend_lines = match backend {
        Backend::Tun => format!(
            "backend tun\nwan {ROUTER_VETH}\naddress {SMOLTCP_TUN_ADDRESS}/32\nfirewall on\nforwarding on\n"
        ),
        Backend::Raw => format!("backend raw\ninterface {ROUTER_VETH}\nfirewall on\nforwarding on\n"),
    };
    dir.write(
        "pptpd.conf",
        &format!(
            "{extra_conf}option {}\nconnections 8\nlocalip {LOCAL}\nremoteip {POOL_FIRST}-{}\n\
             stimeout 10\npidfile {}\n{backend_lines}chap-secrets {}\n",
            options.display(),
            POOL_LAST.octets()[3],
            dir.path("pptpd.pid").display(),
            secrets.display(),
        ),
    )
}

/// `smolpptpd` running in the router namespace with stdout and stderr in files.
pub struct Daemon {
    pub child: Child,
    pub log_path: PathBuf,
    pub status: Option<ExitStatus>,
}

impl Daemon {
    /// `ip netns exec ROUTER smolpptpd --fg -c CONF` (ip execs the daemon in place, so the
    /// child's pid is the daemon's).
    pub fn start(router: &Netns, conf: &Path, log_path: PathBuf) -> Daemon {
        let log = File::create(&log_path).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &router.name])
            .args(daemon_command())
            .args(["--fg", "-d", "-c"])
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start smolpptpd");
        Daemon {
            child,
            log_path,
            status: None,
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// The daemon's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Wait at most `limit` for the daemon to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: libc::c_int) {
        if self.status.is_none() {
            unsafe { libc::kill(self.pid(), signal) };
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(Duration::from_secs(4)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Shown when a test fails, or always with SMOLPPTP_TEST_LOG set.
        if std::thread::panicking() || std::env::var_os("SMOLPPTP_TEST_LOG").is_some() {
            eprintln!(
                "---- smolpptpd output ({}) ----\n{}---- end of smolpptpd output ----",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// The lab: fields drop in order, so the daemon stops before its namespace goes.
pub struct Lab {
    pub daemon: Option<Daemon>,
    pub client: Netns,
    pub router: Netns,
    pub dir: TempDir,
    pub tag: String,
}

impl Lab {
    /// Two namespaces joined by a veth pair with the link addresses, TX checksum offload off
    /// on the client's end (so the raw backend's AF_PACKET socket sees complete checksums).
    pub fn new(tag: &str) -> Lab {
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("spt{}-{n}-{tag}", std::process::id());
        let dir = TempDir::new(&format!("{tag}-{n}"));
        let client = Netns::create(format!("{base}-c")).unwrap();
        let router = Netns::create(format!("{base}-r")).unwrap();
        run(
            "ip",
            &[
                "link",
                "add",
                CLIENT_VETH,
                "netns",
                &client.name,
                "type",
                "veth",
                "peer",
                "name",
                ROUTER_VETH,
                "netns",
                &router.name,
            ],
        )
        .unwrap();
        let client_cidr = format!("{CLIENT_HOST}/{LINK_PREFIX}");
        let router_cidr = format!("{ROUTER}/{LINK_PREFIX}");
        client
            .ip(&["addr", "add", &client_cidr, "dev", CLIENT_VETH])
            .unwrap();
        router
            .ip(&["addr", "add", &router_cidr, "dev", ROUTER_VETH])
            .unwrap();
        client.ip(&["link", "set", CLIENT_VETH, "up"]).unwrap();
        router.ip(&["link", "set", ROUTER_VETH, "up"]).unwrap();
        client
            .enter(|| set_tx_checksum(CLIENT_VETH, false))
            .unwrap_or_else(|e| panic!("tx checksum offload off on {CLIENT_VETH}: {e}"));
        Lab {
            daemon: None,
            client,
            router,
            dir,
            tag: tag.into(),
        }
    }

    /// Start the daemon on `conf` (in the router namespace).
    pub fn start_daemon(&mut self, conf: &Path) {
        assert!(self.daemon.is_none());
        self.daemon = Some(Daemon::start(
            &self.router,
            conf,
            self.dir.path("smolpptpd.log"),
        ));
    }

    pub fn daemon(&mut self) -> &mut Daemon {
        self.daemon.as_mut().expect("daemon started")
    }

    /// Panic with the daemon's output if it is no longer running.
    pub fn assert_daemon_running(&mut self, when: &str) {
        let d = self.daemon();
        if let Some(status) = d.exited() {
            panic!("smolpptpd exited {when} ({status})");
        }
    }

    /// A test client connected from the client namespace to the server's 1723, retrying
    /// until the daemon accepts (at most [`START_TIMEOUT`]); fails early if it exits.
    pub fn connect(&mut self, mut config: ClientConfig, call_id: u16) -> KernelClient {
        config.call_id = call_id;
        let end = Instant::now() + START_TIMEOUT;
        loop {
            self.assert_daemon_running("before accepting a connection");
            let attempt = self.client.enter(|| {
                KernelClient::connect(
                    ROUTER,
                    config.clone(),
                    0xC11E_0000 ^ u64::from(call_id),
                    Duration::from_millis(500),
                )
            });
            match attempt {
                Ok(c) => return c,
                Err(e) if Instant::now() >= end => {
                    panic!("smolpptpd did not accept a connection in {START_TIMEOUT:?}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A UDP socket bound to `addr`:`port` in the router namespace (nonblocking).
    pub fn router_udp(&self, addr: Ipv4Addr, port: u16) -> UdpSocket {
        let socket = self
            .router
            .enter(|| UdpSocket::bind((addr, port)))
            .unwrap_or_else(|e| panic!("bind {addr}:{port} in the router namespace: {e}"));
        socket.set_nonblocking(true).unwrap();
        socket
    }

    /// `nft list tables` in the router namespace.
    pub fn router_nft_tables(&self) -> String {
        self.router
            .exec("nft", &["list", "tables"])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Does `ifname` exist in the router namespace?
    pub fn router_has_link(&self, ifname: &str) -> bool {
        self.router.ip(&["link", "show", "dev", ifname]).is_ok()
    }
}

/// SIOCETHTOOL and the legacy TX checksum commands (linux/sockios.h, linux/ethtool.h):
/// `ethtool -K IF tx off` without needing the ethtool program.
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ethtool_value(ifname: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut value = EthtoolValue { cmd, data };
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.len() >= ifr.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, src) in ifr.ifr_name.iter_mut().zip(ifname.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    if unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.data)
}

/// Turn TX checksum offload on or off on `ifname` (current thread's namespace) and check
/// that it took.
pub fn set_tx_checksum(ifname: &str, on: bool) -> io::Result<()> {
    ethtool_value(ifname, ETHTOOL_STXCSUM, u32::from(on))?;
    let now = ethtool_value(ifname, ETHTOOL_GTXCSUM, 0)?;
    if (now != 0) != on {
        return Err(io::Error::other(format!(
            "tx checksumming still {} on {ifname}",
            if now != 0 { "on" } else { "off" }
        )));
    }
    Ok(())
}
