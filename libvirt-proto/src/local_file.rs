//! Reading a small local file that a URI may name (`authfile=`'s
//! `auth.conf`, `pkipath=`'s certificates), or the environment
//! (`libvirt.conf`), without trusting it: only a
//! regular file, looked at before it is opened (opening a FIFO waits for a
//! writer, opening a device may act) and again once open (the path may
//! have been swapped meanwhile), opened without waiting, and read up to a
//! limit even if it grows. Blocking: call it off the async runtime.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a local file was not read.
#[derive(Debug)]
pub(crate) enum LocalFileError {
    /// Looking at, opening or reading it failed.
    Io(io::Error),
    /// It is not a regular file but this (`a directory`, `a FIFO`, ...).
    NotRegular(&'static str),
    /// It holds more than the limit.
    TooLarge,
}

impl LocalFileError {
    /// The error as an `io::Error`, for callers whose errors carry one.
    pub(crate) fn into_io(self, limit: u64) -> io::Error {
        match self {
            LocalFileError::Io(e) => e,
            LocalFileError::NotRegular(kind) => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{kind}, not a regular file"),
            ),
            LocalFileError::TooLarge => io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than {limit} bytes"),
            ),
        }
    }
}

/// The contents of the regular file at `path`, of at most `limit` bytes.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, LocalFileError> {
    check_regular(&std::fs::metadata(path).map_err(LocalFileError::Io)?)?;
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(LocalFileError::TooLarge);
    }
    read_bounded(file, meta.len(), limit)
}

/// Opens the file at `path` and checks that what was opened is a regular
/// file: the path may have been replaced since it was looked at.
fn open_regular(path: &Path) -> Result<(File, Metadata), LocalFileError> {
    // Without waiting: a FIFO swapped in would otherwise block the open
    // until a writer comes (reads of a regular file ignore the flag).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(LocalFileError::Io)?;
    let meta = file.metadata().map_err(LocalFileError::Io)?;
    check_regular(&meta)?;
    Ok((file, meta))
}

/// Reads one byte past `limit`, so that a file that grew after its size
/// was looked at is still caught, and bounded.
fn read_bounded(file: File, size: u64, limit: u64) -> Result<Vec<u8>, LocalFileError> {
    let mut bytes = Vec::with_capacity(size.min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(LocalFileError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(LocalFileError::TooLarge);
    }
    Ok(bytes)
}

fn check_regular(meta: &Metadata) -> Result<(), LocalFileError> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "an unknown kind of file"
    };
    Err(LocalFileError::NotRegular(kind))
}

/// A fresh folder for one test, removed after.
#[cfg(test)]
pub(crate) struct TempDir(std::path::PathBuf);

#[cfg(test)]
impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("lvp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_swapped_in_is_opened_without_waiting_and_refused() {
        let dir = TempDir::new("local-file");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo failed");
            return;
        }
        // As if the path had been a regular file when looked at: the open
        // itself does not wait for a writer, and what it opened is refused.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(open_regular(&p).map(|_| ()));
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the open blocked")
            .unwrap_err();
        assert!(matches!(e, LocalFileError::NotRegular("a FIFO")), "{e:?}");
    }

    #[test]
    fn a_file_is_read_up_to_its_limit() {
        let dir = TempDir::new("local-limit");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&path, 4),
            Err(LocalFileError::TooLarge)
        ));
        // Grown after its size was looked at: still bounded.
        let file = std::fs::File::open(&path).unwrap();
        assert!(matches!(
            read_bounded(file, 2, 4),
            Err(LocalFileError::TooLarge)
        ));
    }
}
