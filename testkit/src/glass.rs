//! Looking at the glass: a private X display (Xvfb), frames grabbed from it while a scenario
//! runs, decoded in Rust so that a test can assert on pixels, and saved as PNG artefacts under
//! `target/glass-artifacts/<test>/` when a test wants them kept (e.g. after a failure).
//!
//! - [`Display::start`] runs `Xvfb -displayfd 1`: the server picks a free display number
//!   itself and writes it to our pipe, so no number is ever guessed. The root window keeps
//!   the old X "weave" pattern (`-retro`), so a frame that shows the bare desktop is easy to
//!   tell from a black one. A program is put on the display through its `DISPLAY`
//!   ([`Display::name`]).
//! - [`Display::grab`] runs `xwd -root -silent` (package `x11-apps`) and decodes the XWD
//!   image ([`Frame::from_xwd`]): no ImageMagick, one small process per grab (a few
//!   milliseconds for a 640×360 display).
//! - [`Grabber`] grabs in a thread every `interval` (≤ 200 ms in the glass tests) until it is
//!   stopped, and returns the [`Recording`]: frames with their monotonic times.
//! - [`encode_png`] writes frames for people to look at (stored deflate blocks: large but
//!   dependency-free).
//!
//! Without Xvfb or xwd, [`Display::start`] prints the testkit's `SKIPPED:` line (or fails
//! under `GATECAST_REQUIRE_EXTERNAL=1`) and returns `None`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::ChildGuard;
use crate::external::{program_path, require_program};

/// How long Xvfb may take to announce its display number.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A private X server (Xvfb) for one test; stopped when dropped.
pub struct Display {
    _server: ChildGuard,
    number: u32,
    width: u32,
    height: u32,
    xwd: PathBuf,
}

impl Display {
    /// Starts Xvfb with one `width`×`height`×24 screen, its log in `dir/xvfb.log`. Returns
    /// `None` after the `SKIPPED:` line when Xvfb or xwd is missing (panics instead under
    /// `GATECAST_REQUIRE_EXTERNAL=1`, and when Xvfb fails to start).
    pub fn start(test: &str, dir: &Path, width: u32, height: u32) -> Option<Display> {
        if !require_program(test, "Xvfb", "xvfb") || !require_program(test, "xwd", "x11-apps") {
            return None;
        }
        let xvfb = program_path("Xvfb").expect("just found");
        let xwd = program_path("xwd").expect("just found");
        let mut cmd = Command::new(xvfb);
        cmd.args([
            "-displayfd",
            "1",
            "-nolisten",
            "tcp",
            "-retro",
            "-screen",
            "0",
        ])
        .arg(format!("{width}x{height}x24"));
        let (server, stdout) =
            ChildGuard::spawn_piped_stdout("Xvfb", &mut cmd, &dir.join("xvfb.log"));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "Xvfb did not announce a display within {START_TIMEOUT:?}: {}",
                server.log_tail(20)
            )
        });
        let number = line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "Xvfb announced {line:?}, not a display number: {}",
                server.log_tail(20)
            )
        });
        Some(Display {
            _server: server,
            number,
            width,
            height,
            xwd,
        })
    }

    /// The `DISPLAY` value, e.g. `:3`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// The screen's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Grabs the whole screen now, keeping every `step`-th pixel in each direction (1 = all).
    pub fn grab(&self, step: u32) -> Result<Frame, String> {
        grab_with(&self.xwd, &self.name(), step)
    }
}

