//! `smolpptpd`: the PPTP server daemon.
//!
//! ```text
//! smolpptpd [-c FILE] [-o FILE] [--fg] [-d]   run (pptpd's options, same meaning)
//! smolpptpd check [-c FILE] [-o FILE]         validate the files and the host, print rules
//! smolpptpd --version                         version and compile-time limits
//! ```

use smolpptp::limits;
use std::path::PathBuf;
use std::process::ExitCode;

/// pptpd's default configuration file.
const DEFAULT_CONF: &str = "/etc/pptpd.conf";

const USAGE: &str = "usage: smolpptpd [-c FILE] [-o FILE] [-f|--fg] [-d|--debug]
       smolpptpd check [-c FILE] [-o FILE]
       smolpptpd -v|--version
  -c, --conf FILE     pptpd.conf to read (default /etc/pptpd.conf)
  -o, --option FILE   pppd options file (overrides `option` in pptpd.conf)
  -f, --fg            stay in the foreground and log to stderr
  -d, --debug         log debug messages
";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Options {
    conf: PathBuf,
    option: Option<PathBuf>,
    foreground: bool,
    debug: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Command {
    Run(Options),
    Check(Options),
    Version,
    Help,
}

/// Parse the arguments after the program name. Accepts `-c FILE`, `-cFILE`, `--conf FILE`
/// and `--conf=FILE` like getopt_long does for pptpd.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let check = args.peek().map(String::as_str) == Some("check");
    if check {
        args.next();
    }
    let mut o = Options {
        conf: PathBuf::from(DEFAULT_CONF),
        option: None,
        foreground: false,
        debug: false,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--") => {
                (arg[..2].to_string(), Some(arg[2..].to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("{name} needs {what}")),
            }
        };
        match name.as_str() {
            "-c" | "--conf" => o.conf = PathBuf::from(value("a file")?),
            "-o" | "--option" => o.option = Some(PathBuf::from(value("a file")?)),
            "-f" | "--fg" if inline.is_none() => o.foreground = true,
            "-d" | "--debug" if inline.is_none() => o.debug = true,
            "-v" | "--version" if inline.is_none() => return Ok(Command::Version),
            "-h" | "--help" if inline.is_none() => return Ok(Command::Help),
            _ => return Err(format!("unknown option '{arg}'")),
        }
    }
    Ok(if check {
        Command::Check(o)
    } else {
        Command::Run(o)
    })
}

fn print_version() {
    println!("smolpptpd {}", env!("CARGO_PKG_VERSION"));
    println!("board {} ({})", limits::BOARD, limits::TARGET);
    for (name, value) in [
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
    ] {
        println!("{name} = {value}");
    }
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smolpptpd: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            print_version();
            ExitCode::SUCCESS
        }
        Command::Check(_) | Command::Run(_) => {
            eprintln!("smolpptpd: not yet");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn opts(conf: &str, option: Option<&str>, foreground: bool, debug: bool) -> Options {
        Options {
            conf: conf.into(),
            option: option.map(PathBuf::from),
            foreground,
            debug,
        }
    }

    #[test]
    fn run_options_in_every_spelling() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Run(opts(DEFAULT_CONF, None, false, false)))
        );
        let want = Command::Run(opts(
            "/var/etc/pptpd.conf",
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
    fn check_version_help_and_errors() {
        assert_eq!(
            parse(&["check", "-c", "x.conf"]),
            Ok(Command::Check(opts("x.conf", None, false, false)))
        );
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert_eq!(parse(&["-v"]), Ok(Command::Version));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert!(parse(&["-c"]).unwrap_err().contains("-c needs a file"));
        assert!(parse(&["--conf="]).is_err());
        assert!(parse(&["-x"]).unwrap_err().contains("unknown option '-x'"));
        assert!(parse(&["--fg=1"]).is_err());
        assert!(parse(&["-dx"]).is_err());
        assert!(parse(&["run"]).is_err());
        assert!(
            parse(&["-c", "a", "check"]).is_err(),
            "check must come first"
        );
    }
}
