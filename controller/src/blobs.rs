//! Media files, content-addressed at `<data>/media/sha256/<hex>`.
//!
//! Uploads stream to a temp file in the same directory while hashing (the body is never held
//! in memory), are checked against the size limit and the declared media type's magic bytes,
//! fsynced, renamed to their hash and the directory fsynced. A failed upload leaves no file.

use std::path::{Path, PathBuf};

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::secrets::random_bytes;
use gatecast_support::fs::sync_dir;
use playlists::hex::encode as hex;

/// Why an upload or read failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body exceeds the configured limit.
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The media type is not one gatecast plays.
    #[error("media type {0:?} is not supported; use video/mp4, video/webm, video/x-matroska, image/png, image/jpeg, image/webp, image/gif, audio/mpeg, audio/ogg, audio/wav or audio/mp4")]
    UnsupportedType(String),
    /// The bytes do not look like the declared type.
    #[error("the bytes do not match Content-Type {declared:?} (they look like {detected})")]
    TypeMismatch {
        /// Declared type.
        declared: String,
        /// What the magic bytes say.
        detected: &'static str,
    },
    /// Empty body.
    #[error("the upload is empty")]
    Empty,
    /// The client's body stream failed.
    #[error("reading the request body failed: {0}")]
    Body(String),
    /// Disk I/O failed.
    #[error("media storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// True if an identical file was already stored.
    pub existed: bool,
}

/// The media file store.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    posters: PathBuf,
}

const TMP_PREFIX: &str = ".upload-";

impl Blobs {
    /// Opens `<media_root>/sha256`, creating it, and removes temp files left by a crash.
    pub fn open(media_root: &Path) -> std::io::Result<Blobs> {
        let dir = media_root.join("sha256");
        std::fs::create_dir_all(&dir)?;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let posters = media_root.join("posters");
        Ok(Blobs { dir, posters })
    }

    /// The poster thumbnail (JPEG) of a video's hash, beside the media at
    /// `<media_root>/posters/<hex>.jpg`; `None` if `sha` is not 64 lowercase hex (the path is
    /// never built from unchecked input).
    pub fn poster_path(&self, sha: &str) -> Option<PathBuf> {
        playlists::manifest::is_valid_sha256_hex(sha)
            .then(|| self.posters.join(format!("{sha}.jpg")))
    }

    /// The file of a hash; `None` if `sha` is not 64 lowercase hex (never build a path from
    /// unchecked input).
    pub fn path(&self, sha: &str) -> Option<PathBuf> {
        playlists::manifest::is_valid_sha256_hex(sha).then(|| self.dir.join(sha))
    }

    /// Whether the file of a hash exists.
    pub fn exists(&self, sha: &str) -> bool {
        self.path(sha).is_some_and(|p| p.is_file())
    }

