//! `smolpptpd`: the PPTP server daemon.
//!
//! ```text
//! smolpptpd [-c FILE] [-o FILE] [--fg] [-d]   run (pptpd's options, same meaning)
//! smolpptpd check [-c FILE] [-o FILE]         validate the files and the host, print rules
//! smolpptpd status [--json] [-s SOCKET]        who is connected (asks the running daemon)
//! smolpptpd kick [-s SOCKET] USER|ADDRESS      end sessions by user, tunnel or client address
//! smolpptpd --version                         version and compile-time limits
//! ```

// C's `main` below instead of std's start-up (see there); the test harness brings its own.
#![cfg_attr(not(test), no_main)]

use core::net::Ipv4Addr;
use smolpptp::conf::ChapSecrets;
use smolpptp::conf::{self, Backend, LoadedConfig};
use smolpptp::limits;
use smolpptp::linux::allocator::ClassAllocator;
use smolpptp::linux::control_socket::{self, ControlSocket, ReplyKind, Request};
use smolpptp::linux::daemon::{self, Devices, Exit, Operations, Running};
use smolpptp::linux::file;
use smolpptp::linux::firewall::{self, Firewall, FirewallConfig, IpForward, Mode};
use smolpptp::linux::hooks::{HookConfig, HookRunner};
use smolpptp::linux::interface::{Control, IfName};
use smolpptp::linux::packet::{PacketConfig, PacketDevice};
use smolpptp::linux::proxy_arp::ProxyArp;
use smolpptp::linux::random::KernelRandom;
use smolpptp::linux::signals::Signals;
use smolpptp::linux::tun::{self, Tun, TunConfig, TunDevice};
use smolpptp::linux::wtmp::{self, Wtmp};
use smolpptp::linux::{clock, interface};
use smolpptp::linux::{host, sys, syslog};
use smolpptp::server::{NetConfig, Selector, Server, Storage};
use smolpptp::settings::Settings;
use smoltcp::iface::SocketStorage;
use smoltcp::socket::raw;
use smoltcp::wire::{EthernetAddress, HardwareAddress};
use std::fmt;
use std::path::Path;

/// Size classes over mmap instead of musl's malloc (see the module for why).
#[global_allocator]
static ALLOCATOR: ClassAllocator = ClassAllocator::new();

/// `println!` and `eprintln!` without std's `Stdout` (its lock, line buffer and thread ids):
/// the line is formatted once and written whole to `fd`. Write errors are ignored: every
/// command but the daemon runs with SIGPIPE at its default, so a closed pipe just ends it.
fn write_line(fd: libc::c_int, args: fmt::Arguments<'_>) {
    let mut text = fmt::format(args);
    text.push('\n');
    let _ = file::write_all(fd, text.as_bytes());
}

/// Text that is already made, to stdout as it is (no second copy through the formatter).
fn print_text(text: &str) {
    let _ = file::write_all(1, text.as_bytes());
}

macro_rules! println {
    ($($arg:tt)*) => { write_line(1, format_args!($($arg)*)) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { write_line(2, format_args!($($arg)*)) };
}

/// The exit status. C's `main` returns an int, and std's `ExitCode` has no stable way to it.
#[derive(Clone, Copy)]
struct ExitCode(u8);

impl ExitCode {
    const SUCCESS: ExitCode = ExitCode(0);
    const FAILURE: ExitCode = ExitCode(1);
}

/// `smolpptpd: <error>` on stderr; the command failed.
fn fail(e: &dyn fmt::Display) -> ExitCode {
    eprintln!("smolpptpd: {e}");
    ExitCode::FAILURE
}

/// pptpd's default configuration file.
const DEFAULT_CONF: &str = conf::DEFAULT_PPTPD_CONF;

const USAGE: &str = "usage: smolpptpd [-c FILE] [-o FILE] [-f|--fg] [-d|--debug]
       smolpptpd check [-c FILE] [-o FILE]
       smolpptpd status [--json] [-s SOCKET] [-c FILE]
       smolpptpd kick [-s SOCKET] [-c FILE] USER|ADDRESS
       smolpptpd -v|--version
  -c, --conf FILE     pptpd.conf to read (default /etc/pptpd.conf, or a built-in
                      configuration when that file does not exist)
  -o, --option FILE   pppd options file (overrides `option` in pptpd.conf)
  -f, --fg            stay in the foreground and log to stderr
  -d, --debug         log debug messages
  -s, --socket PATH   the daemon's control socket (default: `control-socket` in
                      pptpd.conf, else /var/run/smolpptpd.sock)
  --json              status as JSON
";

