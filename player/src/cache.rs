//! The verified, content-addressed media cache.
//!
//! Layout: `<data_dir>/cache/sha256/<hex>` holds a complete file whose SHA-256 is `<hex>`;
//! `<hex>.part` is a download in progress. A file appears under its final name only after
//! every byte was hashed while streaming, the hash matched, the size matched, and the part file
//! was fsynced, renamed and the directory fsynced. So a final name always means "verified";
//! the cache never exposes anything else.
//!
//! At [`Cache::open`], part files are kept (downloads resume from them with
//! `Range: bytes=N-`) and the files are **not** re-hashed: that would read every byte of a
//! possibly large library from a slow SD card at each boot, and a final name is only ever
//! created through verification. Sizes are checked instead as soon as the declared sizes are
//! known: [`Cache::missing`] and [`Cache::sync`] remove complete files whose size differs from
//! what the manifest declares. [`Cache::verify_file`] re-hashes one file on demand.
//!
//! Downloads ([`Cache::sync`]) go one file at a time, trying the mirrors in order; a failed
//! round is retried after an exponential backoff with jitter, with the mirrors that failed moved
//! behind the others. A part file is continued only from the mirror that wrote it (or, for a
//! part left by an earlier run, from any mirror once: a hash failure discards it and the next
//! attempt starts from zero), so a bad mirror's bytes never become the prefix of an honest
//! mirror's file (docs/security.md §3). Memory stays bounded: the body
//! is streamed chunk by chunk to the part file and the hasher.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gatecast_tls::rustls::ClientConfig;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Mutex};

use crate::store::{Store, StoreError};
use gatecast_support::fs as fsutil;

/// What the cache reports while syncing (also feeds the status `cache` field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheProgress {
    /// Bytes of the wanted media already on disk (complete files plus resumable parts).
    pub have_bytes: u64,
    /// Total declared bytes of the wanted media.
    pub need_bytes: u64,
    /// The last download error (`None` after a sync that completed without one).
    pub last_error: Option<String>,
}

/// One media file the cache must hold: its hash and declared size (from a `MediaRef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wanted {
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Declared size in bytes.
    pub bytes: u64,
}

impl From<&playlists::manifest::MediaRef> for Wanted {
    fn from(m: &playlists::manifest::MediaRef) -> Self {
        Wanted {
            sha256: m.sha256.clone(),
            bytes: m.bytes,
        }
    }
}

/// Backoff between download rounds: `initial`, doubling up to `max`, each wait randomised to
/// between half and all of it (jitter, so a hall of screens does not retry in lockstep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based), with jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        gatecast_support::backoff::delay(self.initial, self.max, attempt)
    }
}

/// Why the cache could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A hash string is not 64 lowercase hex characters; no path is built from it.
    #[error("{0:?} is not a sha256 (64 lowercase hex characters)")]
    BadSha(String),
    /// No mirror is configured.
    #[error("no media mirror configured (set media_base)")]
    NoMirrors,
    /// A file operation on the cache directory failed.
    #[error("cache {path}: {source} (check disk space and permissions of the data_dir)")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cache index in the state database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cache index could not be written.
    #[error("cache index: {0} (check disk space)")]
    Index(#[from] sled::Error),
}

/// Why one download attempt from one mirror failed (reported in [`CacheProgress::last_error`]).
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Network or HTTP protocol failure (the part file is kept for resume).
    #[error("request failed: {0}")]
    Http(String),
    /// The server answered with an unexpected status.
    #[error("server answered HTTP {0}")]
    Status(u16),
    /// The server sent more bytes than the manifest declares; aborted, part file removed.
    #[error("server sent more bytes than the {declared} declared; download aborted")]
    TooLong {
        /// The declared size.
        declared: u64,
    },
    /// The stream ended early (the part file is kept for resume).
    #[error("stream ended after {got} of {declared} bytes")]
    Short {
        /// Bytes on disk.
        got: u64,
        /// The declared size.
        declared: u64,
    },
    /// The complete file does not hash to the expected value; part file removed.
    #[error("hash mismatch: got {got}, the file was discarded")]
    HashMismatch {
        /// The hash of what was received.
        got: String,
    },
    /// A 206 answer does not continue where the part file ends.
    #[error("server answered a Range request with content-range {0:?}")]
    BadRange(String),
    /// A local file operation failed.
    #[error(transparent)]
    Local(#[from] CacheError),
}

