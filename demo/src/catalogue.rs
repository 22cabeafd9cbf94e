//! The sample content: `content.toml` and its media, embedded in the binary, and the
//! screens, playlists and schedules the demo makes of them.

use super::*;

/// The catalogue, embedded.
pub(crate) const CONTENT_TOML: &str = include_str!("../content.toml");

/// Every media file of the catalogue, embedded (≈ 220 KB in all).
pub(crate) const FILES: &[(&str, &[u8])] = &[
    (
        "media/welcome-vi.png",
        include_bytes!("../media/welcome-vi.png"),
    ),
    (
        "media/welcome-en.png",
        include_bytes!("../media/welcome-en.png"),
    ),
    (
        "media/welcome-zh-hans.png",
        include_bytes!("../media/welcome-zh-hans.png"),
    ),
    (
        "media/welcome-hmn.png",
        include_bytes!("../media/welcome-hmn.png"),
    ),
    (
        "media/procedures-vi.png",
        include_bytes!("../media/procedures-vi.png"),
    ),
    (
        "media/national-day-vi.png",
        include_bytes!("../media/national-day-vi.png"),
    ),
    (
        "media/resistance-day-vi.png",
        include_bytes!("../media/resistance-day-vi.png"),
    ),
    (
        "media/tourism-en.png",
        include_bytes!("../media/tourism-en.png"),
    ),
    (
        "media/friendship-zh-hans.png",
        include_bytes!("../media/friendship-zh-hans.png"),
    ),
    (
        "media/emergency-vi.png",
        include_bytes!("../media/emergency-vi.png"),
    ),
    (
        "media/laocai-title.mp4",
        include_bytes!("../media/laocai-title.mp4"),
    ),
    (
        "media/greeting-vi.ogg",
        include_bytes!("../media/greeting-vi.ogg"),
    ),
];

/// One `[[media]]` entry of `content.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueMedia {
    /// Path relative to `content.toml`.
    pub file: String,
    /// `video`, `slide` or `clip`.
    pub kind: String,
    /// Content-Type.
    pub mime: String,
    /// BCP 47 language.
    pub lang: String,
    /// Title in its own language.
    pub title: String,
    /// Natural duration in ms.
    pub duration_ms: u64,
    /// Message name: entries with the same message are language variants of one message.
    pub message: String,
    /// Size of the file.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Campaign start (civil date, inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// Campaign end (civil date, inclusive).
    #[serde(default)]
    pub until: Option<String>,
    /// An emergency notice.
    #[serde(default)]
    pub alert: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogueFile {
    version: u32,
    media: Vec<CatalogueMedia>,
}

/// The sample content: catalogue entries with their embedded bytes.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// Entries with their bytes, in catalogue order.
    pub media: Vec<(CatalogueMedia, &'static [u8])>,
}

impl Catalogue {
    /// Parses the embedded catalogue and checks every embedded file's size and SHA-256.
    pub fn load() -> Result<Catalogue, DemoError> {
        let file: CatalogueFile = toml::from_str(CONTENT_TOML)
            .map_err(|e| DemoError::Catalogue(format!("content.toml: {e}")))?;
        if file.version != 1 {
            return Err(DemoError::Catalogue(format!(
                "content.toml has schema version {}, this build reads version 1",
                file.version
            )));
        }
        let mut media = Vec::new();
        for m in file.media {
            let bytes = FILES
                .iter()
                .find(|(f, _)| *f == m.file)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    DemoError::Catalogue(format!(
                        "{} is not embedded (FILES in demo/src/lib.rs)",
                        m.file
                    ))
                })?;
            let sha = playlists::hex::sha256_hex(bytes);
            if bytes.len() as u64 != m.bytes || sha != m.sha256 {
                return Err(DemoError::Catalogue(format!(
                    "{}: embedded file has {} bytes and sha256 {sha}, the catalogue says {} and {}",
                    m.file,
                    bytes.len(),
                    m.bytes,
                    m.sha256
                )));
            }
            media.push((m, bytes));
        }
        Ok(Catalogue { media })
    }

    /// The entry of `message` in `lang`.
    pub fn find(&self, message: &str, lang: &str) -> Option<&CatalogueMedia> {
        self.media
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.message == message && m.lang == lang)
    }

    /// All entries of `message` (its language variants), in catalogue order.
    pub fn message(&self, message: &str) -> Vec<&CatalogueMedia> {
        self.media
            .iter()
            .map(|(m, _)| m)
            .filter(|m| m.message == message)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The demo's content model

/// A demo screen.
#[derive(Debug, Clone, Copy)]
pub struct DemoScreen {
    /// Screen id.
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Short label for the live lines.
    pub label: &'static str,
    /// Gate id.
    pub gate: &'static str,
    /// Language rotation of the gate.
    pub languages: &'static [&'static str],
}

