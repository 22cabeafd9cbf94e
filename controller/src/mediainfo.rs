//! Duration and picture size of uploaded video and audio, and video poster thumbnails.
//!
//! Read in-process by pure-Rust container parsers, so a controller without ffmpeg still knows
//! how long a video plays (docs/architecture.md, "mediainfo"):
//!
//! * MP4 / MOV / M4A (`video/mp4`, `audio/mp4`, `video/quicktime`): the `mp4` crate (ISO BMFF
//!   boxes; the durations come from `mdhd`/`mvhd`, the size from the sample entry or `tkhd`).
//! * WebM / Matroska (`video/webm`, `video/x-matroska`, `audio/webm`): `matroska-demuxer`
//!   (the segment `Info` duration and the video track's pixel size).
//! * MP3, Ogg (Vorbis, Opus, FLAC) and WAV: `symphonia`'s demuxers (frame count and sample
//!   rate; an MP3 without a Xing/Info header is measured by walking its frame headers).
//!
//! Untrusted bytes: [`probe`] runs the parser on a blocking thread with a time budget and
//! catches panics, so a malformed or hostile file yields a named [`ProbeError`] (the upload
//! is kept with "duration unknown") and the process keeps serving. Poster thumbnails need
//! `ffmpeg` ([`poster`]); without it the console shows an icon.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What was read from a media file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaInfo {
    /// Playing time in milliseconds, when the container says.
    pub duration_ms: Option<u64>,
    /// Picture width in pixels (video only).
    pub width: Option<u32>,
    /// Picture height in pixels (video only).
    pub height: Option<u32>,
}

/// Why the metadata of a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The media type has no reader here (images have no duration).
    #[error("no metadata reader for media type {0:?}")]
    Unsupported(String),
    /// The file could not be opened or read.
    #[error("reading the media file failed: {0}")]
    Io(#[from] std::io::Error),
    /// The container is damaged, truncated or not what its type says.
    #[error("the {container} container is malformed: {reason}")]
    Malformed {
        /// MP4, WebM or audio.
        container: &'static str,
        /// The parser's words.
        reason: String,
    },
    /// The parser panicked (a bug in it, caught; the process goes on).
    #[error("the {0} reader failed on this file")]
    Crashed(&'static str),
    /// The parser did not finish within its budget.
    #[error("reading the metadata took longer than {0:?}")]
    TimedOut(Duration),
}

/// The longest a plausible duration can be (a week): longer values are treated as unknown.
const MAX_DURATION_MS: u64 = 7 * 24 * 3_600_000;
/// The largest plausible picture side.
const MAX_SIDE: u32 = 16_384;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Mp4,
    Matroska,
    Audio(&'static str),
}

fn container_of(mime: &str) -> Option<Container> {
    Some(match mime {
        "video/mp4" | "audio/mp4" | "video/quicktime" | "audio/x-m4a" => Container::Mp4,
        "video/webm" | "video/x-matroska" | "audio/webm" => Container::Matroska,
        "audio/mpeg" | "audio/mp3" => Container::Audio("mp3"),
        "audio/ogg" | "video/ogg" | "audio/opus" => Container::Audio("ogg"),
        "audio/wav" | "audio/x-wav" | "audio/wave" => Container::Audio("wav"),
        _ => return None,
    })
}

/// Whether [`probe`] has a reader for `mime`.
pub fn readable(mime: &str) -> bool {
    container_of(mime).is_some()
}

/// Reads `path` (of media type `mime`) on a blocking thread, giving up after `budget`.
pub async fn probe(path: PathBuf, mime: &str, budget: Duration) -> Result<MediaInfo, ProbeError> {
    let c = container_of(mime).ok_or_else(|| ProbeError::Unsupported(mime.to_string()))?;
    let task = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(|| read_path(&path, c)).unwrap_or(Err(ProbeError::Crashed(
            match c {
                Container::Mp4 => "MP4",
                Container::Matroska => "WebM",
                Container::Audio(_) => "audio",
            },
        )))
    });
    match tokio::time::timeout(budget, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(ProbeError::Crashed("metadata")),
        Err(_) => Err(ProbeError::TimedOut(budget)),
    }
}

/// Reads the metadata of `bytes` of media type `mime` on the calling thread (tests, tools).
pub fn probe_bytes(bytes: &[u8], mime: &str) -> Result<MediaInfo, ProbeError> {
    let c = container_of(mime).ok_or_else(|| ProbeError::Unsupported(mime.to_string()))?;
    let cursor = std::io::Cursor::new(bytes.to_vec());
    let len = bytes.len() as u64;
    std::panic::catch_unwind(move || read_any(cursor, len, c).map(sane))
        .unwrap_or(Err(ProbeError::Crashed("metadata")))
}