/// Every command's options in one struct (each command reads its own): one type to build,
/// move and drop instead of one per kind of command.
/// The paths and the kick target borrow the arguments (no copies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Options<'a> {
    /// None: /etc/pptpd.conf if it exists, else the embedded default.
    conf: Option<&'a str>,
    option: Option<&'a str>,
    foreground: bool,
    debug: bool,
    /// `status` and `kick`: the daemon's control socket.
    socket: Option<&'a str>,
    /// `status --json`.
    json: bool,
    /// kick: a user name, or a tunnel or client address.
    target: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Command<'a> {
    Run(Options<'a>),
    Check(Options<'a>),
    Status(Options<'a>),
    Kick(Options<'a>),
    Version,
    Help,
}

/// The options, by what they set: one table lookup instead of a string match per arm.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opt {
    Conf,
    Socket,
    Option,
    Json,
    Foreground,
    Debug,
    Version,
    Help,
}

/// Which commands take an option: the daemon and `check`, `status`, `kick`.
const RUN: u8 = 1;
const STATUS: u8 = 2;
const KICK: u8 = 4;

/// Each option's short and long spelling (`--json` has no short one) and the commands that
/// take it.
const OPTIONS: [(&str, &str, u8, Opt); 8] = [
    ("-c", "--conf", RUN | STATUS | KICK, Opt::Conf),
    ("-s", "--socket", STATUS | KICK, Opt::Socket),
    ("--json", "--json", STATUS, Opt::Json),
    ("-o", "--option", RUN, Opt::Option),
    ("-f", "--fg", RUN, Opt::Foreground),
    ("-d", "--debug", RUN, Opt::Debug),
    ("-v", "--version", RUN, Opt::Version),
    ("-h", "--help", RUN, Opt::Help),
];

/// Parse the arguments after the program name. Accepts `-c FILE`, `-cFILE`, `--conf FILE`
/// and `--conf=FILE` like getopt_long does for pptpd; `status` and `kick` take theirs after
/// the command word.
#[inline(never)]
fn parse_args<'a>(args: &[&'a str]) -> Result<Command<'a>, String> {
    let (mode, args) = match args.first().copied() {
        Some("status") => (STATUS, &args[1..]),
        Some("kick") => (KICK, &args[1..]),
        Some("check") => (0, &args[1..]),
        _ => (RUN, args),
    };
    // `check` takes the daemon's options.
    let takes = mode | u8::from(mode == 0);
    let mut o = Options::default();
    let mut rest = args.iter().copied();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--") => arg
                .split_at_checked(2)
                .map_or((arg, None), |(n, v)| (n, Some(v))),
            _ => (arg, None),
        };
        let opt = OPTIONS
            .iter()
            .find(|(short, long, modes, _)| modes & takes != 0 && (name == *short || name == *long))
            .map(|&(_, _, _, opt)| opt);
        // The options that take a path say where it goes; one call reads it for all.
        let flag = match opt {
            Some(Opt::Conf) => &mut o.conf,
            Some(Opt::Socket) => &mut o.socket,
            Some(Opt::Option) => &mut o.option,
            None if mode == KICK && !arg.starts_with('-') && o.target.is_none() => {
                o.target = Some(arg);
                continue;
            }
            Some(Opt::Json) if inline.is_none() => {
                o.json = true;
                continue;
            }
            Some(Opt::Foreground) if inline.is_none() => {
                o.foreground = true;
                continue;
            }
            Some(Opt::Debug) if inline.is_none() => {
                o.debug = true;
                continue;
            }
            Some(Opt::Version) if inline.is_none() => return Ok(Command::Version),
            Some(Opt::Help) if inline.is_none() => return Ok(Command::Help),
            _ => return Err(format!("unknown option '{arg}'")),
        };
        *flag = match inline.or_else(|| rest.next()) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                return Err(format!(
                    "{name} needs {}",
                    if mode & (STATUS | KICK) != 0 {
                        "a path"
                    } else {
                        "a file"
                    }
                ))
            }
        };
    }
    Ok(match mode {
        STATUS => Command::Status(o),
        KICK if o.target.is_none() => return Err("kick needs a user name or an address".into()),
        KICK => Command::Kick(o),
        0 => Command::Check(o),
        _ => Command::Run(o),
    })
}

/// The compile-time limits `--version` reports, as a table in read-only data.
const LIMITS: [(&str, usize); 11] = [
    ("max_sessions", limits::MAX_SESSIONS),
    ("max_control_connections", limits::MAX_CONTROL_CONNECTIONS),
    ("tcp_rx_buffer", limits::TCP_RX_BUFFER),
    ("tcp_tx_buffer", limits::TCP_TX_BUFFER),
    ("gre_rx_packets", limits::GRE_RX_PACKETS),
    ("gre_rx_buffer", limits::GRE_RX_BUFFER),
    ("gre_tx_packets", limits::GRE_TX_PACKETS),
    ("gre_tx_buffer", limits::GRE_TX_BUFFER),
    ("device_mtu", limits::DEVICE_MTU),
    ("reorder_slots", limits::REORDER_SLOTS),
    ("control_queue", limits::CONTROL_QUEUE),
];

#[inline(never)]
fn print_version() {
    println!(
        concat!("smolpptpd ", env!("CARGO_PKG_VERSION"), "\nboard {} ({})"),
        limits::BOARD,
        limits::TARGET
    );
    for &(name, value) in &LIMITS {
        println!("{name} = {value}");
    }
}