fn grab_with(xwd: &Path, display: &str, step: u32) -> Result<Frame, String> {
    let out = Command::new(xwd)
        .args(["-root", "-silent", "-display", display])
        .output()
        .map_err(|e| format!("cannot run xwd: {e}"))?;
    let at = Instant::now();
    if !out.status.success() {
        return Err(format!(
            "xwd failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut frame = Frame::from_xwd(&out.stdout, step)?;
    frame.at = at;
    Ok(frame)
}

/// One grabbed screen: 8-bit RGB, row by row.
#[derive(Clone)]
pub struct Frame {
    /// When the grab finished (monotonic).
    pub at: Instant,
    /// Width in pixels (after down-sampling).
    pub width: u32,
    /// Height in pixels (after down-sampling).
    pub height: u32,
    /// `width * height * 3` bytes, R, G, B.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

fn be32(b: &[u8], field: usize) -> Result<u32, String> {
    let o = field * 4;
    b.get(o..o + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "XWD header is truncated".to_string())
}

impl Frame {
    /// Decodes an XWD image (ZPixmap, TrueColor, 24 or 32 bits a pixel, as `xwd -root`
    /// writes for a depth-24 screen), keeping every `step`-th pixel in each direction.
    pub fn from_xwd(b: &[u8], step: u32) -> Result<Frame, String> {
        let step = step.max(1);
        let header_size = be32(b, 0)? as usize;
        let (format, width, height) = (be32(b, 2)?, be32(b, 4)?, be32(b, 5)?);
        let (byte_order, bytes_per_line) = (be32(b, 7)?, be32(b, 12)? as usize);
        let masks = (be32(b, 14)?, be32(b, 15)?, be32(b, 16)?);
        let ncolors = be32(b, 19)? as usize;
        if format != 2 || width == 0 || height == 0 {
            return Err(format!(
                "not a ZPixmap XWD image (format {format}, {width}x{height})"
            ));
        }
        // xwd may say 24 bits a pixel for a 32-bit framebuffer: the line length says what is true.
        let bpp = bytes_per_line / width as usize;
        if !(3..=4).contains(&bpp) {
            return Err(format!("XWD with {bpp} bytes a pixel is not supported"));
        }
        let data = b
            .get(header_size + ncolors * 12..)
            .filter(|d| d.len() >= bytes_per_line * height as usize)
            .ok_or("XWD pixel data is truncated")?;
        let shift = |m: u32| m.trailing_zeros();
        let (w, h) = (width.div_ceil(step), height.div_ceil(step));
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in (0..height).step_by(step as usize) {
            let row = &data[y as usize * bytes_per_line..];
            for x in (0..width).step_by(step as usize) {
                let p = &row[x as usize * bpp..x as usize * bpp + bpp];
                let mut v: u32 = 0;
                for (i, byte) in p.iter().enumerate() {
                    let i = if byte_order == 0 { i } else { bpp - 1 - i };
                    v |= u32::from(*byte) << (8 * i);
                }
                for m in [masks.0, masks.1, masks.2] {
                    rgb.push(((v & m) >> shift(m)) as u8);
                }
            }
        }
        Ok(Frame {
            at: Instant::now(),
            width: w,
            height: h,
            rgb,
        })
    }

    /// The pixel at (`x`, `y`).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Iterates over all pixels.
    pub fn pixels(&self) -> impl Iterator<Item = [u8; 3]> + '_ {
        self.rgb.chunks_exact(3).map(|c| [c[0], c[1], c[2]])
    }

    /// The share (0–1) of pixels for which `pred` holds.
    pub fn share(&self, pred: impl Fn([u8; 3]) -> bool) -> f64 {
        let n = (self.width * self.height) as f64;
        self.pixels().filter(|p| pred(*p)).count() as f64 / n
    }

    /// Mean absolute difference per channel (0–255) between this frame and a solid `colour`.
    pub fn mean_diff(&self, colour: [u8; 3]) -> f64 {
        let sum: u64 = self
            .rgb
            .chunks_exact(3)
            .map(|c| {
                (0..3)
                    .map(|i| u64::from(c[i].abs_diff(colour[i])))
                    .sum::<u64>()
            })
            .sum();
        sum as f64 / self.rgb.len().max(1) as f64
    }

    /// The frame as a PNG file.
    pub fn to_png(&self) -> Vec<u8> {
        encode_png(self.width, self.height, &self.rgb)
    }
}

/// Whether two colours are within `tolerance` on every channel.
pub fn near(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    (0..3).all(|i| a[i].abs_diff(b[i]) <= tolerance)
}

/// Grabs a display in a thread at a fixed pace until stopped.
pub struct Grabber {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Recording>,
}

/// What a [`Grabber`] saw.
#[derive(Debug, Default)]
pub struct Recording {
    /// The frames, oldest first.
    pub frames: Vec<Frame>,
    /// Grabs that failed (with why).
    pub errors: Vec<String>,
}

impl Recording {
    /// The longest time between two successive frames (the resolution of every timing
    /// measured from this recording).
    pub fn longest_grab_interval(&self) -> Duration {
        self.frames
            .windows(2)
            .map(|w| w[1].at.duration_since(w[0].at))
            .max()
            .unwrap_or_default()
    }

    /// Writes every frame as `NNNN-<ms since the first>.png` under
    /// `target/glass-artifacts/<test>/frames/` (replacing an older run's) and returns the
    /// directory.
    pub fn save(&self, test: &str) -> PathBuf {
        let dir = artifacts_dir(test).join("frames");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("artefact directory");
        let t0 = self.frames.first().map(|f| f.at);
        for (i, f) in self.frames.iter().enumerate() {
            let ms = t0.map_or(0, |t| f.at.duration_since(t).as_millis());
            let path = dir.join(format!("{i:04}-{ms:06}ms.png"));
            std::fs::write(&path, f.to_png()).expect("writing a frame");
        }
        dir
    }
}

impl Grabber {
    /// Starts grabbing `display` every `interval` (the next grab starts `interval` after the
    /// previous one started, or at once when a grab took longer), keeping every `step`-th pixel.
    pub fn start(display: &Display, interval: Duration, step: u32) -> Grabber {
        let stop = Arc::new(AtomicBool::new(false));
        let (xwd, name) = (display.xwd.clone(), display.name());
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut rec = Recording::default();
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                match grab_with(&xwd, &name, step) {
                    Ok(f) => rec.frames.push(f),
                    Err(e) => rec.errors.push(e),
                }
                if let Some(left) = interval.checked_sub(started.elapsed()) {
                    // Pacing between grabs, not synchronisation.
                    thread::sleep(left);
                }
            }
            rec
        });
        Grabber { stop, thread }
    }

    /// Stops grabbing and returns what was seen.
    pub fn stop(self) -> Recording {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("grabber thread")
    }
}

