//! Signed screenshots (`docs/protocol.md` §18): what the glass shows, captured from mpv,
//! scaled and compressed to a JPEG of at most 1280 px and 150 KiB, signed with the device key
//! and uploaded to the controller.
//!
//! One task ([`spawn`]) owns it all, beside playback: a capture never waits on the scheduler
//! and an upload that fails never holds up a play. It takes a screenshot
//! - on request: a signed command from the controller on the screen's non-retained
//!   `screenshot` topic, accepted once by a [`RequestGuard`] (expired, replayed or foreign
//!   commands are refused with the guard's named error, in the log);
//! - periodically, every `screenshot_interval_s` (0 = never).
//!
//! Capture: a separate IPC connection to the mpv that has the window (the main one; a standby
//! runs with `--force-window=no`) asks for `screenshot-to-file <png> window`, i.e. the window
//! as shown, the alert overlay included. The null backend shows nothing and cannot capture:
//! it says so in the log and no image is made up.
//!
//! Upload: `POST {controller}/api/v1/screens/{id}/screenshots`, the JPEG as the body and the
//! record's envelope (base64) in the `X-Gatecast-Screenshot` header. A network failure or a
//! 5xx/408/429 answer is retried with [`Backoff`]; another refusal is final (a retry would be
//! refused the same way). A newer screenshot replaces one still waiting to be uploaded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use gatecast_support::backoff::Backoff;
use jiff::Timestamp;
use playlists::keys::{KeySet, SecretKey};
use playlists::screenshot::{
    ImageFormat, RequestGuard, ScreenshotRecord, MAX_HEIGHT, MAX_IMAGE_BYTES, MAX_WIDTH,
};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backend::mpv::MpvIpc;