/// The program's entry, called by musl's (or glibc's) start-up code. Rust's own `main` goes
/// through std's runtime start-up first, which also names the main thread, installs a
/// stack-overflow reporter, keeps argv for `std::env::args` and flushes std's `Stdout` at exit:
/// 1.7 KB that this program, which prints with write(2), does not need. What of it the
/// program does need is here.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code))]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // As std does: closed stdio descriptors get /dev/null (in order, so open() returns the one
    // that is missing), so that no socket opened later becomes fd 2 and receives error text;
    // and SIGPIPE is ignored, so socket writes fail with EPIPE instead of killing the daemon.
    // SAFETY: no other thread exists yet; the path is NUL-terminated; SIG_IGN is valid.
    unsafe {
        for fd in 0..3 {
            if sys::fcntl(fd, libc::F_GETFD, 0) == -1 {
                smolpptp::linux::sys::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
            }
        }
    }
    sys::set_disposition(libc::SIGPIPE, libc::SIG_IGN);
    let mut args = Vec::new();
    for i in 1..usize::try_from(argc).unwrap_or(0) {
        // SAFETY: the C runtime hands over argc valid NUL-terminated strings in argv.
        let arg = unsafe { core::ffi::CStr::from_ptr(*argv.add(i)) };
        match arg.to_str() {
            Ok(a) => args.push(a),
            Err(_) => {
                eprintln!("smolpptpd: argument {i} is not UTF-8\n{USAGE}");
                return 2;
            }
        }
    }
    i32::from(command(&args).0)
}

// The commands (parse_args, print_version, admin, check, run with load_config and serve) are
// `#[inline(never)]`: inlined, they made main one 60 KB function whose frame held all their
// locals at once (longer stack offsets, more spills); apart they are 1.3 KB smaller on i586.
fn command(args: &[&str]) -> ExitCode {
    let command = match parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smolpptpd: {e}\n{USAGE}");
            return ExitCode(2);
        }
    };
    if !matches!(command, Command::Run(_)) {
        // SIGPIPE is ignored (see main), so `smolpptpd check | head` would fail on the
        // closed pipe; a command-line tool should just end. The daemon keeps ignoring it (socket writes).
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition.
        sys::set_disposition(libc::SIGPIPE, libc::SIG_DFL);
    }
    match command {
        Command::Help => {
            print_text(USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            print_version();
            ExitCode::SUCCESS
        }
        Command::Check(o) => check(&o),
        Command::Status(o) | Command::Kick(o) => admin(&o),
        Command::Run(o) => match run(&o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if syslog::installed() => {
                smolpptp::error!("{e}");
                ExitCode::FAILURE
            }
            Err(e) => fail(&e),
        },
    }
}

/// `smolpptpd status` / `smolpptpd kick`.
#[inline(never)]
fn admin(o: &Options) -> ExitCode {
    // The control socket: `-s`, else pptpd.conf's `control-socket`, else the default. The
    // path is borrowed (from the argument or the loaded configuration), never copied.
    let loaded;
    let path = match o.socket {
        Some(s) => Path::new(s),
        None => {
            let conf = o.conf.unwrap_or(DEFAULT_CONF);
            if !file::exists(Path::new(conf)) {
                Path::new(control_socket::DEFAULT_PATH)
            } else {
                loaded = match conf::load(Path::new(conf), None) {
                    Ok(c) => c,
                    Err(e) => return fail(&e),
                };
                match &loaded.daemon.control_socket {
                    Some(p) => p,
                    None => return fail(&format_args!("{conf}: control-socket is none")),
                }
            }
        }
    };
    ask(path, o)
}

/// `admin` once the socket is known. Apart from it, whose frame may hold the configuration
/// (4 KB, twice while it is returned): this one's locals are then near the stack pointer.
/// (Kept apart on MIPS too: inlined there, it came out 800 B larger.)
#[inline(never)]
fn ask(path: &Path, o: &Options) -> ExitCode {
    let request = match o.target {
        None => Request::Status,
        Some(t) => match t.parse::<Ipv4Addr>() {
            Ok(a) => Request::Kick(Selector::Address(a)),
            Err(_) => Request::Kick(Selector::User(t)),
        },
    };
    let reply = match control_socket::query(path, request) {
        Ok(r) => r,
        Err(e) => return fail(&smolpptp::linux::ErrorText(e)),
    };
    match reply.kind {
        ReplyKind::Status if o.json => print_text(&control_socket::render_json(&reply)),
        ReplyKind::Status => print_text(&control_socket::render_text(&reply)),
        ReplyKind::Kick if reply.count == 0 => {
            return fail(&format_args!(
                "no session matches {}",
                o.target.unwrap_or("")
            ));
        }
        ReplyKind::Kick => println!("disconnecting {} session(s)", reply.count),
        ReplyKind::Error => return fail(&"the daemon refused the request"),
    }
    ExitCode::SUCCESS
}

