//! The compliance report over a real store with an injected clock: a known schedule, one hour
//! of the screen offline, the expected shortfall and the dark hour.

use crate::audit_query_support;

use audit_query_support::*;
use gatecast_controller::audit::evidence::compliance_from_store;
use gatecast_controller::store::Store;
use jiff::SignedDuration;
use playlists::keys::SecretKey;
use playlists::manifest::{Manifest, MediaKind, MediaRef, Playlist, PlaylistItem, ScheduleEntry};
use playlists::receipt::{Backend, Outcome};

const SLIDE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const LOOP: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// Morning entry 08:00–12:00 local (01:00–05:00 UTC) plays `morning` (one 60 s slide);
/// the fallback `loop` plays otherwise.
fn manifest() -> Manifest {
    let media = |sha: &str, title: &str| MediaRef {
        sha256: sha.into(),
        bytes: 1000,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "vi".into(),
        title: title.into(),
        duration_ms: None,
        subtitles: Vec::new(),
    };
    let playlist = |id: &str, sha: &str| Playlist {
        id: id.into(),
        name: id.into(),
        items: vec![PlaylistItem {
            media: sha.into(),
            duration_ms: Some(60_000),
            variants: vec![],
        }],
    };
    Manifest {
        screen: SCREEN.into(),
        version: 1,
        issued_at: ts("2026-01-04T00:00:00Z"),
        expires_at: ts("2026-02-01T00:00:00Z"),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec![],
        media: vec![media(SLIDE, "Chào mừng"), media(LOOP, "Giới thiệu")],
        playlists: vec![playlist("morning", SLIDE), playlist("loop", LOOP)],
        schedule: vec![ScheduleEntry {
            id: "morning-news".into(),
            playlist: "morning".into(),
            priority: 10,
            from: None,
            until: None,
            weekdays: None,
            start: Some("08:00".into()),
            end: Some("12:00".into()),
        }],
        fallback: "loop".into(),
        layout: None,
    }
}

#[tokio::test]
async fn compliance_report_shows_the_offline_hour_and_its_shortfall() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let ctl = SecretKey::from_seed([1; 32]);
    add_screen(&store, "lao-cai").await;
    publish(&store, &ctl, &manifest()).await;
    // Online before the window, offline 02:00–03:00 UTC (09:00–10:00 local), then online.
    status(&store, true, "2026-01-05T00:30:00Z").await;
    status(&store, false, "2026-01-05T02:00:00Z").await;
    status(&store, true, "2026-01-05T03:00:00Z").await;
    // One 60 s play per minute of the window except the offline hour; the play at 04:00 came
    // from the null backend (nothing shown).
    let mut plays = Vec::new();
    let start = ts("2026-01-05T01:00:00Z");
    for m in 0..240 {
        let at = start + SignedDuration::from_mins(m);
        if (60..120).contains(&m) {
            continue;
        }
        plays.push(Play {
            at,
            secs: 60,
            playlist: "morning".into(),
            media: SLIDE.into(),
            lang: "vi".into(),
            outcome: Outcome::Completed,
            backend: if m == 180 {
                Backend::Null
            } else {
                Backend::Mpv
            },
        });
    }
    assert_eq!(plays.len(), 180);
    store_plays(&store, &plays).await;

    let from = ts("2026-01-05T01:00:00Z");
    let to = ts("2026-01-05T05:00:00Z");
    let now = ts("2026-01-06T00:00:00Z"); // the injected clock
    let rep = compliance_from_store(&store, &ctl.public(), from, to, clock(now), &[], &[]).unwrap();
    assert_eq!(rep.evaluated_to, "2026-01-05T05:00:00.000Z");
    assert_eq!(rep.screens.len(), 1);
    let s = &rep.screens[0];
    assert_eq!(s.entries.len(), 1, "{:?}", s.entries);
    let e = &s.entries[0];
    assert_eq!(e.entry.as_deref(), Some("morning-news"));
    assert_eq!(e.playlist, "morning");
    assert_eq!(e.active_s, 4.0 * 3600.0);
    assert_eq!(e.expected, Some(240));
    assert_eq!(e.recorded, 179, "180 plays, one from the null backend");
    assert_eq!(e.null_backend, 1);
    assert_eq!(e.shortfall, Some(61));
    assert_eq!((s.expected, s.recorded, s.shortfall), (240, 179, 61));
    assert_eq!(s.dark_periods.len(), 1, "{:?}", s.dark_periods);
    let d = &s.dark_periods[0];
    assert_eq!(d.from, "2026-01-05T02:00:00.000Z");
    assert_eq!(d.to, "2026-01-05T03:00:00.000Z");
    assert_eq!((d.seconds, d.reason), (3600, "offline"));
    assert_eq!(s.dark_s, 3600);
    assert!(s.chain.intact, "{:?}", s.chain.problems);
    assert_eq!((s.chain.first_seq, s.chain.last_seq), (Some(1), Some(180)));
    assert_eq!(s.unscheduled, 0);

    // The same period seen at 03:30 UTC: only what has happened counts.
    let early = ts("2026-01-05T03:30:00Z");
    let rep =
        compliance_from_store(&store, &ctl.public(), from, to, clock(early), &[], &[]).unwrap();
    let s = &rep.screens[0];
    assert_eq!(rep.evaluated_to, "2026-01-05T03:30:00.000Z");
    assert_eq!(s.entries[0].expected, Some(150));
    assert_eq!(s.entries[0].recorded, 90);
    assert_eq!(s.dark_s, 3600);

    // A wider period adds the fallback's time: 00:00–01:00 UTC is the `loop` fallback, with
    // nothing recorded, and the screen had sent no status before 00:30.
    let rep = compliance_from_store(
        &store,
        &ctl.public(),
        ts("2026-01-05T00:00:00Z"),
        to,
        clock(now),
        &[],
        &[],
    )
    .unwrap();
    let s = &rep.screens[0];
    let fallback = s.entries.iter().find(|e| e.entry.is_none()).unwrap();
    assert_eq!(
        (
            fallback.playlist.as_str(),
            fallback.expected,
            fallback.recorded
        ),
        ("loop", Some(60), 0)
    );
    assert_eq!(s.dark_periods[0].reason, "no_status");
    assert_eq!(s.dark_periods[0].seconds, 1800);
    assert_eq!(s.dark_s, 1800 + 3600);
}

#[tokio::test]
async fn compliance_report_without_a_trusted_manifest_expects_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let ctl = SecretKey::from_seed([1; 32]);
    add_screen(&store, "lao-cai").await;
    let rep = compliance_from_store(
        &store,
        &ctl.public(),
        ts("2026-01-05T00:00:00Z"),
        ts("2026-01-06T00:00:00Z"),
        clock(ts("2026-01-07T00:00:00Z")),
        &[],
        &[],
    )
    .unwrap();
    let s = &rep.screens[0];
    assert!(s.entries.is_empty());
    assert_eq!(s.expected, 0);
    assert!(s.notes[0].contains("no manifest"), "{:?}", s.notes);
    assert_eq!(s.dark_s, 86_400, "no status at all: dark all day");
    // A manifest signed by another key is not trusted for the report.
    publish(&store, &SecretKey::from_seed([2; 32]), &manifest()).await;
    let rep = compliance_from_store(
        &store,
        &ctl.public(),
        ts("2026-01-05T00:00:00Z"),
        ts("2026-01-06T00:00:00Z"),
        clock(ts("2026-01-07T00:00:00Z")),
        &[],
        &[],
    )
    .unwrap();
    assert!(rep.screens[0].entries.is_empty());
}