    /// Removes the file of a hash (no error if absent).
    pub fn remove(&self, sha: &str) -> std::io::Result<()> {
        if let Some(p) = self.path(sha) {
            match std::fs::remove_file(p) {
                Ok(()) => sync_dir(&self.dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(p) = self.poster_path(sha) {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Number of temp files currently present (for tests and diagnostics).
    pub fn temp_files(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Streams `body` to disk while hashing, checks `limit` and the declared `mime`.
    pub async fn store<S, B, E>(
        &self,
        body: S,
        mime: &str,
        limit: u64,
    ) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<B, E>>,
        B: Buf,
        E: std::fmt::Display,
    {
        if family_of(mime).is_none() {
            return Err(BlobError::UnsupportedType(mime.to_string()));
        }
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{}", hex(&random_bytes::<8>())));
        let res = self.write_tmp(&tmp, body, mime, limit).await;
        match res {
            Ok((sha, bytes)) => {
                let dest = self.dir.join(&sha);
                if dest.is_file() {
                    tokio::fs::remove_file(&tmp).await?;
                    return Ok(StoredBlob {
                        sha256: sha,
                        bytes,
                        existed: true,
                    });
                }
                let r = async {
                    tokio::fs::rename(&tmp, &dest).await?;
                    let dir = self.dir.clone();
                    tokio::task::spawn_blocking(move || sync_dir(&dir))
                        .await
                        .map_err(std::io::Error::other)?
                }
                .await;
                if let Err(e) = r {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(e.into());
                }
                Ok(StoredBlob {
                    sha256: sha,
                    bytes,
                    existed: false,
                })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Stores bytes the caller has already checked (a subtitle file, `docs/protocol.md` §21)
    /// under their SHA-256, written atomically; a file already there is kept.
    pub async fn store_bytes(&self, bytes: Vec<u8>) -> Result<StoredBlob, BlobError> {
        let sha = hex(&Sha256::digest(&bytes));
        let dest = self.dir.join(&sha);
        let existed = dest.is_file();
        let len = bytes.len() as u64;
        if !existed {
            tokio::task::spawn_blocking(move || {
                gatecast_support::fs::write_atomic(&dest, &bytes, 0o644)
            })
            .await
            .map_err(std::io::Error::other)??;
        }
        Ok(StoredBlob {
            sha256: sha,
            bytes: len,
            existed,
        })
    }

    async fn write_tmp<S, B, E>(
        &self,
        tmp: &Path,
        body: S,
        mime: &str,
        limit: u64,
    ) -> Result<(String, u64), BlobError>
    where
        S: Stream<Item = Result<B, E>>,
        B: Buf,
        E: std::fmt::Display,
    {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .await?;
        let mut hasher = Sha256::new();
        let mut total: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(HEAD_LEN);
        let mut checked = false;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            while chunk.has_remaining() {
                let part = chunk.chunk();
                let n = part.len();
                total += n as u64;
                if total > limit {
                    return Err(BlobError::TooLarge { limit });
                }
                if !checked {
                    let want = HEAD_LEN - head.len();
                    head.extend_from_slice(&part[..want.min(n)]);
                    if head.len() >= HEAD_LEN {
                        check_magic(mime, &head)?;
                        checked = true;
                    }
                }
                hasher.update(part);
                file.write_all(part).await?;
                chunk.advance(n);
            }
        }
        if total == 0 {
            return Err(BlobError::Empty);
        }
        if !checked {
            check_magic(mime, &head)?;
        }
        file.flush().await?;
        file.sync_all().await?;
        Ok((hex(&hasher.finalize()), total))
    }
}

const HEAD_LEN: usize = 16;

/// The family of a supported media type, e.g. `mp4` for `video/mp4`.
pub fn family_of(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "video/mp4" | "audio/mp4" | "audio/x-m4a" | "audio/m4a" => "mp4",
        "video/webm" | "audio/webm" | "video/x-matroska" => "matroska",
        "image/png" => "png",
        "image/jpeg" => "jpeg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/ogg" | "video/ogg" => "ogg",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        _ => return None,
    })
}

/// What the first bytes of a file look like.
pub fn sniff(head: &[u8]) -> &'static str {
    let at = |i: usize, m: &[u8]| head.len() >= i + m.len() && &head[i..i + m.len()] == m;
    if at(4, b"ftyp") {
        "mp4"
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        "matroska"
    } else if at(0, &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        "png"
    } else if at(0, &[0xFF, 0xD8, 0xFF]) {
        "jpeg"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "webp"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "wav"
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        "gif"
    } else if at(0, b"OggS") {
        "ogg"
    } else if at(0, b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        "mp3"
    } else {
        "unknown data"
    }
}

#[doc(hidden)]
pub fn check_magic(mime: &str, head: &[u8]) -> Result<(), BlobError> {
    let want = family_of(mime).ok_or_else(|| BlobError::UnsupportedType(mime.to_string()))?;
    let got = sniff(head);
    if got == want {
        Ok(())
    } else {
        Err(BlobError::TypeMismatch {
            declared: mime.to_string(),
            detected: got,
        })
    }
}

/// A parsed single byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeReq {
    /// No (usable) Range header: the whole file.
    Full,
    /// Bytes `start..=end`.
    Partial(u64, u64),
    /// Not satisfiable (416).
    Unsatisfiable,
}

/// Parses a `Range: bytes=...` header for a file of `len` bytes. Multi-range requests and
/// malformed headers are served whole (RFC 9110 lets a server ignore Range).
pub fn parse_range(header: Option<&str>, len: u64) -> RangeReq {
    let Some(h) = header else {
        return RangeReq::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // suffix: last b bytes
        let Ok(n) = b.parse::<u64>() else {
            return RangeReq::Full;
        };
        if n == 0 || len == 0 {
            return RangeReq::Unsatisfiable;
        }
        let n = n.min(len);
        return RangeReq::Partial(len - n, len - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::Full;
    };
    let end = if b.is_empty() {
        len.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(len.saturating_sub(1)),
            _ => return RangeReq::Full,
        }
    };
    if start >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Partial(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeReq::Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), RangeReq::Partial(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeReq::Partial(5, 9));
        assert_eq!(parse_range(Some("bytes=-4"), 10), RangeReq::Partial(6, 9));
        assert_eq!(
            parse_range(Some("bytes=8-100"), 10),
            RangeReq::Partial(8, 9)
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeReq::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=3-1"), 10), RangeReq::Full);
        assert_eq!(parse_range(Some("items=1-2"), 10), RangeReq::Full);
    }

    #[test]
    fn magic() {
        assert_eq!(sniff(b"\x00\x00\x00\x20ftypisom"), "mp4");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), "png");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "webp");
        assert_eq!(sniff(b"hello"), "unknown data");
        assert!(check_magic("image/png", b"\xff\xd8\xff\xe0").is_err());
        assert!(check_magic("image/jpeg", b"\xff\xd8\xff\xe0").is_ok());
    }

    #[test]
    fn attack_poster_path_only_from_a_checked_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        for bad in [
            "../../secret",
            "..",
            "",
            "A".repeat(64).as_str(),
            "a/b",
            &"a".repeat(63),
        ] {
            assert_eq!(blobs.poster_path(bad), None, "{bad:?}");
        }
        let ok = blobs.poster_path(&"c".repeat(64)).unwrap();
        assert_eq!(
            ok,
            dir.path()
                .join("posters")
                .join(format!("{}.jpg", "c".repeat(64)))
        );
    }

    #[tokio::test]
    async fn limit_leaves_no_file_and_dedupe_works() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(std::iter::repeat_n(7u8, 100));
        let chunks = |v: Vec<u8>| {
            futures_util::stream::iter(
                v.chunks(7)
                    .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            )
        };
        let e = blobs
            .store(chunks(png.clone()), "image/png", 50)
            .await
            .unwrap_err();
        assert!(matches!(e, BlobError::TooLarge { limit: 50 }));
        assert_eq!(blobs.temp_files(), 0);
        let a = blobs
            .store(chunks(png.clone()), "image/png", 1000)
            .await
            .unwrap();
        assert_eq!(a.sha256, playlists::hex::sha256_hex(&png));
        assert!(!a.existed);
        let b = blobs
            .store(chunks(png.clone()), "image/png", 1000)
            .await
            .unwrap();
        assert!(b.existed);
        let e = blobs
            .store(chunks(png), "image/jpeg", 1000)
            .await
            .unwrap_err();
        assert!(matches!(e, BlobError::TypeMismatch { .. }));
        assert_eq!(blobs.temp_files(), 0);
    }
}