/// pptpd.conf (+ options file + chap-secrets), or the embedded default when no `-c` was
/// given and /etc/pptpd.conf does not exist.
#[inline(never)]
fn load_config(o: &Options) -> Result<LoadedConfig, String> {
    let path = match o.conf {
        Some(p) => Path::new(p),
        None if file::exists(Path::new(DEFAULT_CONF)) => Path::new(DEFAULT_CONF),
        None => {
            let mut c = conf::embedded_default();
            conf::ConfigWarning::push(
                &mut c.warnings,
                Path::new(DEFAULT_CONF),
                None,
                format_args!("not found: using the built-in configuration"),
            );
            // conf::load checks the secrets file; the built-in configuration needs it too.
            let mut secrets = c.chap_secrets().map_err(config_error)?;
            secrets.check_into(&mut c.warnings).map_err(config_error)?;
            return Ok(c);
        }
    };
    conf::load(path, o.option.map(Path::new)).map_err(config_error)
}

/// What the configuration means on this host: devices, addresses, firewall mode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    backend: Backend,
    tun_name: String,
    /// The kernel's address on the TUN: the first `localip`, which clients reach the router at.
    tun_address: Ipv4Addr,
    /// smoltcp's address: behind the TUN (tun) or shared with the interface (raw).
    smoltcp: Ipv4Addr,
    /// The raw backend's Ethernet interface.
    raw_interface: Option<String>,
}

impl Plan {
    fn new(c: &LoadedConfig) -> Result<Plan, String> {
        let tun_address = c
            .settings
            .local
            .get(0)
            .ok_or("localip gives no address for the server's side of the tunnels")?;
        let d = &c.daemon;
        match d.backend {
            Backend::Tun => Ok(Plan {
                backend: Backend::Tun,
                tun_name: d
                    .interface
                    .clone()
                    .unwrap_or_else(|| tun::DEFAULT_NAME.into()),
                tun_address,
                smoltcp: d
                    .address
                    .map_or(tun::DEFAULT_SMOLTCP_ADDRESS, |a| a.address()),
                raw_interface: None,
            }),
            Backend::Raw => {
                let name = d
                    .interface
                    .clone()
                    .ok_or("backend raw needs `interface` (the Ethernet interface to serve on)")?;
                // `address`, else pptpd's `listen`, else the interface's own address.
                let smoltcp = match d.address.map(|a| a.address()).or(d.listen) {
                    Some(a) => a,
                    None => {
                        let ifname = IfName::new(&name)
                            .map_err(|e| format!("{name}: {}", smolpptp::linux::ErrorText(e)))?;
                        Control::open()
                            .and_then(|c| c.address(&ifname))
                            .map_err(|e| {
                                format!(
                                    "address of {name}: {} (set `address`)",
                                    smolpptp::linux::ErrorText(e)
                                )
                            })?
                    }
                };
                Ok(Plan {
                    backend: Backend::Raw,
                    tun_name: tun::DEFAULT_NAME.into(),
                    tun_address,
                    smoltcp,
                    raw_interface: Some(name),
                })
            }
        }
    }

    fn firewall<'a>(&'a self, c: &'a LoadedConfig) -> FirewallConfig<'a> {
        FirewallConfig {
            mode: match self.backend {
                Backend::Tun => Mode::Tun {
                    smoltcp: self.smoltcp,
                },
                Backend::Raw => Mode::Raw {
                    address: self.smoltcp,
                },
            },
            tun: &self.tun_name,
            wan: match self.backend {
                Backend::Tun => c.daemon.wan.as_deref(),
                // PPTP arrives on the interface we serve on.
                Backend::Raw => self.raw_interface.as_deref(),
            },
            public_address: None,
            listen: c.daemon.listen,
            pool: &c.settings.remote,
            forwarding: c.daemon.forwarding,
        }
    }
}

/// `smolpptpd check`: the files, the host, and the rules we would install.
#[inline(never)]
fn check(o: &Options) -> ExitCode {
    match load_config(o) {
        Ok(config) => check_config(&config),
        Err(e) => fatal(&e),
    }
}

/// `error: <why>`: `check` found the configuration unusable.
fn fatal(e: &str) -> ExitCode {
    finding("error", format_args!("{e}"));
    ExitCode::FAILURE
}