/// The media cache. Cheap to clone; clones share the same directory and download lock.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
    budget: Option<u64>,
    bandwidth: Option<u64>,
    retry: RetryPolicy,
    client: reqwest::Client,
    store: Store,
    download_lock: Arc<Mutex<()>>,
    /// Which mirror wrote each part file in this run (sha256 → mirror base URL).
    part_origin: Arc<std::sync::Mutex<HashMap<String, String>>>,
}

/// The store tree of last-play times.
const INDEX: &str = "cache_index";

/// Checks a sha256 string before any path is built from it.
fn check_sha(sha: &str) -> Result<(), CacheError> {
    if playlists::manifest::is_valid_sha256_hex(sha) {
        Ok(())
    } else {
        Err(CacheError::BadSha(sha.to_owned()))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Length of a file, `None` if it does not exist.
async fn file_len(path: &Path) -> Result<Option<u64>, CacheError> {
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => Ok(Some(m.len())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

async fn remove_if_exists(path: &Path) -> Result<(), CacheError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Read size for hashing files already on disk (large reads keep SHA-256 at disk speed).
const HASH_READ: usize = 1 << 20;

/// Hashes the first `len` bytes of `path` into `hasher` and returns it. The whole read loop
/// runs on one blocking thread with `std::fs` and 1 MiB reads (one pool round trip per file,
/// not one per chunk). Fails with `UnexpectedEof` if the file is shorter than `len`.
async fn hash_prefix(path: &Path, len: u64, hasher: Sha256) -> Result<Sha256, CacheError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || hash_prefix_blocking(&owned, len, hasher))
        .await
        .map_err(|e| io_err(path)(std::io::Error::other(e)))?
}

fn hash_prefix_blocking(path: &Path, len: u64, mut hasher: Sha256) -> Result<Sha256, CacheError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut buf = vec![
        0u8;
        HASH_READ
            .min(usize::try_from(len).unwrap_or(HASH_READ))
            .max(1)
    ];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match f.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        if n == 0 {
            return Err(io_err(path)(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shorter than expected",
            )));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

/// `start` from a `Content-Range: bytes start-end/total` header.
fn content_range_start(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((start.parse().ok()?, total))
}

impl Cache {
    /// Opens the cache under `<data_dir>/cache/sha256/`, creating it if needed; `budget` is the
    /// size limit enforced by [`Cache::evict`] (`None` = unlimited). The last-played index
    /// lives in the store's `cache_index` tree. Part files are kept for resume; stray
    /// temporary files are removed.
    pub fn open(data_dir: &Path, store: &Store, budget: Option<u64>) -> Result<Cache, CacheError> {
        let root = data_dir.join("cache").join("sha256");
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        for entry in std::fs::read_dir(&root).map_err(io_err(&root))? {
            let entry = entry.map_err(io_err(&root))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        let client = http_client(None).map_err(|e| CacheError::Io {
            path: root.clone(),
            source: std::io::Error::other(format!("cannot build HTTP client: {e}")),
        })?;
        Ok(Cache {
            root,
            budget,
            bandwidth: None,
            retry: RetryPolicy::default(),
            client,
            store: store.clone(),
            download_lock: Arc::new(Mutex::new(())),
            part_origin: Arc::default(),
        })
    }

    /// Downloads from `https://` mirrors with this rustls configuration
    /// ([`crate::tls::PlayerTls::media`]).
    pub fn with_tls(mut self, tls: &Arc<ClientConfig>) -> Result<Cache, CacheError> {
        self.client = http_client(Some(tls)).map_err(|e| CacheError::Io {
            path: self.root.clone(),
            source: std::io::Error::other(format!("cannot build HTTP client: {e}")),
        })?;
        Ok(self)
    }

    /// Limits the download rate to `bytes_per_sec` (`None` = unlimited).
    pub fn with_bandwidth_limit(mut self, bytes_per_sec: Option<u64>) -> Cache {
        self.bandwidth = bytes_per_sec.filter(|b| *b > 0);
        self
    }

    /// Sets the retry backoff (tests use short waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Cache {
        self.retry = retry;
        self
    }

    /// The cache directory (`<data_dir>/cache/sha256`).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    fn final_path(&self, sha: &str) -> PathBuf {
        self.root.join(sha)
    }

    fn part_path(&self, sha: &str) -> PathBuf {
        self.root.join(format!("{sha}.part"))
    }

    /// The path of the verified file for `sha`, or `None` if it is not (completely) cached or
    /// `sha` is not a valid hash.
    pub fn path(&self, sha: &str) -> Option<PathBuf> {
        check_sha(sha).ok()?;
        let p = self.final_path(sha);
        p.is_file().then_some(p)
    }

    /// Which of `media` are not in the cache. Complete files whose size differs from the
    /// declared size are removed (and so count as missing).
    pub async fn missing(&self, media: &[Wanted]) -> Result<Vec<Wanted>, CacheError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for w in media {
            check_sha(&w.sha256)?;
            if !seen.insert(w.sha256.as_str()) {
                continue;
            }
            let p = self.final_path(&w.sha256);
            match file_len(&p).await? {
                Some(len) if len == w.bytes => {}
                Some(len) => {
                    tracing::warn!(sha256 = %w.sha256, len, declared = w.bytes, "cached file has the wrong size; removing it");
                    remove_if_exists(&p).await?;
                    out.push(w.clone());
                }
                None => out.push(w.clone()),
            }
        }
        Ok(out)
    }

    /// Bytes of `media` already on disk (complete files and resumable parts) and their total.
    async fn measure(&self, media: &[Wanted]) -> Result<(u64, u64), CacheError> {
        let mut have = 0;
        let mut need = 0;
        let mut seen = HashSet::new();
        for w in media {
            if !seen.insert(w.sha256.as_str()) {
                continue;
            }
            need += w.bytes;
            if let Some(len) = file_len(&self.final_path(&w.sha256)).await? {
                if len == w.bytes {
                    have += w.bytes;
                    continue;
                }
            }
            if let Some(len) = file_len(&self.part_path(&w.sha256)).await? {
                have += len.min(w.bytes);
            }
        }
        Ok((have, need))
    }

    /// Downloads every missing item of `media` from `mirrors` (base URLs; a file is fetched from
    /// `<base>/media/<sha256>`), and returns once **all** of them are cached and verified.
    ///
    /// Each round tries every missing file on each mirror in order; if anything is still
    /// missing the round is repeated after [`RetryPolicy::delay`] (reset when a round completes
    /// a file). It retries forever: cancel it by dropping the future (e.g. when a newer
    /// manifest arrives); part files stay for resume. Only one sync runs at a time per cache.
    ///
    /// `progress` is updated as bytes arrive and when an attempt fails (`last_error`).
    /// Errors are returned only for input that can never work (an invalid hash, no mirrors).
    pub async fn sync(
        &self,
        media: &[Wanted],
        mirrors: &[String],
        progress: &watch::Sender<CacheProgress>,
    ) -> Result<(), CacheError> {
        for w in media {
            check_sha(&w.sha256)?;
        }
        let _guard = self.download_lock.lock().await;
        let mut missing = self.missing(media).await?;
        let (have, need) = self.measure(media).await?;
        progress.send_modify(|p| {
            p.have_bytes = have;
            p.need_bytes = need;
        });
        if missing.is_empty() {
            progress.send_modify(|p| p.last_error = None);
            return Ok(());
        }
        if mirrors.is_empty() {
            return Err(CacheError::NoMirrors);
        }
        let mut attempt = 0u32;
        // Failed attempts per mirror in this sync: each round tries the mirrors with fewer
        // failures first (ties keep the configured order).
        let mut failures = vec![0u32; mirrors.len()];
        loop {
            let mut completed_any = false;
            let mut still = Vec::new();
            let mut round_error = None;
            let mut order: Vec<usize> = (0..mirrors.len()).collect();
            order.sort_by_key(|&i| failures[i]);
            for w in missing {
                let mut done = false;
                for &i in &order {
                    let mirror = &mirrors[i];
                    let url = format!("{}/media/{}", mirror.trim_end_matches('/'), w.sha256);
                    match self.download(&w, mirror, &url, media, progress).await {
                        Ok(()) => {
                            tracing::info!(sha256 = %w.sha256, bytes = w.bytes, %mirror, "media cached and verified");
                            done = true;
                            break;
                        }
                        Err(e) => {
                            failures[i] = failures[i].saturating_add(1);
                            let msg = format!("{}: {url}: {e}", w.sha256);
                            tracing::warn!(error = %msg, "media download failed");
                            // Real progress: what is on disk now (a discarded part counts 0).
                            let have = self.measure(media).await.ok().map(|(have, _)| have);
                            progress.send_modify(|p| {
                                if let Some(have) = have {
                                    p.have_bytes = have;
                                }
                                p.last_error = Some(msg.clone());
                            });
                            round_error = Some(msg);
                        }
                    }
                }
                if done {
                    completed_any = true;
                } else {
                    still.push(w);
                }
            }
            if still.is_empty() {
                if round_error.is_none() {
                    progress.send_modify(|p| p.last_error = None);
                }
                return Ok(());
            }
            missing = still;
            if completed_any {
                attempt = 0;
            }
            let wait = self.retry.delay(attempt);
            attempt = attempt.saturating_add(1);
            tracing::info!(
                missing = missing.len(),
                wait_ms = wait.as_millis() as u64,
                "retrying media downloads"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// The mirror that wrote `sha`'s part file in this run, if any.
    fn origin(&self, sha: &str) -> Option<String> {
        self.part_origin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha)
            .cloned()
    }

    /// Records (`Some`) or forgets (`None`) which mirror writes `sha`'s part file.
    fn set_origin(&self, sha: &str, mirror: Option<&str>) {
        let mut m = self.part_origin.lock().unwrap_or_else(|p| p.into_inner());
        match mirror {
            Some(mirror) => m.insert(sha.to_string(), mirror.to_string()),
            None => m.remove(sha),
        };
    }

    /// One attempt to complete `w` from `url` on `mirror`.
    async fn download(
        &self,
        w: &Wanted,
        mirror: &str,
        url: &str,
        all: &[Wanted],
        progress: &watch::Sender<CacheProgress>,
    ) -> Result<(), DownloadError> {
        let part = self.part_path(&w.sha256);
        let declared = w.bytes;
        let mut offset = file_len(&part).await?.unwrap_or(0);
        if offset > declared {
            remove_if_exists(&part).await?;
            offset = 0;
        }
        if offset > 0 && self.origin(&w.sha256).is_some_and(|o| o != mirror) {
            // Another mirror's bytes are not known to be good until the whole file hashes:
            // never continue them from here.
            tracing::info!(%url, offset, "part file came from another mirror; restarting from zero");
            remove_if_exists(&part).await?;
            offset = 0;
        }
        let mut hasher = Sha256::new();
        if offset > 0 {
            hasher = hash_prefix(&part, offset, hasher).await?;
        }
        if offset == declared {
            // Everything is already in the part file (e.g. killed just before the rename).
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&part)
                .await
                .map_err(io_err(&part))?;
            return self.finish(w, file, hasher).await;
        }

        let mut req = self.client.get(url);
        if offset > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| DownloadError::Http(gatecast_tls::explain(&e)))?;
        let status = resp.status().as_u16();
        let restart = match status {
            206 if offset > 0 => {
                let cr = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                match content_range_start(&cr) {
                    Some((start, total)) if start == offset => {
                        if total.is_some_and(|t| t > declared) {
                            remove_if_exists(&part).await?;
                            return Err(DownloadError::TooLong { declared });
                        }
                        false
                    }
                    _ => return Err(DownloadError::BadRange(cr)),
                }
            }
            200 => {
                if offset > 0 {
                    tracing::info!(%url, offset, "server ignored the Range request; restarting from zero");
                }
                true
            }
            416 => {
                // Our part file does not fit what the server has: start over.
                remove_if_exists(&part).await?;
                return Err(DownloadError::Status(status));
            }
            s => return Err(DownloadError::Status(s)),
        };
        if restart {
            offset = 0;
            hasher = Sha256::new();
        }
        if let Some(len) = resp.content_length() {
            if offset.saturating_add(len) > declared {
                remove_if_exists(&part).await?;
                return Err(DownloadError::TooLong { declared });
            }
        }
        self.set_origin(&w.sha256, Some(mirror));
        // Unbuffered on purpose: every received byte goes to the part file at once, so a
        // stalled or cancelled download keeps everything it received for the resume.
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(restart)
            .append(!restart)
            .open(&part)
            .await
            .map_err(io_err(&part))?;
        let (base_have, _) = self.measure(all).await?;
        let base_have = base_have - file_len(&part).await?.unwrap_or(0).min(declared);
        progress.send_modify(|p| p.have_bytes = base_have + offset);

        let mut throttle = self.bandwidth.map(Throttle::new);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    file.flush().await.map_err(io_err(&part))?;
                    return Err(DownloadError::Http(gatecast_tls::explain(&e)));
                }
            };
            if offset + chunk.len() as u64 > declared {
                drop(file);
                remove_if_exists(&part).await?;
                return Err(DownloadError::TooLong { declared });
            }
            file.write_all(&chunk).await.map_err(io_err(&part))?;
            // `tokio::fs::File` completes writes in the background; wait for this one, so the
            // progress below counts bytes really in the part file (what a resume will find).
            file.flush().await.map_err(io_err(&part))?;
            hasher.update(&chunk);
            offset += chunk.len() as u64;
            progress.send_modify(|p| p.have_bytes = base_have + offset);
            if let Some(t) = throttle.as_mut() {
                t.consume(chunk.len() as u64).await;
            }
        }
        file.flush().await.map_err(io_err(&part))?;
        if offset < declared {
            return Err(DownloadError::Short {
                got: offset,
                declared,
            });
        }
        self.finish(w, file, hasher).await
    }

    /// Checks the hash of a complete part file and moves it into place durably.
    async fn finish(
        &self,
        w: &Wanted,
        file: tokio::fs::File,
        hasher: Sha256,
    ) -> Result<(), DownloadError> {
        let part = self.part_path(&w.sha256);
        let got = playlists::hex::encode(&hasher.finalize());
        self.set_origin(&w.sha256, None);
        if got != w.sha256 {
            drop(file);
            remove_if_exists(&part).await?;
            return Err(DownloadError::HashMismatch { got });
        }
        file.sync_all().await.map_err(io_err(&part))?;
        drop(file);
        let dest = self.final_path(&w.sha256);
        tokio::fs::rename(&part, &dest)
            .await
            .map_err(io_err(&dest))?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || fsutil::sync_dir(&root))
            .await
            .map_err(|e| io_err(&self.root)(std::io::Error::other(e)))?
            .map_err(io_err(&self.root))?;
        Ok(())
    }

    /// Re-hashes the cached file for `sha`; removes it and returns `false` if it does not match.
    pub async fn verify_file(&self, sha: &str) -> Result<bool, CacheError> {
        check_sha(sha)?;
        let p = self.final_path(sha);
        let Some(len) = file_len(&p).await? else {
            return Ok(false);
        };
        let hasher = hash_prefix(&p, len, Sha256::new()).await?;
        if playlists::hex::encode(&hasher.finalize()) == sha {
            Ok(true)
        } else {
            tracing::warn!(sha256 = %sha, "cached file is corrupt; removing it");
            remove_if_exists(&p).await?;
            Ok(false)
        }
    }

    /// Records that `sha` was just played (for least-recently-played eviction); flushed.
    pub fn mark_played(&self, sha: &str) -> Result<(), CacheError> {
        check_sha(sha)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.store.with_db("record last play", |db| {
            db.open_tree(INDEX)?
                .insert(sha.as_bytes(), &now.to_be_bytes())?;
            db.flush().map(|_| ())
        })?;
        Ok(())
    }

    /// Total bytes of complete and partial files in the cache.
    pub fn size(&self) -> Result<u64, CacheError> {
        Ok(self.entries()?.iter().map(|e| e.len).sum())
    }

    fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let (sha, part) = match name.strip_suffix(".part") {
                Some(s) => (s.to_owned(), true),
                None => (name.clone(), false),
            };
            if check_sha(&sha).is_err() {
                continue;
            }
            let meta = entry.metadata().map_err(io_err(&entry.path()))?;
            if !meta.is_file() {
                continue;
            }
            out.push(Entry {
                sha,
                part,
                len: meta.len(),
                path: entry.path(),
            });
        }
        Ok(out)
    }

    /// Brings the cache under its budget by removing the least-recently-played files whose hash
    /// is not in `protected` (pass every media hash of the active and pending manifests and of
    /// the active alerts). Part files of unprotected media go first, then never-played files,
    /// then by last play. Protected media are never removed, even if the budget stays exceeded.
    /// Returns the hashes removed.
    pub fn evict(&self, protected: &HashSet<String>) -> Result<Vec<String>, CacheError> {
        let Some(budget) = self.budget else {
            return Ok(Vec::new());
        };
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.len).sum();
        if total <= budget {
            return Ok(Vec::new());
        }
        let last: HashMap<String, u64> = self.store.with_db("read last plays", |db| {
            let index = db.open_tree(INDEX)?;
            let mut last = HashMap::new();
            for e in &entries {
                if let Some(v) = index.get(e.sha.as_bytes())? {
                    if let Ok(arr) = <[u8; 8]>::try_from(v.as_ref()) {
                        last.insert(e.sha.clone(), u64::from_be_bytes(arr));
                    }
                }
            }
            Ok(last)
        })?;
        let mut candidates: Vec<&Entry> = entries
            .iter()
            .filter(|e| !protected.contains(&e.sha))
            .collect();
        candidates.sort_by_key(|e| {
            (
                !e.part,
                last.get(&e.sha).copied().unwrap_or(0),
                e.sha.clone(),
            )
        });
        let mut removed = Vec::new();
        for e in candidates {
            if total <= budget {
                break;
            }
            std::fs::remove_file(&e.path).map_err(io_err(&e.path))?;
            total -= e.len;
            if !e.part {
                self.store.with_db("forget last play", |db| {
                    db.open_tree(INDEX)?.remove(e.sha.as_bytes()).map(|_| ())
                })?;
                tracing::info!(sha256 = %e.sha, bytes = e.len, "evicted from the cache");
                removed.push(e.sha.clone());
            }
        }
        fsutil::sync_dir(&self.root).map_err(io_err(&self.root))?;
        self.store.flush()?;
        Ok(removed)
    }
}

