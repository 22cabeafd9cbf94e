//! Structure-aware schedule resolution: a manifest (and an alert set) is built from the fuzzer's
//! bytes — tricky timezones (DST gaps and folds at midnight, 30-minute and negative DST, skipped
//! days), dates from year 0 to 9999, windows crossing midnight, ties in priority — validated, and
//! if valid the resolver is checked at fuzzed instants (random ones and ones next to the
//! timezone's transitions):
//!
//! * `active_playlist` returns exactly one listed playlist: the fallback when no entry is
//!   active, else the playlist of the active entry with the highest priority (smallest id on
//!   ties);
//! * `next_change` is after `now`, and the set of active entries is the same at sampled instants
//!   in `[now, next_change)`; `None` means it stays the same for good (sampled up to 400 days);
//! * `pick_variant` returns the first of (own media, variants...) in the wanted language, else
//!   the own media;
//! * `active_alert` is the unexpired alert with the highest priority (smallest id on ties) and
//!   `next_alert_change` the earliest expiry after `now`;
//! * nothing panics.
#![no_main]

use gatecast_fuzz::{Bytes, SCREEN};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use playlists::manifest::{
    Alert, AlertSet, AlertText, Manifest, MediaKind, MediaRef, Playlist, PlaylistItem,
    ScheduleEntry, Weekday,
};
use playlists::schedule;

const TIMEZONES: [&str; 20] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Ho_Chi_Minh",
    "America/Santiago",
    "Africa/Casablanca",
    "Pacific/Apia",
    "America/St_Johns",
    "Antarctica/Troll",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Europe/Dublin",
    "America/Havana",
    "Asia/Gaza",
    "Pacific/Kwajalein",
    "Europe/London",
];
const LANGS: [&str; 7] = ["vi", "en", "zh-Hans", "fr", "zxx", "EN", "vi"];
const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];
const IDS: [&str; 8] = ["a", "b", "c", "e.1", "A", "Z", "a:b", "b"];

fn sha(n: usize) -> String {
    format!("{:064x}", n + 1)
}

fn day_offset(d: Date, k: i64) -> Date {
    d.checked_add(jiff::Span::new().try_days(k).unwrap_or_default())
        .unwrap_or(d)
}

fn base_date(b: &mut Bytes) -> Date {
    let year = match b.u8() % 16 {
        0 => [0i16, 1, 9999, 1970, 2011, 1993][b.below(6)],
        1 => (b.u16() % 10_000) as i16,
        _ => 1960 + i16::from(b.u8() % 100),
    };
    let month = 1 + (b.u8() % 12) as i8;
    let day = 1 + (b.u8() % 31) as i8;
    Date::new(year, month, day)
        .or_else(|_| Date::new(year, month, 28))
        .expect("day 28 exists in every month")
}

fn hhmm(b: &mut Bytes) -> String {
    match b.u8() % 32 {
        0 => ["24:00", "1:00", "12:60", "00:00 ", "ab:cd"][b.below(5)].to_owned(),
        1..=8 => [
            "00:00", "02:00", "02:30", "03:00", "01:00", "23:59", "00:30", "12:00",
        ][b.below(8)]
        .to_owned(),
        _ => {
            let h = b.u8() % 24;
            let m = [0u8, 15, 30, 45, 59, 1][b.below(6)];
            format!("{h:02}:{m:02}")
        }
    }
}