fn read_path(path: &Path, c: Container) -> Result<MediaInfo, ProbeError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    read_any(BufReader::new(file), len, c).map(sane)
}

fn read_any<R: Read + Seek + Send + Sync + 'static>(
    r: R,
    len: u64,
    c: Container,
) -> Result<MediaInfo, ProbeError> {
    match c {
        Container::Mp4 => read_mp4(r, len),
        Container::Matroska => read_matroska(r),
        Container::Audio(ext) => read_audio(r, ext),
    }
}

/// Drops values no real file has (a hostile header may claim anything).
fn sane(mut m: MediaInfo) -> MediaInfo {
    if m.duration_ms.is_some_and(|d| d == 0 || d > MAX_DURATION_MS) {
        m.duration_ms = None;
    }
    if m.width.is_some_and(|w| w == 0 || w > MAX_SIDE)
        || m.height.is_some_and(|h| h == 0 || h > MAX_SIDE)
    {
        m.width = None;
        m.height = None;
    }
    m
}

fn ms_of(units: u64, per_second: u64) -> Option<u64> {
    if per_second == 0 {
        return None;
    }
    u64::try_from(u128::from(units) * 1000 / u128::from(per_second)).ok()
}

fn read_mp4<R: Read + Seek>(r: R, len: u64) -> Result<MediaInfo, ProbeError> {
    let bad = |e: mp4::Error| ProbeError::Malformed {
        container: "MP4",
        reason: e.to_string(),
    };
    let reader = mp4::Mp4Reader::read_header(r, len).map_err(bad)?;
    let mut info = MediaInfo::default();
    let mut tracks: Vec<_> = reader.tracks().values().collect();
    tracks.sort_by_key(|t| t.track_id());
    for t in &tracks {
        let mdhd = &t.trak.mdia.mdhd;
        let d = ms_of(mdhd.duration, u64::from(mdhd.timescale));
        let is_video = matches!(t.track_type(), Ok(mp4::TrackType::Video));
        if is_video && info.width.is_none() {
            let (w, h) = (u32::from(t.width()), u32::from(t.height()));
            if w > 0 && h > 0 {
                info.width = Some(w);
                info.height = Some(h);
            }
        }
        if let Some(d) = d.filter(|d| *d > 0) {
            info.duration_ms = Some(info.duration_ms.map_or(d, |x: u64| x.max(d)));
        }
    }
    if info.duration_ms.is_none() {
        let moov = ms_of(
            reader.moov.mvhd.duration,
            u64::from(reader.moov.mvhd.timescale),
        );
        info.duration_ms = moov.filter(|d| *d > 0);
    }
    Ok(info)
}

fn read_matroska<R: Read + Seek>(r: R) -> Result<MediaInfo, ProbeError> {
    let mkv = matroska_demuxer::MatroskaFile::open(r).map_err(|e| ProbeError::Malformed {
        container: "WebM",
        reason: e.to_string(),
    })?;
    let mut info = MediaInfo::default();
    let scale = mkv.info().timestamp_scale().get() as f64; // nanoseconds per unit
    if let Some(d) = mkv.info().duration() {
        let ms = d * scale / 1e6;
        if ms.is_finite() && ms >= 1.0 && ms < MAX_DURATION_MS as f64 {
            info.duration_ms = Some(ms.round() as u64);
        }
    }
    if let Some(v) = mkv.tracks().iter().find_map(|t| t.video()) {
        info.width = u32::try_from(v.pixel_width().get()).ok();
        info.height = u32::try_from(v.pixel_height().get()).ok();
    }
    Ok(info)
}

/// At most this many packets are walked to measure an audio file without a frame count.
const MAX_PACKETS: u64 = 2_000_000;

