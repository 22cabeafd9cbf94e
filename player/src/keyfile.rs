//! The device key file: `<data_dir>/device.key`, mode 0600, in the text form of
//! `playlists::keys::SecretKey::to_text` (`gatecast-ed25519-secret-v1 <base64 seed>`).

use std::path::{Path, PathBuf};

use playlists::keys::SecretKey;

use gatecast_support::fs as fsutil;

/// File name of the device key inside the data directory.
pub const DEVICE_KEY_FILE: &str = "device.key";

/// `<data_dir>/device.key`.
pub fn device_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DEVICE_KEY_FILE)
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("device key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("device key file {path} is not a gatecast secret key ({source}); restore it from backup, or remove it and enrol the screen again")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: playlists::keys::KeyError,
    },
}

/// Reads the key at `path`. If the file is readable by group or others, its mode is
/// tightened to 0600 and a warning is logged.
pub fn load(path: &Path) -> Result<SecretKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "device key file was readable by others; setting mode 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    SecretKey::from_text(&text).map_err(|source| KeyFileError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Writes `key` to `path` atomically with mode 0600 (creating the directory).
pub fn save(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(fsutil::parent_dir(path)).map_err(io)?;
    fsutil::write_atomic(path, key.to_text().as_bytes(), 0o600).map_err(io)
}

/// Loads the key at `path`, or makes a new random one and saves it (mode 0600) if the file
/// does not exist.
pub fn load_or_create(path: &Path) -> Result<SecretKey, KeyFileError> {
    match load(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate(&mut rand_core::OsRng);
            save(path, &key)?;
            tracing::info!(key_id = %key.key_id(), "made a new device key");
            Ok(key)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_loads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = device_key_path(&dir.path().join("data"));
        let k1 = load_or_create(&p).unwrap();
        let k2 = load_or_create(&p).unwrap();
        assert_eq!(k1.public(), k2.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            load(&p).unwrap();
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("device.key");
        std::fs::write(&p, "garbage").unwrap();
        assert!(matches!(
            load_or_create(&p),
            Err(KeyFileError::Format { .. })
        ));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "garbage");
    }
}
