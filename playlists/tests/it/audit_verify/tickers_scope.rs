//! The scope signs the bundle's ticker sets (`docs/protocol.md` §15 `tickers`): the period
//! report tells ticker turns apart from campaign plays by them, so removing, adding or
//! altering one changes its figures and fails `gatecast-audit verify`.

use super::scope::fails_with;
use super::*;
use crate::common::fixtures::ts;
use playlists::manifest::{AlertText, TickerItem, TickerSet};
use playlists::report::{read_bundle, ReportRequest};

/// A ticker set of `screen` holding one text with id `id`.
fn ticker_set(w: &World, screen: &str, version: u64, id: &str, text: &str) -> Vec<u8> {
    TickerSet {
        screen: screen.into(),
        version,
        issued_at: ts("2026-01-04T00:00:00Z"),
        items: vec![TickerItem {
            id: id.into(),
            priority: 0,
            starts_at: None,
            expires_at: ts("2026-02-01T00:00:00Z"),
            text: vec![AlertText {
                lang: "vi".into(),
                text: text.into(),
            }],
        }],
    }
    .sign(&w.controller)
    .unwrap()
    .to_json()
}

/// The standard bundle carrying two ticker sets of A, its scope signing them.
fn ticker_bundle(w: &World) -> Bundle {
    let mut b = Log::standard(w).full_bundle(w);
    b.tickers = vec![
        B64.encode(ticker_set(
            w,
            A,
            1,
            "dinh-chinh",
            "Đính chính: mở cửa từ 7 giờ",
        )),
        // A text whose id is a campaign's: its plays stay the campaign's, since no receipt
        // shows this text (the media is not its SHA-256).
        B64.encode(ticker_set(w, A, 2, "welcome", "Chào mừng")),
    ];
    rescope(w, &mut b);
    b
}

#[test]
fn scope_signs_the_tickers_and_a_ticker_id_alone_takes_no_campaign_plays() {
    let w = World::new();
    let b = ticker_bundle(&w);
    let r = verify(&w, &b);
    assert!(r.ok, "{}", r.to_text());
    let env = Envelope::parse(&B64.decode(b.scope.as_ref().unwrap()).unwrap()).unwrap();
    let s: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
    assert_eq!(s["tickers"]["tickers"], 2, "{s}");
    let req = ReportRequest::parse("2026-01-05", "2026-01-05", None).unwrap();
    let f = read_bundle(&b.to_json()[..], req).unwrap();
    assert!(f.tickers.is_empty(), "{:?}", f.tickers);
    assert_eq!(f.campaigns.len(), 1);
    assert_eq!(f.campaigns[0].key, "welcome");
    assert_eq!(f.campaigns[0].tally.plays, f.totals.plays);
}

#[test]
fn attack_scope_ticker_set_altered_removed_or_added() {
    let w = World::new();
    let b = ticker_bundle(&w);
    // Removed: a correction disappears from the report.
    let mut t = b.clone();
    t.tickers.remove(0);
    let text = fails_with(&w, &t, &[ProblemKind::TickersMismatch]);
    assert!(
        text.contains("holds 1 tickers but the controller signed 2"),
        "{text}"
    );
    // Swapped for another genuine, controller-signed set: same count, other bytes.
    let mut t = b.clone();
    t.tickers[0] = B64.encode(ticker_set(&w, A, 1, "dinh-chinh", "another text"));
    let text = fails_with(&w, &t, &[ProblemKind::TickersMismatch]);
    assert!(text.contains("ticker set was altered or swapped"), "{text}");
    // Added to a bundle whose scope signs none.
    let mut t = Log::standard(&w).full_bundle(&w);
    t.tickers = b.tickers.clone();
    let text = fails_with(&w, &t, &[ProblemKind::TickersMismatch]);
    assert!(text.contains("added after the export"), "{text}");
    // A manifest passed off as a ticker set.
    let mut t = b.clone();
    t.tickers[1] = b.manifests.first().cloned().unwrap_or_else(|| {
        B64.encode(
            crate::common::fixtures::manifest()
                .sign(&w.controller)
                .unwrap()
                .to_json(),
        )
    });
    rescope(&w, &mut t);
    let text = fails_with(&w, &t, &[ProblemKind::TickersMismatch]);
    assert!(
        text.contains("tickers[1] is not a ticker set envelope"),
        "{text}"
    );
}
