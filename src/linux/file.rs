//! Whole-file reads and writes, and the few other file calls the daemon makes, over libc.
//! std's `fs::read`/`fs::write` go through `OpenOptions` (access-mode checks, a boxed string
//! error, a size probe with statx), about 3 KB of the router binary for what is an open and a
//! read or write loop here; its `metadata`, `remove_file` and `set_permissions` add their own
//! C-string and stat wrappers (0.7 KB) around one system call each.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Room for a path and its NUL: the kernel takes no longer ones (ENAMETOOLONG).
type CPath = [u8; libc::PATH_MAX as usize];

/// `path` for a system call: its bytes and a NUL in `buf`. On the stack rather than in a
/// Vec (or a `CString`, which adds 0.4 KB of its own checks): no allocation to make and free
/// around each call. A path the kernel would refuse as too long gets its error here.
fn c_path(path: &Path, buf: &mut CPath) -> io::Result<*const libc::c_char> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.contains(&0) {
        return Err(super::io_error(
            io::ErrorKind::InvalidInput,
            format_args!("NUL in a path"),
        ));
    }
    if bytes.len() >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[bytes.len()] = 0;
    Ok(buf.as_ptr().cast())
}

/// The error of the system call that just failed, or None when it was only interrupted
/// (EINTR: make it again). One function for every retry loop; the errno is compared, not
/// `kind()`, which links io::Error's errno-to-kind table (0.5 KB).
#[inline(never)]
pub(crate) fn failed() -> Option<io::Error> {
    let e = io::Error::last_os_error();
    (e.raw_os_error() != Some(libc::EINTR)).then_some(e)
}

/// `open(2)` with `O_CLOEXEC`; a file `O_CREAT` makes gets mode 0666 less the umask, as with
/// std.
pub fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let mut buf = [0; libc::PATH_MAX as usize];
    let path = c_path(path, &mut buf)?;
    loop {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        let fd = unsafe { super::sys::open(path, flags | libc::O_CLOEXEC, 0o666) };
        if fd >= 0 {
            // SAFETY: the descriptor was just opened and is owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if let Some(e) = failed() {
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
        if let Some(e) = failed() {
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
            return Err(super::io_error(
                io::ErrorKind::WriteZero,
                format_args!("write zero"),
            ));
        }
        if let Some(e) = failed() {
            return Err(e);
        }
    }
    Ok(())
}

/// What [`stat`] tells: the two fields the daemon reads, named as in `struct stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub st_mode: u32,
    /// `off_t`, signed as in `struct stat`.
    pub st_size: i64,
}

/// `stat(2)`, following symbolic links, like `std::fs::metadata`.
pub fn stat(path: &Path) -> io::Result<Stat> {
    let mut buf = [0; libc::PATH_MAX as usize];
    stat_c(c_path(path, &mut buf)?)
}

/// `stat(2)` of a NUL-terminated path.
#[cfg(not(all(
    target_env = "musl",
    any(target_arch = "mips", target_arch = "arm", target_arch = "x86")
)))]
pub(crate) fn stat_c(path: *const libc::c_char) -> io::Result<Stat> {
    // SAFETY: a NUL-terminated path and a `stat` to fill.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::stat(path, &mut st) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Stat {
            st_mode: st.st_mode,
            st_size: st.st_size,
        })
    }
}

/// Where the kernel's `struct stat64` (the stat64 system call) keeps `st_mode` and `st_size`.
#[cfg(all(target_env = "musl", target_arch = "mips"))]
const STAT64: (usize, usize) = (24, 56);
#[cfg(all(target_env = "musl", target_arch = "arm"))]
const STAT64: (usize, usize) = (16, 48);
#[cfg(all(target_env = "musl", target_arch = "x86"))]
const STAT64: (usize, usize) = (16, 44);

/// `stat(2)` of a NUL-terminated path, with the system calls musl's `stat` makes on these
/// 32-bit boards: statx (Linux 4.11), and on older kernels stat64. musl converts every field
/// of either into its `struct stat` with 64-bit times, 1.7 KB of the mipsel binary; only the
/// two fields we read are taken here.
#[cfg(all(
    target_env = "musl",
    any(target_arch = "mips", target_arch = "arm", target_arch = "x86")
))]
pub(crate) fn stat_c(path: *const libc::c_char) -> io::Result<Stat> {
    /// Room for `struct statx` (256 bytes) or `struct stat64` (at most 104), aligned for both.
    #[repr(C, align(8))]
    struct Buf([u8; 256]);
    let mut buf = Buf([0; 256]);
    let p = buf.0.as_mut_ptr();
    // SAFETY: a NUL-terminated path and a buffer the size of `struct statx`; the flags and
    // mask are musl's.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_statx,
            libc::AT_FDCWD as libc::c_long,
            path,
            0 as libc::c_long,
            libc::STATX_BASIC_STATS as libc::c_long,
            p,
        )
    };
    let b = &buf.0;
    let (mode, size) = if rc == 0 {
        // `stx_mode` (16 bits) at 28, `stx_size` at 40.
        (u32::from(u16::from_ne_bytes([b[28], b[29]])), 40)
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(e);
        }
        // SAFETY: the same path, and a buffer larger than `struct stat64`.
        if unsafe { libc::syscall(libc::SYS_stat64, path, p) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let (mode, size) = STAT64;
        (
            u32::from_ne_bytes(b[mode..mode + 4].try_into().unwrap()),
            size,
        )
    };
    Ok(Stat {
        st_mode: mode,
        st_size: i64::from_ne_bytes(b[size..size + 8].try_into().unwrap()),
    })
}

/// Does `path` exist (following symbolic links)? Like `Path::exists`.
pub fn exists(path: &Path) -> bool {
    stat(path).is_ok()
}

/// `unlink(2)`, like `std::fs::remove_file`.
pub fn remove(path: &Path) -> io::Result<()> {
    let mut buf = [0; libc::PATH_MAX as usize];
    let path = c_path(path, &mut buf)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::unlink(path) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `chmod(2)`, like `std::fs::set_permissions`.
pub fn chmod(path: &Path, mode: libc::mode_t) -> io::Result<()> {
    let mut buf = [0; libc::PATH_MAX as usize];
    let path = c_path(path, &mut buf)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::chmod(path, mode) } < 0 {
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
        let st = stat(&path).unwrap();
        assert_eq!(
            (st.st_mode & libc::S_IFMT, st.st_size),
            (libc::S_IFREG, 10_000)
        );
        write(&path, b"\xff").unwrap();
        assert_eq!(
            read_to_string(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::remove_file(&path).unwrap();
        let e = read(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("No such file"), "{e}");
        let dir = stat(&std::env::temp_dir()).unwrap();
        assert_eq!(dir.st_mode & libc::S_IFMT, libc::S_IFDIR);
        assert_eq!(stat(&path).unwrap_err().raw_os_error(), Some(libc::ENOENT));
        // Around the kernel's PATH_MAX: the same errors as std (which lets the kernel judge).
        for len in 4090..4100 {
            let mut long = String::from("/nonexistent");
            while long.len() < len {
                long.push_str("/a");
            }
            long.truncate(len);
            let ours = stat(Path::new(&long)).unwrap_err().raw_os_error();
            let std = std::fs::metadata(&long).unwrap_err().raw_os_error();
            assert_eq!(ours, std, "{len}");
        }
        let nul = read(Path::new("a\0b")).unwrap_err();
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
    }
}