/// `check` once the files are read. Apart from `check`, whose frame holds the configuration
/// (4 KB, twice while it is returned): this one's locals are then near the stack pointer.
#[cfg_attr(target_arch = "mips", inline(always))]
#[cfg_attr(not(target_arch = "mips"), inline(never))]
fn check_config(config: &LoadedConfig) -> ExitCode {
    let mut errors = 0;
    for w in &config.warnings {
        finding("warning", format_args!("{w}"));
    }
    let plan = match Plan::new(config) {
        Ok(p) => p,
        Err(e) => return fatal(&e),
    };
    let d = &config.daemon;
    let fw = plan.firewall(config);
    // Each finding printed as it comes (the checks print nothing themselves): no list.
    let mut report = |ok: bool, m: fmt::Arguments<'_>| {
        finding(if ok { "ok" } else { "error" }, m);
        errors += usize::from(!ok);
    };
    host::check_tun_device(&mut report);
    host::check_nft(d.firewall, &mut report);
    host::check_ip_forward(
        fw.needs_ip_forward(),
        d.firewall || d.forwarding,
        &mut report,
    );
    if let Some(i) = &plan.raw_interface {
        host::check_interface(i, true, &mut report);
    }
    if let Some(w) = &d.wan {
        host::check_interface(w, false, &mut report);
    }
    if d.proxyarp {
        // Not a failure: the sessions work, only LAN hosts cannot reach some clients.
        host::check_proxyarp(&config.settings.remote, &mut |ok, m| {
            finding(if ok { "ok" } else { "warning" }, m)
        });
    }
    println!(
        "backend {}: TUN {} ({} peer {}), smoltcp at {}, {} client addresses, {} sessions",
        match plan.backend {
            Backend::Tun => "tun",
            Backend::Raw => "raw",
        },
        plan.tun_name,
        plan.tun_address,
        smolpptp::linux::Or(
            match plan.backend {
                Backend::Tun => Some(plan.smoltcp),
                Backend::Raw => None,
            },
            "none"
        ),
        plan.smoltcp,
        config.settings.remote.len(),
        config.settings.connections,
    );
    println!(
        "\n# firewall {}",
        if d.firewall {
            "on: nftables rules smolpptpd installs while it runs"
        } else {
            "off: nftables rules to install yourself"
        }
    );
    print_text(&firewall::nft_ruleset(&fw));
    print_text("\n# the same with iptables\n");
    print_text(&firewall::iptables_commands(&fw));
    println!(
        "\n# These accept rules do not override a drop in another table (every base chain sees\n\
         # the packet): with a default-drop firewall such as OpenWrt's fw4, also put {} in a zone\n\
         # that may reach the LAN/WAN, and allow forwarding to it.",
        plan.tun_name
    );
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `<label>: <what>`, one line of `check`'s findings: one formatting site for them all.
#[inline(never)]
fn finding(label: &str, m: fmt::Arguments<'_>) {
    println!("{label}: {m}");
}

/// Detach like pptpd without `--fg`: fork, new session, stdio to /dev/null.
fn daemonize() -> std::io::Result<()> {
    unsafe {
        match smolpptp::linux::sys::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let _ = libc::chdir(c"/".as_ptr());
        let null = smolpptp::linux::sys::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Ok(())
}

/// A configuration error's text (and the error dropped), in one place for every caller.
#[inline(never)]
fn config_error(e: conf::ConfigError) -> String {
    e.to_string()
}

/// `<what><name>: <error>`, why a start-up step failed: one formatting site for them all.
#[inline(never)]
fn failed(what: &str, name: &str, e: std::io::Error) -> String {
    format!("{what}{name}: {}", smolpptp::linux::ErrorText(e))
}

/// `?` for a start-up step, its error as [`failed`]'s text. A match rather than
/// `map_err(..)?`, which moved each device (kilobytes) through two more `Result`s.
macro_rules! step {
    ($result:expr, $what:expr, $name:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => return Err(failed($what, $name, e)),
        }
    };
}

/// Removes the pid file at exit (the path is the configuration's, borrowed).
struct PidFile<'a>(&'a Path);

impl Drop for PidFile<'_> {
    fn drop(&mut self) {
        let _ = file::remove(self.0);
    }
}

/// The daemon. Its steps with large locals (the TUN, the operator's side, the devices) are
/// functions of their own: all in one, the frame held them all at once, and on ARM every
/// access beyond 4 KiB from the stack pointer takes an extra instruction. MIPS reaches
/// 32 KiB in one, so there the steps stay inlined (a call of their own costs and saves
/// nothing).
#[inline(never)]
fn run(o: &Options) -> Result<(), String> {
    // Read the files before detaching, so errors reach the terminal.
    let mut config = load_config(o)?;
    let plan = Plan::new(&config)?;
    if !o.foreground {
        step!(daemonize(), "fork", "");
    }
    // Before anything else could start a thread: the mask is per thread.
    let mut signals = step!(Signals::install(), "signalfd", "");
    syslog::init(o.foreground, o.debug || config.daemon.debug)
        .map_err(|e| format!("logger: {e}"))?;
    let _pidfile = if o.foreground {
        None
    } else {
        let path = config.daemon.pidfile.as_path();
        match file::write(path, format!("{}\n", std::process::id()).as_bytes()) {
            Ok(()) => Some(PidFile(path)),
            Err(e) => {
                smolpptp::warn!(
                    "pid file {}: {}",
                    path.display(),
                    smolpptp::linux::ErrorText(e)
                );
                None
            }
        }
    };
    smolpptp::info!("MGR: Manager process started");
    log_warnings(&config.warnings);
    let mut ops = Operations::default();
    operations(&config, &plan, &mut ops)?;
    step!(KernelRandom::try_fill(&mut [0u8; 16]), "getrandom", "");

    let tun = open_tun(&plan, &mut config.settings)?;
    let mut devices = devices(&tun, &plan, &config)?;
    let fw_config = plan.firewall(&config);
    let mut firewall_rules = if config.daemon.firewall {
        Some(step!(Firewall::install(&fw_config), "firewall", ""))
    } else {
        None
    };
    let _ip_forward = if !config.daemon.firewall && config.daemon.forwarding {
        Some(step!(IpForward::enable(), "ip_forward", ""))
    } else {
        None
    };
    smolpptp::info!(
        "MGR: Maximum of {} connections available",
        config.settings.connections
    );
    let exit = serve(
        &config,
        &plan,
        &mut devices,
        &mut signals,
        o,
        firewall_rules.as_mut(),
        &mut ops,
    )
    .map(|Exit::Terminated(_)| smolpptp::info!("Exit."));
    // Drops in reverse order: devices (by hand: they were made before the firewall), firewall
    // (and ip_forward), TUN, pid file.
    drop(devices);
    exit
}