/// Gate id of the Lao Cai international road border gate (Lào Cai – Hà Khẩu).
pub const GATE_ROAD: &str = "lao-cai-road";
/// Gate id of the Lao Cai international railway gate.
pub const GATE_RAIL: &str = "lao-cai-rail";

/// The three demo screens at two gates.
pub const SCREENS: [DemoScreen; 3] = [
    DemoScreen {
        id: "lao-cai-road-hall-a",
        name: "Lao Cai international road border gate — waiting hall A",
        label: "road gate, hall A",
        gate: GATE_ROAD,
        languages: &["vi", "zh-Hans", "en"],
    },
    DemoScreen {
        id: "lao-cai-road-hall-b",
        name: "Lao Cai international road border gate — waiting hall B",
        label: "road gate, hall B",
        gate: GATE_ROAD,
        languages: &["vi", "zh-Hans", "en"],
    },
    DemoScreen {
        id: "lao-cai-rail-hall",
        name: "Lao Cai international railway gate — waiting hall",
        label: "railway gate",
        gate: GATE_RAIL,
        languages: &["vi", "en", "hmn"],
    },
];

/// A playlist item: one message (its first language's media, the others as variants).
pub(crate) fn item(cat: &Catalogue, message: &str) -> Result<Value, DemoError> {
    let all = cat.message(message);
    let first = all
        .first()
        .ok_or_else(|| DemoError::Catalogue(format!("no media for message {message:?}")))?;
    let mut v = json!({"media": first.sha256});
    if first.kind == "slide" {
        v["duration_ms"] = SLIDE_MS.into();
    }
    if all.len() > 1 {
        v["variants"] = json!(all[1..].iter().map(|m| &m.sha256).collect::<Vec<_>>());
    }
    Ok(v)
}

/// The demo playlists: `(id, name, messages)`.
pub(crate) const PLAYLISTS: &[(&str, &str, &[&str])] = &[
    (
        "demo-welcome",
        "Welcome (all day)",
        &[
            "welcome",
            "laocai-title",
            "tourism",
            "greeting",
            "friendship",
        ],
    ),
    (
        "demo-morning",
        "Morning: border procedures first",
        &["procedures", "welcome", "procedures", "laocai-title"],
    ),
    (
        "demo-national-day",
        "Campaign: National Day, 81st anniversary",
        &["national-day", "welcome", "national-day", "laocai-title"],
    ),
    (
        "demo-resistance-day",
        "Campaign: National Resistance Day, 80th anniversary",
        &[
            "resistance-day",
            "welcome",
            "resistance-day",
            "laocai-title",
        ],
    ),
];

/// The demo schedules, targeting both gates.
pub(crate) fn schedules(cat: &Catalogue) -> Result<Vec<Value>, DemoError> {
    let gates = json!({"gates": [GATE_ROAD, GATE_RAIL]});
    let campaign = |message: &str| -> Result<(String, String), DemoError> {
        let m = cat
            .message(message)
            .into_iter()
            .find(|m| m.from.is_some() && m.until.is_some())
            .ok_or_else(|| DemoError::Catalogue(format!("{message} has no campaign dates")))?;
        Ok((
            m.from.clone().unwrap_or_default(),
            m.until.clone().unwrap_or_default(),
        ))
    };
    let (nd_from, nd_until) = campaign("national-day")?;
    let (rd_from, rd_until) = campaign("resistance-day")?;
    Ok(vec![
        // Fallback: the lowest-priority unconditional entry.
        json!({"id": "demo-all-day", "playlist": "demo-welcome", "targets": gates, "priority": 0}),
        json!({"id": "demo-morning", "playlist": "demo-morning", "targets": gates, "priority": 10,
               "start": "06:00", "end": "11:00"}),
        json!({"id": "demo-national-day", "playlist": "demo-national-day", "targets": gates,
               "priority": 20, "from": nd_from, "until": nd_until}),
        json!({"id": "demo-resistance-day", "playlist": "demo-resistance-day", "targets": gates,
               "priority": 20, "from": rd_from, "until": rd_until}),
    ])
}