fn read_audio<R: Read + Seek + Send + Sync + 'static>(
    r: R,
    ext: &str,
) -> Result<MediaInfo, ProbeError> {
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let bad = |e: symphonia::core::errors::Error| ProbeError::Malformed {
        container: "audio",
        reason: e.to_string(),
    };
    let mss = MediaSourceStream::new(Box::new(SeekSource(r)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(bad)?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| ProbeError::Malformed {
            container: "audio",
            reason: "no audio track".into(),
        })?;
    let (id, params) = (track.id, track.codec_params.clone());
    let rate = params
        .sample_rate
        .map(u64::from)
        .or_else(|| params.time_base.map(|tb| u64::from(tb.denom)));
    let frames = match params.n_frames {
        Some(n) if n > 0 => Some(n),
        _ => {
            // No frame count in the headers: walk the packets (headers only, nothing decoded).
            let mut total = 0u64;
            let mut packets = 0u64;
            while let Ok(p) = format.next_packet() {
                if p.track_id() == id {
                    total = total.saturating_add(p.dur);
                }
                packets += 1;
                if packets >= MAX_PACKETS {
                    break;
                }
            }
            (total > 0).then_some(total)
        }
    };
    let duration_ms = match (frames, params.time_base) {
        (Some(n), Some(tb)) if tb.denom > 0 => {
            u64::try_from(u128::from(n) * u128::from(tb.numer) * 1000 / u128::from(tb.denom)).ok()
        }
        (Some(n), _) => rate.and_then(|r| ms_of(n, r)),
        _ => None,
    };
    Ok(MediaInfo {
        duration_ms,
        width: None,
        height: None,
    })
}

/// A seekable reader as symphonia's media source.
struct SeekSource<R>(R);

impl<R: Read> Read for SeekSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Seek> Seek for SeekSource<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.0.seek(pos)
    }
}

impl<R: Read + Seek + Send + Sync> symphonia::core::io::MediaSource for SeekSource<R> {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}

/// Writes a poster thumbnail (JPEG, 320 px wide) of the video at `src` to `dest` with
/// `ffmpeg`, from one second in (or the first frame of a shorter video). `Ok(false)` when
/// ffmpeg is not installed. `src` and `dest` are paths the caller built from a checked hash.
pub async fn poster(src: &Path, dest: &Path, budget: Duration) -> std::io::Result<bool> {
    let Some(ffmpeg) = gatecast_support::program::find("ffmpeg") else {
        return Ok(false);
    };
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = dest.with_extension("tmp.jpg");
    let run = |seek: &'static str| {
        let mut cmd = tokio::process::Command::new(&ffmpeg);
        cmd.args(["-nostdin", "-loglevel", "error", "-y", "-ss", seek, "-i"])
            .arg(src)
            .args(["-frames:v", "1", "-vf", "scale=320:-2", "-f", "image2"])
            .arg(&tmp)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    };
    for seek in ["1", "0"] {
        let status = tokio::time::timeout(budget, run(seek).status()).await;
        let ok = matches!(status, Ok(Ok(s)) if s.success());
        if ok && tokio::fs::metadata(&tmp).await.is_ok_and(|m| m.len() > 0) {
            tokio::fs::rename(&tmp, dest).await?;
            return Ok(true);
        }
    }
    let _ = tokio::fs::remove_file(&tmp).await;
    Err(std::io::Error::other(
        "ffmpeg could not draw a frame of this video",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_named() {
        assert!(matches!(
            probe_bytes(b"\x89PNG", "image/png"),
            Err(ProbeError::Unsupported(_))
        ));
    }

    /// Every prefix and many byte flips of small valid-looking headers: an error or a
    /// result, never a panic or a hang.
    #[test]
    fn truncated_and_damaged_headers_never_panic() {
        let mut mp4 = Vec::new();
        mp4.extend_from_slice(&[0, 0, 0, 24]);
        mp4.extend_from_slice(b"ftypisom\0\0\0\x01isomavc1");
        mp4.extend_from_slice(&[0, 0, 0, 16]);
        mp4.extend_from_slice(b"moov");
        mp4.extend_from_slice(&[0, 0, 0, 8]);
        mp4.extend_from_slice(b"mvhd");
        let webm = [
            0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01, 0x42,
            0x82, 0x84, b'w', b'e', b'b', b'm', 0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff,
        ];
        let mp3 = [
            0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, b'X', b'i', b'n', b'g', 0, 0, 0, 1,
        ];
        for (bytes, mime) in [
            (&mp4[..], "video/mp4"),
            (&webm[..], "video/webm"),
            (&mp3[..], "audio/mpeg"),
            (b"OggS\0\x02\0\0\0\0\0\0\0\0" as &[u8], "audio/ogg"),
            (b"RIFF\xff\xff\xff\xffWAVEfmt " as &[u8], "audio/wav"),
        ] {
            for n in 0..=bytes.len() {
                let _ = std::panic::catch_unwind(|| probe_bytes(&bytes[..n], mime))
                    .unwrap_or_else(|_| panic!("{mime}: a {n}-byte prefix panicked"));
            }
            for i in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut b = bytes.to_vec();
                    b[i] ^= flip;
                    let _ = std::panic::catch_unwind(|| probe_bytes(&b, mime))
                        .unwrap_or_else(|_| panic!("{mime}: byte {i} ^ {flip:#x} panicked"));
                }
            }
        }
    }
}
