//! Shared fixtures for the manifest and schedule tests (`crate::common::fixtures`).
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
        subtitles: Vec::new(),
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
        layout: None,
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

/// Timezones used by the property tests: no DST, DST at 02:00/03:00, 30-minute DST
/// (Lord Howe) and DST at midnight (Santiago, Havana).
pub const ZONES: [&str; 7] = [
    "UTC",
    "Asia/Ho_Chi_Minh",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
];

pub mod arb {
    use super::*;
    use playlists::manifest::Weekday;
    use proptest::prelude::*;

    const DAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    const LANGS: [&str; 5] = ["vi", "en", "zh-Hans", "hmn", "km"];

    /// A local date in 2025..=2026.
    pub fn day() -> impl Strategy<Value = Date> {
        (0i64..730).prop_map(|k| {
            date("2025-01-01")
                .checked_add(jiff::Span::new().days(k))
                .expect("in range")
        })
    }

    /// An instant between 2024-12-25 and 2027-01-05, to the second.
    pub fn instant() -> impl Strategy<Value = Timestamp> {
        let lo = ts("2024-12-25T00:00:00Z").as_second();
        let hi = ts("2027-01-05T00:00:00Z").as_second();
        (lo..hi).prop_map(|s| Timestamp::from_second(s).expect("in range"))
    }

    fn hhmm() -> impl Strategy<Value = String> {
        // Bias towards the hours where DST transitions happen.
        (
            prop_oneof![0u8..24, 0u8..4, Just(2u8)],
            prop_oneof![Just(0u8), Just(30u8), 0u8..60],
        )
            .prop_map(|(h, m)| format!("{h:02}:{m:02}"))
    }

    pub fn schedule_entry(id: String, n_playlists: usize) -> impl Strategy<Value = ScheduleEntry> {
        (
            0..n_playlists,
            -3i32..4,
            proptest::option::of(day()),
            proptest::option::weighted(0.3, 0i64..60),
            proptest::option::weighted(0.4, proptest::sample::subsequence(DAYS.to_vec(), 1..=7)),
            proptest::option::weighted(0.7, (hhmm(), hhmm())),
        )
            .prop_map(
                move |(p, priority, from, len, weekdays, window)| ScheduleEntry {
                    id: id.clone(),
                    playlist: format!("p{p}"),
                    priority,
                    from,
                    until: from
                        .zip(len)
                        .map(|(f, l)| f.checked_add(jiff::Span::new().days(l)).unwrap()),
                    weekdays,
                    start: window.as_ref().map(|w| w.0.clone()),
                    end: window.map(|w| w.1),
                },
            )
    }

    /// A random valid manifest for screen `lc-a1` (1-4 playlists, 0-8 entries).
    pub fn manifest() -> impl Strategy<Value = Manifest> {
        (1usize..=4, 0usize..=8, 1usize..=5)
            .prop_flat_map(|(n_playlists, n_entries, n_media)| {
                let entries: Vec<_> = (0..n_entries)
                    .map(|i| schedule_entry(format!("e{i}"), n_playlists))
                    .collect();
                (
                    Just(n_playlists),
                    Just(n_media),
                    entries,
                    proptest::sample::select(ZONES.to_vec()),
                    proptest::sample::subsequence(LANGS.to_vec(), 0..=3),
                    proptest::collection::vec(
                        proptest::collection::vec(0..n_media as u64, 1..4),
                        n_playlists,
                    ),
                    0..n_playlists,
                    1u64..1_000_000,
                )
            })
            .prop_map(
                |(_, n_media, schedule, tz, langs, items, fallback, version)| Manifest {
                    screen: "lc-a1".to_string(),
                    version,
                    issued_at: ts("2024-12-01T00:00:00Z"),
                    expires_at: ts("2027-12-01T00:00:00Z"),
                    timezone: tz.to_string(),
                    languages: langs.iter().map(|l| l.to_string()).collect(),
                    media: (0..n_media as u64)
                        .map(|n| {
                            super::media(n + 1, LANGS[n as usize % LANGS.len()], MediaKind::Video)
                        })
                        .collect(),
                    playlists: items
                        .iter()
                        .enumerate()
                        .map(|(i, its)| {
                            playlist(&format!("p{i}"), its.iter().map(|n| item(n + 1)).collect())
                        })
                        .collect(),
                    schedule,
                    fallback: format!("p{fallback}"),
                    layout: None,
                },
            )
    }
}