/// The header carrying the record's envelope (base64 of its exact bytes).
pub const RECORD_HEADER: &str = "x-gatecast-screenshot";
/// JPEG qualities tried in turn until the image fits [`MAX_IMAGE_BYTES`].
const QUALITIES: [u8; 6] = [85, 75, 65, 55, 45, 35];
/// First wait before a failed upload is tried again (doubles up to [`RETRY_MAX`]).
const RETRY_MIN: Duration = Duration::from_secs(2);
/// Longest wait between upload attempts.
const RETRY_MAX: Duration = Duration::from_secs(120);
/// How long one upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long mpv may take to write a screenshot.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a screenshot could not be taken or sent.
#[derive(Debug, thiserror::Error)]
pub enum ShotError {
    /// The backend cannot capture (the null backend shows nothing).
    #[error(
        "the {0} backend shows nothing, so there is nothing to capture; no screenshot is made up"
    )]
    Unsupported(&'static str),
    /// No mpv with a window answered.
    #[error("no running mpv with a window to capture (tried {0})")]
    NoWindow(String),
    /// mpv refused or failed the screenshot.
    #[error("mpv could not take the screenshot: {0}")]
    Mpv(String),
    /// The captured file could not be read or decoded.
    #[error("the captured image {path} could not be read: {message}")]
    Read {
        /// The file mpv wrote.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The captured image could not be decoded or encoded.
    #[error("the captured image could not be converted to JPEG: {0}")]
    Encode(String),
    /// No JPEG of the allowed size could be made.
    #[error("the screenshot does not fit in {MAX_IMAGE_BYTES} bytes even at {width}x{height} px and quality 35")]
    TooLarge {
        /// Last width tried.
        width: u32,
        /// Last height tried.
        height: u32,
    },
    /// The record could not be signed (a field out of range).
    #[error("the screenshot record could not be signed: {0}")]
    Sign(#[from] playlists::screenshot::ScreenshotError),
}

/// How screenshots are captured.
#[derive(Debug, Clone)]
pub enum Capture {
    /// Ask the mpv behind one of these IPC sockets (the one with the window).
    Mpv {
        /// The backend's socket paths (main and standby).
        sockets: Vec<PathBuf>,
        /// Where the captured PNG is written (then removed).
        scratch: PathBuf,
    },
    /// The null backend: nothing is shown, nothing can be captured.
    Null,
}

impl Capture {
    /// Capture from the mpv backend whose data directory is `data_dir`: its main socket
    /// `mpv.sock` and its standby's `mpv.sock2` (the names the agent's playback gives it).
    pub fn mpv(data_dir: &Path) -> Capture {
        let main = data_dir.join("mpv.sock");
        let mut standby = main.clone().into_os_string();
        standby.push("2");
        Capture::Mpv {
            sockets: vec![main, PathBuf::from(standby)],
            scratch: scratch_path(data_dir),
        }
    }
}

/// A JPEG ready to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The JPEG bytes.
    pub bytes: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Everything the screenshot task needs.
pub struct ShotSetup {
    /// This screen's id.
    pub screen: String,
    /// The device key that signs records.
    pub device_key: SecretKey,
    /// The controller's HTTP base URL (no trailing slash).
    pub controller_base: String,
    /// Period of automatic screenshots (`None` = only on request).
    pub interval: Option<Duration>,
    /// How to capture.
    pub capture: Capture,
    /// The trusted controller keys (commands are verified under them).
    pub keys: watch::Receiver<KeySet>,
    /// The TLS trust of an `https://` controller: the media mirrors' (the pinned controller
    /// key or a valid chain, `crate::tls`).
    pub tls: std::sync::Arc<gatecast_tls::rustls::ClientConfig>,
}

/// Decodes `image` (PNG or JPEG), scales it to at most [`MAX_WIDTH`] x [`MAX_HEIGHT`] keeping
/// its aspect ratio, and encodes a JPEG of at most [`MAX_IMAGE_BYTES`], lowering the quality
/// (then the size) until it fits.
pub fn encode_jpeg(image: &[u8]) -> Result<Encoded, ShotError> {
    let img = image::load_from_memory(image).map_err(|e| ShotError::Encode(e.to_string()))?;
    let mut img = img.to_rgb8();
    let (w, h) = img.dimensions();
    let scale = f64::min(
        1.0,
        f64::min(
            f64::from(MAX_WIDTH) / f64::from(w),
            f64::from(MAX_HEIGHT) / f64::from(h),
        ),
    );
    if scale < 1.0 {
        let (nw, nh) = scaled(w, h, scale);
        img = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    }
    loop {
        let (w, h) = img.dimensions();
        for q in QUALITIES {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
                .encode_image(&img)
                .map_err(|e| ShotError::Encode(e.to_string()))?;
            if out.len() as u64 <= MAX_IMAGE_BYTES {
                return Ok(Encoded {
                    bytes: out,
                    width: w,
                    height: h,
                });
            }
        }
        if w <= 160 {
            return Err(ShotError::TooLarge {
                width: w,
                height: h,
            });
        }
        let (nw, nh) = scaled(w, h, 0.5);
        img = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    }
}

fn scaled(w: u32, h: u32, scale: f64) -> (u32, u32) {
    let f = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    (f(w), f(h))
}

/// Takes a screenshot of what mpv shows as PNG bytes.
pub async fn capture(c: &Capture) -> Result<Vec<u8>, ShotError> {
    let (sockets, scratch) = match c {
        Capture::Null => return Err(ShotError::Unsupported("null")),
        Capture::Mpv { sockets, scratch } => (sockets, scratch),
    };
    let mut tried = Vec::new();
    for sock in sockets {
        tried.push(sock.display().to_string());
        let Ok((mut ipc, _events)) = MpvIpc::connect(sock).await else {
            continue;
        };
        let window = ipc
            .command(vec![json!("get_property"), json!("force-window")])
            .await
            .ok();
        let has_window = matches!(&window, Some(serde_json::Value::Bool(true)))
            || matches!(
                window.as_ref().and_then(|v| v.as_str()),
                Some("yes" | "immediate")
            );
        if !has_window {
            continue;
        }
        let _ = std::fs::remove_file(scratch);
        let cmd = vec![
            json!("screenshot-to-file"),
            json!(scratch.to_string_lossy()),
            json!("window"),
        ];
        tokio::time::timeout(CAPTURE_TIMEOUT, ipc.command(cmd))
            .await
            .map_err(|_| ShotError::Mpv(format!("no answer within {CAPTURE_TIMEOUT:?}")))?
            .map_err(|e| ShotError::Mpv(e.to_string()))?;
        let bytes = tokio::fs::read(scratch).await.map_err(|e| ShotError::Read {
            path: scratch.clone(),
            message: e.to_string(),
        });
        let _ = std::fs::remove_file(scratch);
        return bytes;
    }
    Err(ShotError::NoWindow(tried.join(", ")))
}

/// A signed screenshot waiting to be uploaded.
struct Shot {
    image: Vec<u8>,
    envelope: Vec<u8>,
    record: ScreenshotRecord,
    backoff: Backoff,
    next_try: Instant,
}

/// The outcome of one upload attempt.
enum Sent {
    Done,
    Retry(String),
    Refused(String),
}

/// Starts the screenshot task; it ends once `stop` turns true.
pub fn spawn(
    setup: ShotSetup,
    commands: mpsc::Receiver<Bytes>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(run(setup, commands, stop))
}

async fn run(
    setup: ShotSetup,
    mut commands: mpsc::Receiver<Bytes>,
    mut stop: watch::Receiver<bool>,
) {
    let http = reqwest::Client::builder()
        .timeout(UPLOAD_TIMEOUT)
        .use_preconfigured_tls(setup.tls.as_ref().clone())
        .build()
        .unwrap_or_default();
    let mut guard = RequestGuard::new();
    let mut ticker = setup.interval.map(|d| {
        let mut t = tokio::time::interval_at(Instant::now() + d, d);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut pending: Option<Shot> = None;
    if let Capture::Null = setup.capture {
        tracing::info!("screenshots off: the null backend shows nothing to capture");
    }
    loop {
        let retry_at = pending.as_ref().map(|p| p.next_try);
        let request = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                let keys = setup.keys.borrow().clone();
                match guard.accept(&cmd, &keys, &setup.screen, Timestamp::now()) {
                    Ok(r) => {
                        tracing::info!(request = %r.id, "screenshot requested by the controller");
                        Some(Some(r.id))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "screenshot command refused");
                        None
                    }
                }
            }
            _ = async { ticker.as_mut().expect("guarded").tick().await }, if ticker.is_some() => Some(None),
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => None,
        };
        if let Some(request) = request {
            match take(&setup, request.clone()).await {
                Ok(shot) => pending = Some(shot),
                Err(e) => tracing::warn!(error = %e, request = ?request, "screenshot not taken"),
            }
        }
        let Some(shot) = pending.as_mut() else {
            continue;
        };
        if shot.next_try > Instant::now() {
            continue;
        }
        match upload(&http, &setup, shot).await {
            Sent::Done => {
                tracing::info!(sha256 = %shot.record.sha256, bytes = shot.record.bytes, request = ?shot.record.request, "screenshot uploaded");
                pending = None;
            }
            Sent::Refused(why) => {
                tracing::error!(error = %why, "the controller refused the screenshot; it is dropped");
                pending = None;
            }
            Sent::Retry(why) => {
                let delay = shot.backoff.next_delay();
                tracing::warn!(error = %why, retry_in = ?delay, "screenshot upload failed; trying again");
                shot.next_try = Instant::now() + delay;
            }
        }
    }
}

/// Captures, encodes and signs one screenshot.
async fn take(setup: &ShotSetup, request: Option<String>) -> Result<Shot, ShotError> {
    let png = capture(&setup.capture).await?;
    let taken_at = Timestamp::now();
    let encoded = tokio::task::spawn_blocking(move || encode_jpeg(&png))
        .await
        .map_err(|e| ShotError::Encode(e.to_string()))??;
    let record = ScreenshotRecord {
        screen: setup.screen.clone(),
        sha256: playlists::hex::sha256_hex(&encoded.bytes),
        taken_at,
        width: encoded.width,
        height: encoded.height,
        bytes: encoded.bytes.len() as u64,
        format: ImageFormat::Jpeg,
        request,
    };
    let envelope = record.sign(&setup.device_key)?.to_json();
    Ok(Shot {
        image: encoded.bytes,
        envelope,
        record,
        backoff: Backoff::new(RETRY_MIN, RETRY_MAX),
        next_try: Instant::now(),
    })
}

async fn upload(http: &reqwest::Client, setup: &ShotSetup, shot: &Shot) -> Sent {
    let url = format!(
        "{}/api/v1/screens/{}/screenshots",
        setup.controller_base, setup.screen
    );
    let resp = http
        .post(&url)
        .header("content-type", ImageFormat::Jpeg.mime())
        .header(
            RECORD_HEADER,
            base64::engine::general_purpose::STANDARD.encode(&shot.envelope),
        )
        .body(shot.image.clone())
        .send()
        .await;
    match resp {
        Err(e) => Sent::Retry(format!("POST {url}: {e}")),
        Ok(r) if r.status().is_success() => Sent::Done,
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let why = format!(
                "POST {url}: {status}: {}",
                body.chars().take(300).collect::<String>()
            );
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Sent::Retry(why)
            } else {
                Sent::Refused(why)
            }
        }
    }
}