/// `target/glass-artifacts/<test>/` (`$CARGO_TARGET_DIR` when set).
pub fn artifacts_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("glass-artifacts").join(test)
}

/// A test slide of `width`×`height` RGB pixels: four coloured quadrants and a white bar
/// across the middle, so that a mirrored, shifted or cropped picture of it does not match it.
/// `swapped` gives the same slide with its quadrants exchanged diagonally (a different
/// picture of the same colours, to prove that a comparison tells pictures apart).
pub fn quadrants_rgb(width: u32, height: u32, swapped: bool) -> Vec<u8> {
    const QUAD: [[u8; 3]; 4] = [[210, 40, 40], [40, 170, 60], [40, 60, 200], [230, 200, 40]];
    let (w, h) = (width, height);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let mut q = usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2);
            if swapped {
                q = 3 - q;
            }
            let bar = (h / 2).abs_diff(y) < h / 18 && (w / 4..3 * w / 4).contains(&x);
            out.extend_from_slice(&if bar { [255, 255, 255] } else { QUAD[q] });
        }
    }
    out
}

/// Mean absolute difference of two equally long pixel buffers (0–255, over every channel).
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "pixel buffers of different sizes");
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len().max(1) as f64
}

/// Encodes 8-bit RGB pixels (`width * height * 3` bytes) as a PNG (zlib stored blocks).
pub fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    assert_eq!(rgb.len(), (width * height * 3) as usize, "pixel count");
    let mut raw = Vec::with_capacity(rgb.len() + height as usize);
    for row in rgb.chunks_exact(width as usize * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &z[..]), (b"IEND", &[][..])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in data {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let png = encode_png(2, 1, &[255, 0, 0, 0, 0, 255]);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND's CRC");
    }

    #[test]
    fn decodes_a_32_bit_xwd() {
        // Header fields (25 big-endian u32), no window name, no colours, 2x1 pixels, LSB first.
        let mut h = [0u32; 25];
        h[0] = 100;
        h[2] = 2;
        h[3] = 24;
        (h[4], h[5]) = (2, 1);
        h[11] = 24;
        h[12] = 8;
        (h[14], h[15], h[16]) = (0xFF0000, 0xFF00, 0xFF);
        let mut b: Vec<u8> = h.iter().flat_map(|v| v.to_be_bytes()).collect();
        b.extend_from_slice(&[0x30, 0x20, 0x10, 0xFF, 0x01, 0x02, 0x03, 0xFF]);
        let f = Frame::from_xwd(&b, 1).unwrap();
        assert_eq!((f.width, f.height), (2, 1));
        assert_eq!(f.pixel(0, 0), [0x10, 0x20, 0x30]);
        assert_eq!(f.pixel(1, 0), [0x03, 0x02, 0x01]);
        assert!(Frame::from_xwd(&b[..50], 1).is_err());
    }
}