/// Download rate limiter: after `n` bytes in total, waits until `n / rate` seconds have
/// passed since the start, so the average never exceeds `rate` (bursts are one chunk).
struct Throttle {
    rate: u64,
    started: tokio::time::Instant,
    sent: u64,
}

impl Throttle {
    fn new(rate: u64) -> Throttle {
        Throttle {
            rate: rate.max(1),
            started: tokio::time::Instant::now(),
            sent: 0,
        }
    }

    async fn consume(&mut self, n: u64) {
        self.sent += n;
        let due = self.started + Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        tokio::time::sleep_until(due).await;
    }
}

struct Entry {
    sha: String,
    part: bool,
    len: u64,
    path: PathBuf,
}

/// An error and its sources on one line (reqwest's own message is terse).
/// The download client: `tls` for `https://` mirrors (`None`: every TLS handshake is refused,
/// for a cache that only reads `http://` mirrors).
fn http_client(tls: Option<&Arc<ClientConfig>>) -> Result<reqwest::Client, reqwest::Error> {
    let tls = tls
        .cloned()
        .unwrap_or_else(|| crate::tls::refusing("no https:// media mirror is configured"));
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.as_ref().clone())
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn throttle_keeps_the_average_rate() {
        let t0 = tokio::time::Instant::now();
        let mut t = Throttle::new(1000);
        for _ in 0..4 {
            t.consume(500).await;
        }
        // 2000 bytes at 1000 B/s: exactly 2 s on the paused clock.
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            content_range_start("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(content_range_start("bytes 0-0/*"), Some((0, None)));
        assert_eq!(content_range_start("items 1-2/3"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for attempt in 0..30 {
            let d = p.delay(attempt);
            let base = Duration::from_millis(100 * (1u64 << attempt.min(20)))
                .min(Duration::from_millis(1000));
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
        }
    }
}
