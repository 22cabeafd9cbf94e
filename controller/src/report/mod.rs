//! The period report (`GET /api/v1/reports/period`, `docs/auditing.md`, "The period report").
//!
//! A report is computed from an export bundle, never from the database directly, so that an
//! inspector recomputes every figure from the same signed evidence with `gatecast-audit report`:
//! [`build`] exports the bundle for the UTC span that holds the asked gate days
//! (`playlists::report::ReportRequest::utc_span`) into `reports/<sha256>.json` in the data
//! directory (streamed, hashed on the way), then streams that file through
//! [`playlists::report::read_bundle`]. The documents ([`html`], [`xlsx`], [`pdf`]) render the
//! [`Figures`] with the `[report]` settings of the configuration ([`ReportSettings`]).

pub mod html;
pub mod pdf;
pub mod record;
pub mod tables;
pub mod xlsx;

use std::io::Write;
use std::path::{Path, PathBuf};

use playlists::keys::SecretKey;
use playlists::report::{read_bundle, BundleError, Figures, ReportRequest};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::export::{prepare, ExportError, ExportRequest};
use crate::store::Store;

/// The `[report]` section of the controller configuration: what the documents say about who
/// reports (every key optional).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// The governing body, first line top-left (`agency_parent`).
    pub agency_parent: String,
    /// The reporting agency, second line top-left, bold (`agency`).
    pub agency: String,
    /// The document number (`number`), e.g. `"15/BC-SVHTTDL"`.
    pub number: String,
    /// The place in the date line (`place`).
    pub place: String,
    /// The signer's title (`signer_title`).
    pub signer_title: String,
    /// The signer's name (`signer_name`).
    pub signer_name: String,
    /// The recipients under "Nơi nhận" (`recipients`).
    pub recipients: Vec<String>,
    /// Directory of the Noto Serif fonts (`font_dir`): `NotoSerif-Regular.ttf` and
    /// `NotoSerif-Bold.ttf` (Debian package fonts-noto-core).
    pub font_dir: PathBuf,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            agency_parent: "UBND TỈNH LÀO CAI".into(),
            agency: "SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH".into(),
            number: "…/BC-SVHTTDL".into(),
            place: "Lào Cai".into(),
            signer_title: "GIÁM ĐỐC".into(),
            signer_name: String::new(),
            recipients: vec![
                "UBND tỉnh (b/c);".into(),
                "Sở Ngoại vụ;".into(),
                "Lưu: VT.".into(),
            ],
            font_dir: PathBuf::from("/usr/share/fonts/truetype/noto"),
        }
    }
}

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The export behind the report failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The bundle could not be read back.
    #[error("reading the report's bundle: {0}")]
    Bundle(#[from] BundleError),
    /// Writing the bundle file failed.
    #[error("writing the report's bundle {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A font of the PDF is missing or unreadable.
    #[error("font {path} cannot be read ({source}): install the Debian package fonts-noto-core or set [report] font_dir")]
    Font {
        /// The font file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The PDF or XLSX writer failed.
    #[error("rendering the {format} report: {message}")]
    Render {
        /// `pdf` or `xlsx`.
        format: &'static str,
        /// What failed.
        message: String,
    },
}

/// The directory of the report bundles.
pub fn bundles_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("reports")
}

/// The file of the bundle with this SHA-256, if `sha256` is 64 lowercase hex digits.
pub fn bundle_path(data_dir: &Path, sha256: &str) -> Option<PathBuf> {
    playlists::manifest::is_valid_sha256_hex(sha256)
        .then(|| bundles_dir(data_dir).join(format!("{sha256}.json")))
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Export the bundle of `req` into the data directory and compute the figures from it.
pub async fn build(
    store: &Store,
    key: &SecretKey,
    data_dir: &Path,
    req: &ReportRequest,
) -> Result<Figures, ReportError> {
    let (from, to) = req.utc_span();
    let screens = match &req.gates {
        None => None,
        Some(gates) => Some(
            store
                .screens()
                .map_err(ExportError::from)?
                .into_iter()
                .filter(|s| gates.contains(&s.gate))
                .map(|s| s.id)
                .collect(),
        ),
    };
    let prepared = prepare(
        store,
        key,
        &ExportRequest {
            from,
            to,
            screens,
            since_size: None,
        },
    )
    .await?;
    let dir = bundles_dir(data_dir);
    let store = store.clone();
    let req = req.clone();
    tokio::task::spawn_blocking(move || -> Result<Figures, ReportError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ReportError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
        let sha = {
            let mut w = HashingWriter {
                inner: std::io::BufWriter::new(tmp.as_file()),
                hash: Sha256::new(),
            };
            prepared.write(&store, &mut w)?;
            w.flush().map_err(io(tmp.path()))?;
            playlists::hex::encode(&w.hash.finalize())
        };
        let path = dir.join(format!("{sha}.json"));
        tmp.as_file().sync_all().map_err(io(&path))?;
        tmp.persist(&path).map_err(|e| ReportError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let figures = read_bundle(std::io::BufReader::new(file), req)?;
        debug_assert_eq!(figures.evidence.bundle_sha256, sha);
        Ok(figures)
    })
    .await
    .map_err(|e| ReportError::Render {
        format: "json",
        message: format!("the report task failed: {e}"),
    })?
}

/// The figures of `req` from a bundle already in the data directory (one of an earlier
/// report, named by its SHA-256): the JSON, PDF and XLSX of one report then hold the same
/// figures. `Ok(None)` when there is no such bundle.
pub async fn from_bundle(
    data_dir: &Path,
    sha256: &str,
    req: &ReportRequest,
) -> Result<Option<Figures>, ReportError> {
    let Some(path) = bundle_path(data_dir, sha256) else {
        return Ok(None);
    };
    let req = req.clone();
    tokio::task::spawn_blocking(move || {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ReportError::Io { path, source }),
        };
        Ok(Some(read_bundle(std::io::BufReader::new(file), req)?))
    })
    .await
    .map_err(|e| ReportError::Render {
        format: "json",
        message: format!("the report task failed: {e}"),
    })?
}

/// Vietnamese date of an ISO `YYYY-MM-DD`: `dd/mm/yyyy`.
pub fn vn_date(iso: &str) -> String {
    match iso.get(0..10).map(|d| d.split('-').collect::<Vec<_>>()) {
        Some(p) if p.len() == 3 => format!("{}/{}/{}", p[2], p[1], p[0]),
        _ => iso.to_string(),
    }
}

/// Hours with one decimal, Vietnamese decimal comma.
pub fn hours(ms: u64) -> String {
    format!("{:.1}", ms as f64 / 3_600_000.0).replace('.', ",")
}

/// Basis points as a percentage with one decimal, Vietnamese decimal comma.
pub fn percent(bp: u64) -> String {
    format!("{:.1}%", bp as f64 / 100.0).replace('.', ",")
}

/// The report's title lines.
pub const TITLE: &str = "BÁO CÁO";
/// The report's subtitle.
pub const SUBTITLE: &str =
    "Kết quả thông tin đối ngoại trên hệ thống màn hình điện tử tại các cửa khẩu";
