//! Online backup and restore (`docs/operations.md`, "Backups and restore").
//!
//! `gatecast-controller backup --out FILE` writes one tar archive while the controller runs
//! (through the admin socket, [`crate::admin`]) or while it is stopped: a consistent copy of
//! the database ([`Store::dump`]), the key and secret files, and the media library (or only
//! the list of media hashes with `--without-media`), then `gatecast-backup.json` naming every
//! entry with its SHA-256, the log size and the newest checkpoint the copy holds. The
//! archive's own SHA-256 goes to `FILE.sha256` (`sha256sum -c` format).
//!
//! `gatecast-controller restore FILE --data DIR` refuses a DIR that exists and is not empty,
//! an archive whose SHA-256 differs from `FILE.sha256`, and any entry whose hash differs from
//! the manifest; it then loads the database and writes the files with their modes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::files;
use crate::store::Store;
use playlists::hex::encode as hex;

/// Format name in the manifest; a restore refuses others.
pub const FORMAT: &str = "gatecast-backup/1";
/// The manifest entry, last in the archive.
pub const MANIFEST: &str = "gatecast-backup.json";
const DB_ENTRY: &str = "db.dump";
const MEDIA_PREFIX: &str = "media/sha256/";

/// A backup or restore that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database copy failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The archive is damaged or not a gatecast backup; nothing was restored.
    #[error("backup {path} is damaged or not a gatecast backup: {message}; nothing was restored")]
    Damaged {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The restore target already holds something.
    #[error("{0} exists and is not empty: restore only into a new or empty directory")]
    TargetNotEmpty(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `gatecast-backup.json`: what the archive holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    /// [`FORMAT`].
    pub format: String,
    /// When the copy was taken (RFC 3339).
    pub created_at: String,
    /// Merkle log leaves in the database copy.
    pub log_size: u64,
    /// Tree size of the newest checkpoint in the copy (0: none yet).
    pub checkpoint_size: u64,
    /// That checkpoint's exact envelope (UTF-8 JSON), if any.
    pub checkpoint: Option<String>,
    /// Database entries copied.
    pub db_entries: u64,
    /// Whether media files are in the archive (false: `--without-media`, by reference).
    pub media_included: bool,
    /// SHA-256 of every media file the library held (by reference or included).
    pub media: Vec<String>,
    /// Every other entry's name and SHA-256.
    pub entries: BTreeMap<String, String>,
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct BackupDone {
    /// The archive.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256 (also in `<path>.sha256`).
    pub sha256: String,
    /// The manifest inside it.
    pub manifest: BackupManifest,
}

impl std::fmt::Display for BackupDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        write!(
            f,
            "wrote backup {} ({} bytes, sha256 {}, also in {}.sha256): log size {}, newest checkpoint at size {}, {} database entries, {} media file(s) {}",
            self.path.display(),
            self.bytes,
            self.sha256,
            self.path.display(),
            m.log_size,
            m.checkpoint_size,
            m.db_entries,
            m.media.len(),
            if m.media_included { "included" } else { "by reference (--without-media)" }
        )
    }
}

