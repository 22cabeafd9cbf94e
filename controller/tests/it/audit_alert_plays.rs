//! The playback log names an alert play by the alert (`docs/protocol.md` §18, the console's
//! playback log): a receipt of playlist `alert:<id>` whose `media` is the SHA-256 of one of the
//! alert's texts is no library item, and its row carries the alert's title (the first line of
//! the text in the language played) and `kind` `alert`, never an empty title beside a hash.

use crate::audit_query_support;

use audit_query_support::{add_media, add_screen, store_plays, ts, Play};
use gatecast_controller::audit::evidence::Lookup;
use gatecast_controller::store::{AlertRecord, AlertTextRecord, Store, Targets};
use playlists::receipt::{Backend, Outcome, Receipt};

#[tokio::test]
async fn alert_plays_are_named_by_the_alert_title_and_language() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    add_screen(&store, "Lào Cai – Hà Khẩu").await;
    let slide = "2".repeat(64);
    add_media(&store, &slide, "Chào mừng").await;
    let vi = "Bão số 3: tạm dừng thông quan\nHành khách vui lòng chờ.";
    let en = "Storm no. 3: crossing closed\nPlease wait.";
    store
        .create_alert(&AlertRecord {
            id: "bao-so-3".into(),
            targets: Targets {
                screens: vec![audit_query_support::SCREEN.into()],
                ..Default::default()
            },
            priority: 5,
            expires_at: "2026-01-06T00:00:00Z".into(),
            text: vec![
                AlertTextRecord {
                    lang: "vi".into(),
                    text: vi.into(),
                },
                AlertTextRecord {
                    lang: "en".into(),
                    text: en.into(),
                },
            ],
            media: None,
            cancelled: false,
            created_at: "2026-01-05T07:00:00Z".into(),
        })
        .await
        .unwrap();
    let play = |secs: i64, playlist: &str, media: String, lang: &str| Play {
        at: ts("2026-01-05T08:00:00Z") + jiff::SignedDuration::from_secs(secs),
        secs: 8,
        playlist: playlist.into(),
        media,
        lang: lang.into(),
        outcome: Outcome::Completed,
        backend: Backend::Mpv,
    };
    let stored = store_plays(
        &store,
        &[
            play(0, "main", slide.clone(), "vi"),
            play(
                10,
                "alert:bao-so-3",
                playlists::hex::sha256_hex(vi.as_bytes()),
                "vi",
            ),
            play(
                20,
                "alert:bao-so-3",
                playlists::hex::sha256_hex(en.as_bytes()),
                "en",
            ),
        ],
    )
    .await;
    let mut lookup = Lookup::new(&store).unwrap();
    let rows: Vec<_> = stored
        .iter()
        .map(|b| lookup.row(&Receipt::parse(b).unwrap()).unwrap())
        .collect();
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.media_title.as_str(), r.kind.as_str(), r.lang.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("Chào mừng", "slide", "vi"),
            ("Bão số 3: tạm dừng thông quan", "alert", "vi"),
            ("Storm no. 3: crossing closed", "alert", "en"),
        ]
    );
}