fn manifest(b: &mut Bytes, d: Date) -> Manifest {
    let tz = TIMEZONES[b.below(TIMEZONES.len())].to_owned();
    let n_lang = b.below(4);
    let languages: Vec<String> = (0..n_lang).map(|_| b.pick(&LANGS).to_owned()).collect();
    let n_media = 1 + b.below(6);
    let media: Vec<MediaRef> = (0..n_media)
        .map(|i| MediaRef {
            sha256: sha(i),
            bytes: 1 + u64::from(b.u8()),
            mime: "image/png".into(),
            kind: MediaKind::Slide,
            lang: b.pick(&LANGS).to_owned(),
            title: String::new(),
            duration_ms: None,
            subtitles: Vec::new(),
        })
        .collect();
    let n_pl = 1 + b.below(4);
    let playlists: Vec<Playlist> = (0..n_pl)
        .map(|p| Playlist {
            id: format!("p{p}"),
            name: String::new(),
            items: (0..1 + b.below(3))
                .map(|_| {
                    let own = b.below(n_media);
                    PlaylistItem {
                        media: sha(own),
                        duration_ms: None,
                        variants: (0..b.below(3)).map(|_| sha(b.below(n_media))).collect(),
                    }
                })
                .collect(),
        })
        .collect();
    let n_entries = b.below(7);
    let schedule: Vec<ScheduleEntry> = (0..n_entries)
        .map(|i| {
            let flags = b.u8();
            let id = if flags & 0x80 != 0 {
                b.pick(&IDS).to_owned()
            } else {
                format!("e{i}")
            };
            let priority = match b.u8() % 8 {
                0 => i32::MAX,
                1 => i32::MIN,
                2 => b.u32() as i32,
                _ => i32::from(b.u8() % 4) - 1,
            };
            let from = (flags & 1 != 0).then(|| day_offset(d, i64::from(b.u8() as i8) / 4));
            let until = (flags & 2 != 0).then(|| match from {
                Some(f) if b.u8() & 7 != 0 => day_offset(f, i64::from(b.u8() % 16)),
                _ => day_offset(d, i64::from(b.u8() as i8) / 4),
            });
            let weekdays = (flags & 4 != 0).then(|| {
                let mask = b.u8();
                WEEKDAYS
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| mask & (1 << k) != 0)
                    .map(|(_, w)| *w)
                    .collect()
            });
            let (start, end) = match (flags >> 3) & 3 {
                0 | 1 => (None, None),
                2 => (Some(hhmm(b)), Some(hhmm(b))),
                _ => {
                    let s = hhmm(b);
                    (Some(s.clone()), Some(if b.bool() { s } else { hhmm(b) }))
                }
            };
            ScheduleEntry {
                id,
                playlist: format!("p{}", b.below(n_pl + 1) % n_pl.max(1)),
                priority,
                from,
                until,
                weekdays,
                start,
                end,
            }
        })
        .collect();
    Manifest {
        screen: SCREEN.into(),
        version: 1,
        issued_at: Timestamp::MIN,
        expires_at: Timestamp::MAX,
        timezone: tz,
        languages,
        media,
        playlists,
        schedule,
        fallback: format!("p{}", b.below(n_pl)),
        layout: None,
    }
}

/// Instants to test at: around the local base date, or next to the timezone's transitions.
fn instants(b: &mut Bytes, tz: &TimeZone, d: Date) -> Vec<Timestamp> {
    let anchor = tz
        .to_ambiguous_timestamp(d.to_datetime(Time::midnight()))
        .compatible()
        .unwrap_or_else(|_| Timestamp::UNIX_EPOCH);
    let mut out = Vec::new();
    for _ in 0..1 + b.below(4) {
        let t = match b.u8() % 4 {
            0 | 1 => anchor.checked_add(SignedDuration::new(
                i64::from(b.u32() as i32) % (4 * 86_400),
                (i32::from(b.u16()) * 15_259) % 1_000_000_000,
            )),
            _ => {
                let skip = b.below(4);
                let tr = tz
                    .following(anchor)
                    .nth(skip)
                    .map(|t| t.timestamp())
                    .unwrap_or(anchor);
                let delta = match b.u8() % 5 {
                    0 => SignedDuration::ZERO,
                    1 => SignedDuration::from_nanos(-1),
                    2 => SignedDuration::from_secs(-1),
                    3 => SignedDuration::from_secs(i64::from(b.u16() as i16)),
                    _ => SignedDuration::from_secs(i64::from(b.u8() as i8) * 900),
                };
                tr.checked_add(delta)
            }
        };
        if let Ok(t) = t {
            out.push(t);
        }
    }
    out
}

fn active_set(m: &Manifest, now: Timestamp) -> Vec<usize> {
    (0..m.schedule.len())
        .filter(|&i| schedule::is_entry_active(m, &m.schedule[i], now))
        .collect()
}