/// The secret files a backup carries: the signing key, retired keys, the admin token and the
/// controller's MQTT password, whichever exist.
fn secret_files(data: &Path) -> Result<Vec<String>, BackupError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data).map_err(io(data))? {
        let name = e
            .map_err(io(data))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name == files::CONTROLLER_KEY
            || name.starts_with(&format!("{}.retired-", files::CONTROLLER_KEY))
            || name == files::ADMIN_TOKEN
            || name == files::MQTT_PASSWORD
        {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn media_hashes(data: &Path) -> Result<Vec<String>, BackupError> {
    let dir = data.join(files::MEDIA).join("sha256");
    let mut out = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd {
                let name = e
                    .map_err(io(&dir))?
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                if playlists::manifest::is_valid_sha256_hex(&name) {
                    out.push(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&dir)(e)),
    }
    out.sort();
    Ok(out)
}

fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok(hex(&h.finalize()))
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    path: &Path,
    out: &Path,
) -> Result<(), BackupError> {
    let mut f = File::open(path).map_err(io(path))?;
    tar.append_file(name, &mut f).map_err(io(out))
}

/// Writes a backup of the controller whose data directory is `data` and whose open database
/// is `store` to `out` (through a temporary file and a rename), then `<out>.sha256`. The
/// database copy is taken under the log lock ([`Store::dump`]); media files are immutable.
pub fn create(
    store: &Store,
    data: &Path,
    out: &Path,
    with_media: bool,
) -> Result<BackupDone, BackupError> {
    let out_dir = gatecast_support::fs::parent_dir(out);
    let mut dump = tempfile::NamedTempFile::new_in(out_dir).map_err(io(out_dir))?;
    let summary = {
        let mut w = BufWriter::new(dump.as_file_mut());
        store.dump(&mut w)?
    };
    let mut entries = BTreeMap::new();
    entries.insert(DB_ENTRY.to_string(), sha256_file(dump.path())?);
    let partial = tempfile::NamedTempFile::new_in(out_dir).map_err(io(out_dir))?;
    let mut tar = tar::Builder::new(BufWriter::new(partial.as_file()));
    tar.mode(tar::HeaderMode::Deterministic);
    append(&mut tar, DB_ENTRY, dump.path(), out)?;
    drop(dump);
    for name in secret_files(data)? {
        let p = data.join(&name);
        entries.insert(name.clone(), sha256_file(&p)?);
        append(&mut tar, &name, &p, out)?;
    }
    let media = media_hashes(data)?;
    if with_media {
        for sha in &media {
            let p = data.join(files::MEDIA).join("sha256").join(sha);
            append(&mut tar, &format!("{MEDIA_PREFIX}{sha}"), &p, out)?;
        }
    }
    let manifest = BackupManifest {
        format: FORMAT.to_string(),
        created_at: jiff::Timestamp::now().to_string(),
        log_size: summary.log_size,
        checkpoint_size: summary.checkpoint.as_ref().map_or(0, |c| c.0),
        checkpoint: summary
            .checkpoint
            .map(|c| String::from_utf8_lossy(&c.1).into_owned()),
        db_entries: summary.entries,
        media_included: with_media,
        media,
        entries,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
    let mut h = tar::Header::new_gnu();
    h.set_size(json.len() as u64);
    h.set_mode(0o600);
    h.set_cksum();
    tar.append_data(&mut h, MANIFEST, &json[..])
        .map_err(io(out))?;
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io(out))?;
    partial.as_file().sync_all().map_err(io(out))?;
    partial.persist(out).map_err(|e| io(out)(e.error))?;
    let sha256 = sha256_file(out)?;
    let file_name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    let side = sidecar(out);
    gatecast_support::fs::write_atomic(
        &side,
        format!("{sha256}  {}\n", file_name.unwrap_or_default()).as_bytes(),
        0o600,
    )
    .map_err(io(&side))?;
    gatecast_support::fs::sync_dir(out_dir).map_err(io(out_dir))?;
    let bytes = std::fs::metadata(out).map_err(io(out))?.len();
    Ok(BackupDone {
        path: out.to_owned(),
        bytes,
        sha256,
        manifest,
    })
}

/// `<archive>.sha256`.
pub fn sidecar(archive: &Path) -> PathBuf {
    let mut s = archive.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The new data directory.
    pub data: PathBuf,
    /// The manifest of the archive.
    pub manifest: BackupManifest,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        write!(
            f,
            "restored the backup of {} into {}: {} database entries, log size {}, newest checkpoint at size {}, {} media file(s){}; start the controller with --data {}",
            m.created_at,
            self.data.display(),
            m.db_entries,
            m.log_size,
            m.checkpoint_size,
            m.media.len(),
            if m.media_included { "" } else { " by reference: copy media/sha256/ from your media store" },
            self.data.display()
        )
    }
}