/// The scratch file mpv writes a screenshot to, in the data directory.
pub fn scratch_path(data_dir: &Path) -> PathBuf {
    data_dir.join("screenshot.png")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, noisy: bool) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if noisy {
                // Pseudo-random noise compresses badly: the quality ladder must step down.
                let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
                image::Rgb([v, v.rotate_left(3), v.rotate_left(5)])
            } else {
                image::Rgb([200, 30, 30])
            }
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_full_hd_frame_is_scaled_to_1280_wide() {
        let e = encode_jpeg(&png(1920, 1080, false)).unwrap();
        assert_eq!((e.width, e.height), (1280, 720));
        assert!(e.bytes.len() as u64 <= MAX_IMAGE_BYTES);
        assert_eq!(&e.bytes[..2], &[0xff, 0xd8], "a JPEG");
        let back = image::load_from_memory(&e.bytes).unwrap().to_rgb8();
        let p = back.get_pixel(640, 360);
        assert!(p[0] > 180 && p[1] < 60 && p[2] < 60, "colour kept: {p:?}");
    }

    #[test]
    fn noise_still_fits_in_150_kib() {
        let e = encode_jpeg(&png(1920, 1080, true)).unwrap();
        assert!(e.bytes.len() as u64 <= MAX_IMAGE_BYTES, "{}", e.bytes.len());
        assert!(e.width <= MAX_WIDTH && e.height <= MAX_HEIGHT);
    }

    #[tokio::test]
    async fn the_null_backend_says_it_cannot_capture() {
        let err = capture(&Capture::Null).await.unwrap_err();
        assert!(
            err.to_string().contains("null backend shows nothing"),
            "{err}"
        );
    }
}