/// The TUN, with IPv6 on it when configured. Apart from `run`, like [`devices`], to keep
/// its frame small.
#[cfg_attr(target_arch = "mips", inline(always))]
#[cfg_attr(not(target_arch = "mips"), inline(never))]
fn open_tun(plan: &Plan, settings: &mut Settings) -> Result<Tun, String> {
    let tun = step!(
        Tun::open(&TunConfig {
            name: &plan.tun_name,
            address: plan.tun_address,
            peer: match plan.backend {
                Backend::Tun => Some(plan.smoltcp),
                Backend::Raw => None,
            },
            prefix_len: 32,
            mtu: match plan.backend {
                // PPTP from the WAN passes through it too.
                Backend::Tun => limits::DEVICE_MTU as u16,
                Backend::Raw => settings.ppp.mtu,
            },
            routes: &settings.remote,
        }),
        "TUN ",
        &plan.tun_name
    );
    smolpptp::info!("Using interface {}", tun.name());
    let ipv6 = &mut settings.ppp.ipv6;
    if ipv6.enabled {
        // One identifier for the TUN and every link; the server keeps it across reloads.
        let id = *ipv6
            .local_id
            .get_or_insert_with(|| smolpptp::ppp::ipv6cp::random_id(&mut KernelRandom));
        match tun.enable_ipv6(id) {
            Ok(()) => smolpptp::info!(
                "IPv6 in the tunnel: {} is {}",
                tun.name(),
                smolpptp::ppp::ipv6cp::LinkLocal(id)
            ),
            Err(e) => smolpptp::warn!(
                "IPv6 on {}: {} (IPv6 to clients will not work)",
                tun.name(),
                smolpptp::linux::ErrorText(e)
            ),
        }
    }
    Ok(tun)
}

/// The operator's side, before any device is open: the hook runner is a fork of us. Apart
/// from `run`, like [`devices`], to keep its frame small.
#[cfg_attr(target_arch = "mips", inline(always))]
#[cfg_attr(not(target_arch = "mips"), inline(never))]
fn operations(config: &LoadedConfig, plan: &Plan, ops: &mut Operations) -> Result<(), String> {
    let mut hook_config = HookConfig::etc_ppp(&plan.tun_name);
    hook_config.noipparam = config.daemon.noipparam;
    let hooks = match HookRunner::spawn(hook_config) {
        Ok(h) => Some(h),
        Err(e) => {
            smolpptp::warn!(
                "hook runner: {}: ip-up/ip-down scripts will not run",
                smolpptp::linux::ErrorText(e)
            );
            None
        }
    };
    // Without its control socket the daemon still serves clients: only status/kick are lost.
    let control = match &config.daemon.control_socket {
        Some(path) => match ControlSocket::bind(path) {
            Ok(c) => Some(c),
            Err(e) => {
                smolpptp::warn!(
                    "control socket {}: {}: smolpptpd status/kick will not reach this daemon",
                    path.display(),
                    smolpptp::linux::ErrorText(e)
                );
                None
            }
        },
        None => None,
    };
    let wtmp = if config.daemon.logwtmp {
        match Wtmp::open(Path::new(wtmp::DEFAULT_PATH)) {
            Ok(w) => Some(w),
            Err(e) => {
                smolpptp::warn!(
                    "logwtmp: {}: {}: no wtmp records",
                    wtmp::DEFAULT_PATH,
                    smolpptp::linux::ErrorText(e)
                );
                None
            }
        }
    } else {
        None
    };
    let proxy_arp = if config.daemon.proxyarp {
        Some(step!(ProxyArp::new(), "proxyarp", ""))
    } else {
        None
    };
    *ops = Operations::new(control, hooks, wtmp, proxy_arp);
    Ok(())
}

/// The raw backend's packet socket, and the devices on the heap. Apart from `run`, whose
/// stack frame would otherwise hold them (kilobytes of buffers) besides everything else and
/// need longer offsets for all of it.
#[cfg_attr(target_arch = "mips", inline(always))]
#[cfg_attr(not(target_arch = "mips"), inline(never))]
fn devices<'t>(
    tun: &'t Tun,
    plan: &Plan,
    config: &LoadedConfig,
) -> Result<Box<Devices<'t>>, String> {
    let mut devices = Box::new(Devices {
        tun: TunDevice::new(
            tun,
            match plan.backend {
                Backend::Tun => Some(plan.smoltcp),
                Backend::Raw => None,
            },
        ),
        packet: None,
    });
    if let Some(name) = &plan.raw_interface {
        step!(
            PacketDevice::open_in(
                &mut devices.packet,
                &PacketConfig {
                    interface: name,
                    address: Some(plan.smoltcp),
                    prefix_len: config.daemon.address.map(|a| a.prefix_len()),
                }
            ),
            "packet socket on ",
            name
        );
    }
    Ok(devices)
}