/// Restores `archive` into the new data directory `data` (see the module docs). On any
/// refusal after unpacking began, what was written under `data` is removed again.
pub fn restore(archive: &Path, data: &Path) -> Result<Restored, BackupError> {
    if let Ok(mut rd) = std::fs::read_dir(data) {
        if rd.next().is_some() {
            return Err(BackupError::TargetNotEmpty(data.to_owned()));
        }
    }
    let damaged = |message: String| BackupError::Damaged {
        path: archive.to_owned(),
        message,
    };
    let side = sidecar(archive);
    match std::fs::read_to_string(&side) {
        Ok(text) => {
            let want = text
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let got = sha256_file(archive)?;
            if want != got {
                return Err(damaged(format!(
                    "its SHA-256 is {got}, {} says {want}",
                    side.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(sidecar = %side.display(), "no .sha256 beside the backup; checking each entry against the manifest only");
        }
        Err(e) => return Err(io(&side)(e)),
    }
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data)
            .map_err(io(data))?;
    }
    gatecast_support::fs::write_atomic(&data.join(".restoring"), b"", 0o600).map_err(io(data))?;
    let result = unpack(archive, data, &damaged);
    match result {
        Ok(manifest) => {
            let _ = std::fs::remove_file(data.join(".restoring"));
            Ok(Restored {
                data: data.to_owned(),
                manifest,
            })
        }
        Err(e) => {
            if let Ok(rd) = std::fs::read_dir(data) {
                for entry in rd.flatten() {
                    let p = entry.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
            Err(e)
        }
    }
}

/// Where an archive entry goes under the staging directory, or `None` for a name a backup
/// never holds (refused).
fn entry_target(name: &str) -> Option<(PathBuf, u32)> {
    if name == DB_ENTRY || name == MANIFEST {
        return Some((PathBuf::from(format!(".restore-{name}")), 0o600));
    }
    if let Some(sha) = name.strip_prefix(MEDIA_PREFIX) {
        return playlists::manifest::is_valid_sha256_hex(sha)
            .then(|| (Path::new(files::MEDIA).join("sha256").join(sha), 0o644));
    }
    let secret = name == files::CONTROLLER_KEY
        || name == files::ADMIN_TOKEN
        || name == files::MQTT_PASSWORD
        || name
            .strip_prefix(&format!("{}.retired-", files::CONTROLLER_KEY))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    secret.then(|| (PathBuf::from(name), 0o600))
}

fn unpack(
    archive: &Path,
    data: &Path,
    damaged: &dyn Fn(String) -> BackupError,
) -> Result<BackupManifest, BackupError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut tar = tar::Archive::new(BufReader::new(File::open(archive).map_err(io(archive))?));
    let mut seen = BTreeMap::new();
    for entry in tar.entries().map_err(|e| damaged(e.to_string()))? {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let Some((rel, mode)) = entry_target(&name) else {
            return Err(damaged(format!("unexpected entry {name:?}")));
        };
        let target = data.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&target)
                .map_err(io(&target))?
        };
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(|e| damaged(e.to_string()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            f.write_all(&buf[..n]).map_err(io(&target))?;
        }
        f.sync_all().map_err(io(&target))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
            .map_err(io(&target))?;
        seen.insert(name, hex(&h.finalize()));
    }
    let manifest_path = data.join(format!(".restore-{MANIFEST}"));
    let text = std::fs::read(&manifest_path)
        .map_err(|_| damaged(format!("no {MANIFEST} in it (a cut archive?)")))?;
    let m: BackupManifest =
        serde_json::from_slice(&text).map_err(|e| damaged(format!("{MANIFEST}: {e}")))?;
    if m.format != FORMAT {
        return Err(damaged(format!(
            "format {:?}, this build reads {FORMAT}",
            m.format
        )));
    }
    for (name, want) in &m.entries {
        match seen.get(name) {
            Some(got) if got == want => {}
            Some(got) => {
                return Err(damaged(format!(
                    "{name} has SHA-256 {got}, the manifest says {want}"
                )))
            }
            None => return Err(damaged(format!("{name} is missing"))),
        }
    }
    for (name, got) in &seen {
        if let Some(sha) = name.strip_prefix(MEDIA_PREFIX) {
            if sha != got {
                return Err(damaged(format!("media file {sha} has SHA-256 {got}")));
            }
        } else if name != MANIFEST && !m.entries.contains_key(name) {
            return Err(damaged(format!("{name} is not in the manifest")));
        }
    }
    let dump_path = data.join(format!(".restore-{DB_ENTRY}"));
    let mut dump = BufReader::new(File::open(&dump_path).map_err(io(&dump_path))?);
    let (store, entries) = Store::load_dump(&data.join(files::DB), &mut dump)?;
    if entries != m.db_entries {
        return Err(damaged(format!(
            "the database copy has {entries} entries, the manifest says {}",
            m.db_entries
        )));
    }
    drop(store);
    std::fs::remove_file(&dump_path).map_err(io(&dump_path))?;
    std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700)).map_err(io(data))?;
    Ok(m)
}

/// Checks that `dir` can take a backup file (exists, is a directory); the path is made
/// absolute so a running controller writes where the operator meant.
pub fn absolute_out(out: &Path) -> Result<PathBuf, BackupError> {
    let abs = std::path::absolute(out).map_err(io(out))?;
    let dir = gatecast_support::fs::parent_dir(&abs);
    if !dir.is_dir() {
        return Err(io(dir)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such directory for the backup file",
        )));
    }
    Ok(abs)
}
