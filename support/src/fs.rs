//! Crash-safe file writes.
//!
//! A file that must survive a crash or power cut is written as: temp file in the same
//! directory, write, fsync the file, rename over the target, fsync the directory. A reader then
//! sees either the old or the new content, never a torn mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically and durably, creating the file with `mode` (unix
/// permission bits, e.g. `0o600` for secrets).
///
/// The temp file is [`temp_path`] of `path` (same directory, so the rename is atomic); a stale
/// one from an earlier crash is replaced. The file has `mode` from the moment it is created, so
/// a secret is never readable by others, not even briefly, and exactly `mode` whatever the
/// umask (a mosquitto ACL file must stay readable by the broker's user).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_path(path)?;
    // A leftover temp file may have other permissions: remove it so `mode` applies.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(parent_dir(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The temp file [`write_atomic`] writes before renaming: `<path>.tmp` beside `path`.
pub fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    Ok(parent_dir(path).join(tmp_name))
}

/// Fsyncs a directory so that a rename or a new file in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.txt");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("secret.txt.tmp").exists());
        #[cfg(unix)]
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    #[cfg(unix)]
    fn mode_is_exact_whatever_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acl");
        write_atomic(&p, b"x", 0o644).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        write_atomic(&p, b"y", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn stale_temp_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        fs::write(dir.path().join("a.tmp"), b"garbage").unwrap();
        write_atomic(&p, b"ok", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"ok");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no-such-dir").join("a");
        assert!(write_atomic(&p, b"x", 0o600).is_err());
        assert!(!dir.path().join("no-such-dir").exists());
        assert!(
            temp_path(Path::new("/")).is_err(),
            "a path without a file name"
        );
        assert_eq!(parent_dir(Path::new("a")), Path::new("."));
    }
}