/// The server's memory, allocated once at start-up and never freed (the process ends with it).
fn storage() -> Storage<'static> {
    use smolpptp::limits::*;
    fn leak<T: Clone>(value: T, n: usize) -> &'static mut [T] {
        vec![value; n].leak()
    }
    Storage {
        sockets: std::iter::repeat_with(|| SocketStorage::EMPTY)
            .take(smolpptp::server::SOCKETS)
            .collect::<Vec<_>>()
            .leak(),
        tcp_rx: leak(0u8, MAX_CONTROL_CONNECTIONS * TCP_RX_BUFFER),
        tcp_tx: leak(0u8, MAX_CONTROL_CONNECTIONS * TCP_TX_BUFFER),
        gre_rx_meta: leak(raw::PacketMetadata::EMPTY, GRE_RX_PACKETS),
        gre_rx: leak(0u8, GRE_RX_BUFFER),
        gre_tx_meta: leak(raw::PacketMetadata::EMPTY, GRE_TX_PACKETS),
        gre_tx: leak(0u8, GRE_TX_BUFFER),
        sessions: std::iter::repeat_with(|| None)
            .take(MAX_SESSIONS)
            .collect::<Vec<_>>()
            .leak(),
    }
}

/// Where smoltcp sits: behind the TUN with the kernel as its gateway, or on the Ethernet
/// interface with the host's address, prefix and default gateway.
fn net_config(plan: &Plan, devices: &Devices) -> NetConfig {
    match (&plan.raw_interface, &devices.packet) {
        (Some(name), Some(packet)) => {
            let gateway = interface::default_gateway(name);
            if gateway.is_none() {
                smolpptp::warn!(
                    "no default route via {name}: only clients on its subnet can connect"
                );
            }
            NetConfig {
                hardware: HardwareAddress::Ethernet(EthernetAddress(packet.mac())),
                address: plan.smoltcp,
                prefix_len: packet.prefix_len(),
                gateway,
            }
        }
        _ => NetConfig {
            hardware: HardwareAddress::Ip,
            address: plan.smoltcp,
            prefix_len: 32,
            gateway: Some(plan.tun_address),
        },
    }
}

/// The configuration's warnings to the log, at start-up and on reload: one loop for both on
/// ARM (-72 B); inlined elsewhere, where out of line it costs 12 B on i586 and 48 B on mipsel.
#[cfg_attr(target_arch = "arm", inline(never))]
#[cfg_attr(not(target_arch = "arm"), inline(always))]
fn log_warnings(warnings: &[conf::ConfigWarning]) {
    for w in warnings {
        smolpptp::warn!("{w}");
    }
}

/// SIGHUP: re-read the files and apply what can change while running. Out of line: the loop
/// that calls it (inlined into `serve`) keeps a smaller stack frame.
#[inline(never)]
fn reload(
    o: &Options,
    plan: &Plan,
    tun: &Tun,
    firewall: Option<&mut Firewall>,
    running: &mut Running<ChapSecrets, KernelRandom>,
) {
    // Not `and_then`: that moved the configuration (kilobytes) through one more `Result`.
    let (new, new_plan) = 'new: {
        let e = match load_config(o) {
            Ok(c) => match Plan::new(&c) {
                Ok(p) => break 'new (c, p),
                Err(e) => e,
            },
            Err(e) => e,
        };
        smolpptp::error!("reload failed, keeping the running configuration: {e}");
        return;
    };
    if new_plan != *plan {
        smolpptp::warn!("reload: backend, interface or address changes need a restart; ignored");
    }
    log_warnings(&new.warnings);
    match new.chap_secrets() {
        Ok(s) => running.secrets = s,
        Err(e) => smolpptp::error!("reload: {e}; keeping the old secrets file"),
    }
    if let Err(e) = Control::open().and_then(|c| tun.set_routes(&c, &new.settings.remote)) {
        smolpptp::error!(
            "reload: routes for the new pool: {}",
            smolpptp::linux::ErrorText(e)
        );
    }
    if let Some(fw) = firewall {
        if let Err(e) = fw.update(&plan.firewall(&new)) {
            smolpptp::error!("reload: firewall: {}", smolpptp::linux::ErrorText(e));
        }
    }
    syslog::set_debug(o.debug || new.daemon.debug);
    running.server.reload(new.settings);
    smolpptp::info!("configuration reloaded");
}

