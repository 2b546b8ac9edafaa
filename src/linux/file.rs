//! Whole-file reads and writes, and the few other file calls the daemon makes, over libc.
//! std's `fs::read`/`fs::write` go through `OpenOptions` (access-mode checks, a boxed string
//! error, a size probe with statx), about 3 KB of the router binary for what is an open and a
//! read or write loop here; its `metadata`, `remove_file` and `set_permissions` add their own
//! C-string and stat wrappers (0.7 KB) around one system call each.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `path` for a system call: its bytes and a NUL. A plain Vec rather than `CString::new`,
/// which adds 0.4 KB of its own checks and shrinking for the same bytes.
fn c_path(path: &Path) -> io::Result<Vec<u8>> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.contains(&0) {
        return Err(super::io_error(
            io::ErrorKind::InvalidInput,
            format_args!("NUL in a path"),
        ));
    }
    let mut c = Vec::with_capacity(bytes.len() + 1);
    c.extend_from_slice(bytes);
    c.push(0);
    Ok(c)
}

/// `open(2)` with `O_CLOEXEC`; a file `O_CREAT` makes gets mode 0666 less the umask, as with
/// std.
pub fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = c_path(path)?;
    loop {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        let fd = unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC, 0o666) };
        if fd >= 0 {
            // SAFETY: the descriptor was just opened and is owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        // The errno, not `kind()`: kind() links io::Error's errno-to-kind table (0.5 KB).
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// The whole file, like `std::fs::read`.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let fd = open(path, libc::O_RDONLY)?;
    let mut data = Vec::new();
    read_to_end(fd.as_raw_fd(), &mut data)?;
    Ok(data)
}

/// Append everything `fd` gives until end of file to `data`.
pub fn read_to_end(fd: libc::c_int, data: &mut Vec<u8>) -> io::Result<()> {
    loop {
        data.reserve(4096);
        let spare = data.spare_capacity_mut();
        // SAFETY: `spare` is writable for its whole length.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if n == 0 {
            return Ok(());
        }
        if n > 0 {
            // SAFETY: read(2) initialised the first `n` bytes of the spare capacity.
            unsafe { data.set_len(data.len() + n as usize) };
            continue;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// The whole file as UTF-8, like `std::fs::read_to_string`.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| {
        super::io_error(
            io::ErrorKind::InvalidData,
            format_args!("{}: not UTF-8", path.display()),
        )
    })
}

/// Create or truncate `path` and write `data`, like `std::fs::write`.
pub fn write(path: &Path, data: &[u8]) -> io::Result<()> {
    let fd = open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)?;
    write_all(fd.as_raw_fd(), data)
}

/// Write all of `data` to `fd`, retrying short writes and EINTR.
pub fn write_all(fd: libc::c_int, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: the pointer and length describe `data`.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n > 0 {
            data = &data[n as usize..];
            continue;
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    Ok(())
}

/// `stat(2)`, following symbolic links, like `std::fs::metadata`.
pub fn stat(path: &Path) -> io::Result<libc::stat> {
    let path = c_path(path)?;
    // SAFETY: a NUL-terminated path and a `stat` to fill.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::stat(path.as_ptr().cast(), &mut st) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

/// Does `path` exist (following symbolic links)? Like `Path::exists`.
pub fn exists(path: &Path) -> bool {
    stat(path).is_ok()
}

/// `unlink(2)`, like `std::fs::remove_file`.
pub fn remove(path: &Path) -> io::Result<()> {
    let path = c_path(path)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::unlink(path.as_ptr().cast()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `chmod(2)`, like `std::fs::set_permissions`.
pub fn chmod(path: &Path, mode: libc::mode_t) -> io::Result<()> {
    let path = c_path(path)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::chmod(path.as_ptr().cast(), mode) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_back() {
        let path = std::env::temp_dir().join(format!("smolpptp-file-{}", std::process::id()));
        write(&path, b"one\n").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(read(&path).unwrap(), b"two");
        assert_eq!(read_to_string(&path).unwrap(), "two");
        let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        write(&path, &big).unwrap();
        assert_eq!(read(&path).unwrap(), big);
        write(&path, b"\xff").unwrap();
        assert_eq!(
            read_to_string(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::remove_file(&path).unwrap();
        let e = read(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("No such file"), "{e}");
        let nul = read(Path::new("a\0b")).unwrap_err();
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
    }
}
