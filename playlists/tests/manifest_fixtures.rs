//! Shared fixtures for the manifest and schedule tests (included with `#[path]`).
#![allow(dead_code)]

use jiff::civil::Date;
use jiff::Timestamp;
use playlists::keys::{KeySet, SecretKey};
use playlists::manifest::{
    Alert, AlertSet, AlertText, Manifest, MediaKind, MediaRef, Playlist, PlaylistItem,
    ScheduleEntry,
};

/// A fake but well-formed SHA-256: `n` in lowercase hex, zero padded to 64 characters.
pub fn sha(n: u64) -> String {
    format!("{n:064x}")
}

/// An RFC 3339 instant.
pub fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test timestamp {s:?}: {e}"))
}

/// A civil date `YYYY-MM-DD`.
pub fn date(s: &str) -> Date {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test date {s:?}: {e}"))
}

/// The controller key used by the tests (fixed seed).
pub fn controller_key() -> SecretKey {
    SecretKey::from_seed([7; 32])
}

/// Another, untrusted key (fixed seed).
pub fn other_key() -> SecretKey {
    SecretKey::from_seed([9; 32])
}

/// A key set trusting only [`controller_key`].
pub fn trusted() -> KeySet {
    KeySet::from_keys([controller_key().public()])
}

pub fn media(n: u64, lang: &str, kind: MediaKind) -> MediaRef {
    MediaRef {
        sha256: sha(n),
        bytes: 1000 + n,
        mime: match kind {
            MediaKind::Slide => "image/png".to_string(),
            _ => "video/mp4".to_string(),
        },
        kind,
        lang: lang.to_string(),
        title: format!("item {n}"),
        duration_ms: Some(10_000),
    }
}

pub fn item(n: u64) -> PlaylistItem {
    PlaylistItem {
        media: sha(n),
        duration_ms: None,
        variants: Vec::new(),
    }
}

pub fn playlist(id: &str, items: Vec<PlaylistItem>) -> Playlist {
    Playlist {
        id: id.to_string(),
        name: format!("playlist {id}"),
        items,
    }
}

/// A schedule entry with no filters and no window (active all the time).
pub fn entry(id: &str, playlist: &str, priority: i32) -> ScheduleEntry {
    ScheduleEntry {
        id: id.to_string(),
        playlist: playlist.to_string(),
        priority,
        from: None,
        until: None,
        weekdays: None,
        start: None,
        end: None,
    }
}

/// An entry with a daily window.
pub fn window(id: &str, playlist: &str, priority: i32, start: &str, end: &str) -> ScheduleEntry {
    ScheduleEntry {
        start: Some(start.to_string()),
        end: Some(end.to_string()),
        ..entry(id, playlist, priority)
    }
}

/// A valid manifest for screen `lc-a1` in Asia/Ho_Chi_Minh with languages vi, en, zh-Hans:
/// media 1 (vi), 2 (en), 3 (zh-Hans) are one message, media 4 is a vi slide, media 5 (en) is
/// unused; playlists `main` (item 1 with variants 2 and 3, then item 4), `news` (item 4) and
/// `night` (item 5); no schedule entries; fallback `main`.
pub fn manifest() -> Manifest {
    let mut main_first = item(1);
    main_first.variants = vec![sha(2), sha(3)];
    Manifest {
        screen: "lc-a1".to_string(),
        version: 7,
        issued_at: ts("2025-01-01T00:00:00Z"),
        expires_at: ts("2026-01-01T00:00:00Z"),
        timezone: "Asia/Ho_Chi_Minh".to_string(),
        languages: vec!["vi".to_string(), "en".to_string(), "zh-Hans".to_string()],
        media: vec![
            media(1, "vi", MediaKind::Video),
            media(2, "en", MediaKind::Video),
            media(3, "zh-Hans", MediaKind::Video),
            media(4, "vi", MediaKind::Slide),
            media(5, "en", MediaKind::Clip),
        ],
        playlists: vec![
            playlist("main", vec![main_first, item(4)]),
            playlist("news", vec![item(4)]),
            playlist("night", vec![item(5)]),
        ],
        schedule: Vec::new(),
        fallback: "main".to_string(),
    }
}

/// [`manifest`] with another timezone and the given schedule.
pub fn manifest_with(timezone: &str, schedule: Vec<ScheduleEntry>) -> Manifest {
    Manifest {
        timezone: timezone.to_string(),
        schedule,
        ..manifest()
    }
}

pub fn alert(id: &str, priority: i32, expires_at: &str) -> Alert {
    Alert {
        id: id.to_string(),
        priority,
        expires_at: ts(expires_at),
        text: vec![
            AlertText {
                lang: "vi".to_string(),
                text: "Cổng tạm đóng".to_string(),
            },
            AlertText {
                lang: "en".to_string(),
                text: "Gate temporarily closed".to_string(),
            },
        ],
        media: None,
    }
}

/// A valid alert set for screen `lc-a1`, version 3, with one alert.
pub fn alert_set() -> AlertSet {
    AlertSet {
        screen: "lc-a1".to_string(),
        version: 3,
        issued_at: ts("2025-03-01T00:00:00Z"),
        alerts: vec![alert("flood", 10, "2025-03-02T00:00:00Z")],
    }
}