/// Build the protocol server and run the loop until a terminating signal.
#[inline(never)]
fn serve(
    config: &LoadedConfig,
    plan: &Plan,
    devices: &mut Devices,
    signals: &mut Signals,
    o: &Options,
    mut firewall: Option<&mut Firewall>,
    ops: &mut Operations,
) -> Result<Exit, String> {
    let secrets = config.chap_secrets().map_err(config_error)?;
    let mut rng = KernelRandom;
    let net = net_config(plan, devices);
    let now = clock::now();
    // The whole poll loop (daemon::run, the server, smoltcp) is inlined into this function
    // and keeps its state in this stack frame. With the 28 KB server in it too, the frame
    // outgrew the 32 KiB a MIPS load or store reaches from the stack pointer, and every far
    // access took two extra instructions (about 9 KB of code on mipsel). So the server lives
    // on the heap: one allocation at start-up (x86, which addresses any frame offset
    // directly, pays about 0.5 KB for the pointer; one code path for every board is worth it).
    // Allocated before the server is built, so it is built in place rather than on the stack
    // and then copied over piece by piece.
    let mut running = Box::write(
        Box::new_uninit(),
        Running {
            server: Server::new(
                config.settings.clone(),
                net,
                storage(),
                // The packet socket in the raw backend, else the TUN: one device type for both.
                devices,
                now,
                &mut rng,
            ),
            secrets,
            rng,
        },
    );
    let tun = devices.tun.tun();
    let mut reload = |running: &mut Running<ChapSecrets, KernelRandom>| {
        reload(o, plan, tun, firewall.as_deref_mut(), running)
    };
    daemon::run(&mut *running, devices, signals, &mut reload, ops)
        .map_err(|e| format!("poll: {}", smolpptp::linux::ErrorText(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(args: &[&'a str]) -> Result<Command<'a>, String> {
        parse_args(args)
    }

    fn opts<'a>(
        conf: Option<&'a str>,
        option: Option<&'a str>,
        foreground: bool,
        debug: bool,
    ) -> Options<'a> {
        Options {
            conf,
            option,
            foreground,
            debug,
            ..Options::default()
        }
    }

    #[test]
    fn run_options_in_every_spelling() {
        assert_eq!(parse(&[]), Ok(Command::Run(opts(None, None, false, false))));
        let want = Command::Run(opts(
            Some("/var/etc/pptpd.conf"),
            Some("/var/etc/options.pptpd"),
            true,
            true,
        ));
        // OpenWrt's init script line, plus -d.
        assert_eq!(
            parse(&[
                "-c",
                "/var/etc/pptpd.conf",
                "--fg",
                "-o",
                "/var/etc/options.pptpd",
                "-d"
            ]),
            Ok(want.clone())
        );
        assert_eq!(
            parse(&[
                "--conf=/var/etc/pptpd.conf",
                "-f",
                "--option",
                "/var/etc/options.pptpd",
                "--debug"
            ]),
            Ok(want.clone())
        );
        assert_eq!(
            parse(&[
                "-c/var/etc/pptpd.conf",
                "-f",
                "-o/var/etc/options.pptpd",
                "-d"
            ]),
            Ok(want)
        );
    }

    #[test]
    fn status_and_kick_arguments() {
        let admin = |socket: Option<&'static str>, json, target: Option<&'static str>| Options {
            socket,
            json,
            target,
            ..Options::default()
        };
        assert_eq!(
            parse(&["status"]),
            Ok(Command::Status(admin(None, false, None)))
        );
        assert_eq!(
            parse(&["status", "--json", "-s", "/tmp/s"]),
            Ok(Command::Status(admin(Some("/tmp/s"), true, None)))
        );
        assert_eq!(
            parse(&["kick", "--socket=/tmp/s", "tomc"]),
            Ok(Command::Kick(admin(Some("/tmp/s"), false, Some("tomc"))))
        );
        assert_eq!(
            parse(&["kick", "10.9.0.2"]),
            Ok(Command::Kick(admin(None, false, Some("10.9.0.2"))))
        );
        assert!(parse(&["kick"]).is_err());
        assert!(parse(&["kick", "a", "b"]).is_err());
        assert!(parse(&["kick", "--json", "a"]).is_err());
        assert!(parse(&["status", "tomc"]).is_err());
        assert!(parse(&["status", "-s"]).is_err());
        assert_eq!(
            parse(&["status", "-s/tmp/s", "--conf=/etc/p.conf"]),
            Ok(Command::Status(Options {
                conf: Some("/etc/p.conf"),
                ..admin(Some("/tmp/s"), false, None)
            }))
        );
        assert!(
            parse(&["status", "-o", "x"]).is_err(),
            "run options are not admin ones"
        );
        assert!(parse(&["-s", "x"]).is_err(), "nor the other way round");
    }

    #[test]
    fn check_version_help_and_errors() {
        assert_eq!(
            parse(&["check", "-c", "x.conf"]),
            Ok(Command::Check(opts(Some("x.conf"), None, false, false)))
        );
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert_eq!(parse(&["-v"]), Ok(Command::Version));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert!(parse(&["-c"]).unwrap_err().contains("-c needs a file"));
        assert!(parse(&["--conf="]).is_err());
        assert!(parse(&["-x"]).unwrap_err().contains("unknown option '-x'"));
        assert!(parse(&["--fg=1"]).is_err());
        assert!(parse(&["-dx"]).is_err());
        assert!(
            parse(&["-\u{e9}"]).is_err(),
            "no panic on a split inside a character"
        );
        assert!(parse(&["run"]).is_err());
        assert!(
            parse(&["-c", "a", "check"]).is_err(),
            "check must come first"
        );
    }
}
