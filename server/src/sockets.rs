//! Unix socket paths flowd owns: taking a path over safely and giving it back.
//!
//! A socket file can outlive its process (a crash leaves it behind), so start-up has to tell a
//! stale file from a live listener before unlinking: unlinking a live one silently steals the
//! socket from another flowd. At exit, the path may meanwhile belong to someone else (a newer
//! instance after ours was replaced), so only the exact file this process created (same
//! device and inode) is removed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every socket flowd binds: owner and group may connect, nobody else.
pub const SOCKET_MODE: u32 = 0o660;
/// Mode of the directories flowd creates for its sockets.
pub const DIR_MODE: u32 = 0o750;

/// Why a socket path cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SocketPathError {
    #[error(
        "{path} is in use: another process (another flowd?) is listening on it; stop it or \
         choose another path"
    )]
    InUse { path: String },
    #[error("refusing to replace {path}: it exists and is not a socket")]
    NotASocket { path: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SocketPathError {
    let path = path.display().to_string();
    move |source| SocketPathError::Io { what, path, source }
}

/// Makes `path` available for a new socket: creates missing parent directories with mode
/// [`DIR_MODE`] (whatever the umask), refuses a path that is not a socket or that a live
/// process listens on, and removes a stale socket file.
pub fn prepare(path: &Path) -> Result<(), SocketPathError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent)?;
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(SocketPathError::NotASocket {
            path: path.display().to_string(),
        });
    }
    if is_alive(path) {
        return Err(SocketPathError::InUse {
            path: path.display().to_string(),
        });
    }
    std::fs::remove_file(path).map_err(io_err("cannot remove stale socket", path))
}

/// Refuses `path` if it cannot be prepared, without changing anything: used to check every
/// socket path before any of them is touched.
pub fn check(path: &Path) -> Result<(), SocketPathError> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.file_type().is_socket() => Err(SocketPathError::NotASocket {
            path: path.display().to_string(),
        }),
        Ok(_) if is_alive(path) => Err(SocketPathError::InUse {
            path: path.display().to_string(),
        }),
        Ok(_) => Ok(()),
    }
}

/// Creates `dir` and its missing ancestors; the ones created here get [`DIR_MODE`].
fn create_dirs(dir: &Path) -> Result<(), SocketPathError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent)?;
    }
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {}
        // Another process created it meanwhile: not ours to chmod.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io_err("cannot create directory", dir)(e)),
    }
    // The umask narrowed the mode above; chmod sets it exactly.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
        .map_err(io_err("cannot chmod directory", dir))
}

/// Whether a process listens on the socket at `path`. A connection is refused only when
/// nobody listens; any other outcome (accepted, in progress, backlog full) means a listener
/// exists. Both socket types are tried, since a wrong type is refused before the backlog.
pub fn is_alive(path: &Path) -> bool {
    [libc::SOCK_STREAM, libc::SOCK_SEQPACKET].iter().any(|&ty| {
        match connect(path, ty | libc::SOCK_NONBLOCK) {
            Ok(_) => true,
            Err(e) => !matches!(
                e.raw_os_error(),
                Some(libc::ECONNREFUSED) | Some(libc::ENOENT) | Some(libc::EPROTOTYPE)
            ),
        }
    })
}

/// A unix socket of type `ty` (with its flags, e.g. `SOCK_NONBLOCK`) connected to `path`.
pub fn connect(path: &Path, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before being wrapped.
    let fd = unsafe { libc::socket(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let (addr, len) = unix_addr(path)?;
    // SAFETY: `addr` is a valid sockaddr_un of length `len`.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A `sockaddr_un` for `path` and its length.
pub fn unix_addr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

/// A socket file this process created; removed on drop only if it is still that file.
#[derive(Debug)]
pub struct OwnedPath {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl OwnedPath {
    /// Claims the socket just bound at `path`: sets [`SOCKET_MODE`] (whatever the umask) and
    /// records its identity.
    pub fn claim(path: &Path) -> Result<Self, SocketPathError> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_err("cannot chmod", path))?;
        let meta = std::fs::symlink_metadata(path).map_err(io_err("cannot stat", path))?;
        Ok(OwnedPath {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OwnedPath {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("flowscope-sock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn live_socket_is_refused_stale_one_replaced() {
        let dir = tmp("live");
        let path = dir.join("a/b/s.sock");
        prepare(&path).expect("fresh path");
        let mode = std::fs::metadata(dir.join("a/b"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, DIR_MODE);
        let live = UnixListener::bind(&path).expect("bind");
        assert!(is_alive(&path));
        assert!(matches!(prepare(&path), Err(SocketPathError::InUse { .. })));
        assert!(matches!(check(&path), Err(SocketPathError::InUse { .. })));
        assert!(path.exists(), "a live socket is never unlinked");
        drop(live); // the file stays behind, nobody listens: stale
        assert!(!is_alive(&path));
        prepare(&path).expect("stale socket is replaced");
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn regular_file_is_refused() {
        let dir = tmp("file");
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("s.sock");
        std::fs::write(&path, "data").expect("write");
        assert!(matches!(
            prepare(&path),
            Err(SocketPathError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), "data");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_file_we_created_is_removed() {
        let dir = tmp("owned");
        let path = dir.join("s.sock");
        prepare(&path).expect("prepare");
        let first = UnixListener::bind(&path).expect("bind");
        let owned = OwnedPath::claim(&path).expect("claim");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, SOCKET_MODE);
        // Someone else replaces the path (e.g. an operator moved ours aside and started a
        // successor). Ours still exists elsewhere, so the new file has another inode.
        drop(first);
        std::fs::rename(&path, dir.join("moved.sock")).expect("move aside");
        let _second = UnixListener::bind(&path).expect("bind again");
        drop(owned);
        assert!(path.exists(), "another process' socket is left alone");
        let again = OwnedPath::claim(&path).expect("claim");
        drop(again);
        assert!(!path.exists(), "our own socket is removed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
