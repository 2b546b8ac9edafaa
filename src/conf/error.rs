//! Start-up errors and warnings, both located as `file:line: message` so an admin can jump
//! straight to the line (the way compilers and pppd's "In file X: ..." report them).

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem that stops the daemon from starting (or a SIGHUP reload from
/// taking effect). Its fields ([`ErrorAt`]) are read through it (`e.line`).
///
/// Boxed: the parsers pass errors up through many `?`, and a one-pointer error keeps every
/// `Result` they return small (no 32-byte copy at each of them).
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError(Box<ErrorAt>);

/// Where a [`ConfigError`] is and what it says: the same fields as a warning, so the two
/// share their code (display, drop).
pub type ErrorAt = ConfigWarning;

impl core::ops::Deref for ConfigError {
    type Target = ErrorAt;

    fn deref(&self) -> &ErrorAt {
        &self.0
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigError")
            .field("path", &self.path)
            .field("line", &self.line)
            .field("message", &self.message)
            .finish()
    }
}

/// Something the daemon should log at start-up but that does not stop it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub path: PathBuf,
    /// 1-based line, when the problem is on one line.
    pub line: Option<u32>,
    pub message: String,
}

fn write_located(
    f: &mut fmt::Formatter<'_>,
    path: &Path,
    line: Option<u32>,
    message: &str,
) -> fmt::Result {
    match line {
        Some(line) => write!(f, "{}:{}: {}", path.display(), line, message),
        None => write!(f, "{}: {}", path.display(), message),
    }
}

impl ConfigError {
    /// With the message formatted here, once for every caller: each call site only passes
    /// its pieces (`format_args!`), which keeps the many messages of the parsers small.
    #[inline(never)]
    pub fn at(path: &Path, line: Option<u32>, message: fmt::Arguments<'_>) -> ConfigError {
        ConfigError(Box::new(ConfigWarning::at(path, line, message)))
    }

    pub fn new(path: &Path, line: Option<u32>, message: impl Into<String>) -> ConfigError {
        ConfigError(Box::new(ErrorAt {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }))
    }
}

impl ConfigWarning {
    /// Push a warning formatted from `message` (see [`ConfigError::at`]).
    #[inline(never)]
    pub fn push(
        warnings: &mut Vec<ConfigWarning>,
        path: &Path,
        line: Option<u32>,
        message: fmt::Arguments<'_>,
    ) {
        warnings.push(ConfigWarning::at(path, line, message));
    }

    /// Formats `message`, for [`Self::push`] and [`ConfigError::at`].
    #[inline(never)]
    fn at(path: &Path, line: Option<u32>, message: fmt::Arguments<'_>) -> ConfigWarning {
        ConfigWarning {
            path: path.to_path_buf(),
            line,
            message: fmt::format(message),
        }
    }

    pub fn new(path: &Path, line: Option<u32>, message: impl Into<String>) -> ConfigWarning {
        ConfigWarning {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.path, self.line, &self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_message() {
        let e = ConfigError::new(
            Path::new("/etc/ppp/options.pptpd"),
            Some(12),
            "unknown option 'foo'",
        );
        assert_eq!(
            e.to_string(),
            "/etc/ppp/options.pptpd:12: unknown option 'foo'"
        );
        let w = ConfigWarning::new(Path::new("/etc/pptpd.conf"), None, "x");
        assert_eq!(w.to_string(), "/etc/pptpd.conf: x");
    }
}
