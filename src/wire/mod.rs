//! Zero-copy, length-checked views (`Packet<T: AsRef<[u8]>>`) and representations (`Repr`,
//! parse + emit) of every format smolpptp speaks. No parser here may panic on any input.

pub mod chap;
pub mod cp;
pub mod gre;
pub mod ipv4_mtu;
pub mod mppe;
pub mod ppp;
pub mod pptp;
pub mod tcp_mss;

/// Why a buffer could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the format or its own length field says.
    Truncated,
    /// A field holds a value the format does not allow (bad magic, wrong length, bad flags).
    Malformed,
    /// A well-formed message of a kind we do not handle.
    Unsupported,
    /// The output buffer is too small.
    Exhausted,
}

pub type Result<T> = core::result::Result<T, Error>;

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated",
            Error::Malformed => "malformed",
            Error::Unsupported => "unsupported",
            Error::Exhausted => "buffer exhausted",
        })
    }
}