fn check_active(m: &Manifest, now: Timestamp) -> Vec<usize> {
    let a = schedule::active_playlist(m, now);
    let set = active_set(m, now);
    assert_eq!(
        m.playlists
            .iter()
            .filter(|p| std::ptr::eq(*p, a.playlist))
            .count(),
        1,
        "the active playlist is not exactly one listed playlist"
    );
    let best = set.iter().map(|&i| &m.schedule[i]).max_by(|x, y| {
        x.priority
            .cmp(&y.priority)
            .then_with(|| y.id.as_bytes().cmp(x.id.as_bytes()))
    });
    match best {
        None => {
            assert!(a.entry.is_none(), "an entry won though none is active");
            assert_eq!(a.playlist.id, m.fallback);
        }
        Some(e) => {
            let won = a.entry.expect("an entry is active but the fallback plays");
            assert!(
                std::ptr::eq(won, e),
                "wrong winner at {now}: {won:?} vs {e:?}"
            );
            assert_eq!(a.playlist.id, e.playlist);
        }
    }
    set
}

fn check_next_change(m: &Manifest, now: Timestamp, set: &[usize]) {
    match schedule::next_change(m, now) {
        Some(t) => {
            assert!(t > now, "next_change {t} is not after now {now}");
            let span = t.duration_since(now);
            for probe in [
                now.checked_add(span / 3),
                now.checked_add(span / 2),
                t.checked_sub(SignedDuration::from_nanos(1)),
            ]
            .into_iter()
            .flatten()
            {
                assert_eq!(
                    active_set(m, probe),
                    set,
                    "active entries changed at {probe}, before next_change {t} (now {now})"
                );
            }
        }
        None => {
            for secs in [
                3_600,
                86_400,
                3 * 86_400,
                9 * 86_400,
                40 * 86_400,
                400 * 86_400,
            ] {
                if let Ok(probe) = now.checked_add(SignedDuration::from_secs(secs)) {
                    assert_eq!(
                        active_set(m, probe),
                        set,
                        "next_change(now={now}) is None but the active entries change by {probe}"
                    );
                }
            }
        }
    }
}

fn check_variants(m: &Manifest, now: Timestamp) {
    let a = schedule::active_playlist(m, now);
    for item in &a.playlist.items {
        for rot in [0u64, 1, 2, 3, u64::MAX] {
            let got = schedule::pick_variant(m, item, rot);
            let own = m.media_by_hash(&item.media).expect("listed");
            let want = if m.languages.is_empty() {
                own
            } else {
                let lang = &m.languages[(rot % m.languages.len() as u64) as usize];
                std::iter::once(&item.media)
                    .chain(&item.variants)
                    .filter_map(|h| m.media_by_hash(h))
                    .find(|x| x.lang.eq_ignore_ascii_case(lang))
                    .unwrap_or(own)
            };
            assert_eq!(got.sha256, want.sha256, "pick_variant rotation {rot}");
        }
    }
}

fn alerts(b: &mut Bytes, now: Timestamp) -> AlertSet {
    AlertSet {
        screen: SCREEN.into(),
        version: 1,
        issued_at: now,
        alerts: (0..b.below(4))
            .map(|i| Alert {
                id: if b.bool() {
                    b.pick(&IDS).to_owned()
                } else {
                    format!("x{i}")
                },
                priority: i32::from(b.u8() % 3),
                expires_at: now
                    .checked_add(SignedDuration::from_secs(i64::from(b.u8() as i8) * 60))
                    .unwrap_or(now),
                text: vec![AlertText {
                    lang: "vi".into(),
                    text: "x".into(),
                }],
                media: None,
            })
            .collect(),
    }
}

fn check_alerts(set: &AlertSet, now: Timestamp) {
    if set.validate().is_err() {
        return;
    }
    let live: Vec<&Alert> = set.alerts.iter().filter(|a| now < a.expires_at).collect();
    let want = live.iter().copied().max_by(|x, y| {
        x.priority
            .cmp(&y.priority)
            .then_with(|| y.id.as_bytes().cmp(x.id.as_bytes()))
    });
    assert_eq!(schedule::active_alert(set, now), want);
    let next = set
        .alerts
        .iter()
        .map(|a| a.expires_at)
        .filter(|t| *t > now)
        .min();
    assert_eq!(schedule::next_alert_change(set, now), next);
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let d = base_date(&mut b);
    let m = manifest(&mut b, d);
    if m.validate().is_err() {
        return;
    }
    let tz = schedule::manifest_timezone(&m);
    for now in instants(&mut b, &tz, d) {
        let set = check_active(&m, now);
        check_next_change(&m, now, &set);
        check_variants(&m, now);
        check_alerts(&alerts(&mut b, now), now);
    }
});
