//! A screen sending garbage batches without end: every rejection is counted, but the rows
//! kept for auditors stay bounded per screen (`docs/security.md` §3 row 49).

use std::sync::Arc;

use gatecast_controller::ingest::{Applied, Ingest, IngestMetrics};
use gatecast_controller::publish::Outbox;
use gatecast_controller::store::{ScreenRecord, Store, REJECTIONS_KEPT_PER_SCREEN};
use playlists::keys::SecretKey;

/// Drops every message (no acks are expected).
struct Nowhere;

impl Outbox for Nowhere {
    fn send(
        &self,
        _topic: String,
        _payload: Vec<u8>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn attack_rejection_flood_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let device = SecretKey::from_seed([1; 32]);
    store
        .put_screen(&ScreenRecord {
            id: "scr-a".into(),
            name: "scr-a".into(),
            gate: "g".into(),
            languages: vec!["vi".into()],
            timezone: "UTC".into(),
            mqtt_password_hash: String::new(),
            mqtt_login_sha256: None,
            disabled: false,
            device_key: Some(device.public().to_base64()),
            enrolled_at: Some("2026-01-01T00:00:00Z".into()),
            created_at: "2026-01-01T00:00:00Z".into(),
            epochs: vec![],
        })
        .await
        .unwrap();
    let ingest = Ingest {
        store: store.clone(),
        key: Arc::new(SecretKey::from_seed([9; 32])),
        outbox: Arc::new(Nowhere),
        metrics: Arc::new(IngestMetrics::default()),
    };
    const FLOOD: u64 = 10_000;
    for i in 0..FLOOD {
        let at = format!("2026-01-01T00:00:{:02}.{:03}Z", i / 1000 % 60, i % 1000);
        let garbage = format!("x{i}").into_bytes();
        let applied = ingest.apply("scr-a", &garbage, &at).unwrap();
        assert!(matches!(applied, Applied::Rejected { .. }), "{applied:?}");
    }
    store.flush().await.unwrap();
    let rows = store.receipt_rejections().unwrap();
    assert!(
        rows.len() <= 100,
        "{} rejection rows kept for {FLOOD} garbage batches of one screen",
        rows.len()
    );
    // The newest are the ones kept, and every rejection is counted.
    assert_eq!(rows.len(), REJECTIONS_KEPT_PER_SCREEN);
    assert_eq!(
        rows.last().unwrap().envelope_bytes,
        5,
        "x9999 is the last row"
    );
    let counts = store.receipt_rejection_counts().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    let c = &counts[0];
    assert_eq!(
        (c.screen.as_str(), c.reason.as_str()),
        ("scr-a", "bad_envelope")
    );
    assert_eq!(c.count, FLOOD);
    assert_eq!(c.first_received_at, "2026-01-01T00:00:00.000Z");
    assert_eq!(c.last_received_at, "2026-01-01T00:00:09.999Z");
    assert_eq!(c.last_envelope_sha256, playlists::hex::sha256_hex(b"x9999"));
}
