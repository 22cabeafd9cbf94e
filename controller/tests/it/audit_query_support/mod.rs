//! Shared helpers of the `audit_query*` tests: a store filled with a screen, a manifest, status
//! history and signed receipts at chosen instants (no clock, no sleeps).
#![allow(dead_code)]

use gatecast_controller::store::{
    EnrollCode, MediaRecord, ScreenRecord, StatusRecord, Store, StoredManifest,
};
use jiff::{SignedDuration, Timestamp};
use playlists::keys::SecretKey;
use playlists::manifest::Manifest;
use playlists::receipt::{
    receipt_hash, sign_batch, verify_batch, Backend, Outcome, Receipt, GENESIS_PREV,
};

pub const SCREEN: &str = "lc-a1";

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn device_key() -> SecretKey {
    SecretKey::from_seed([7; 32])
}

/// Registers `SCREEN` at `gate` (Asia/Ho_Chi_Minh) with the device key of [`device_key`].
pub async fn add_screen(store: &Store, gate: &str) {
    add_screen_with_id(store, SCREEN, gate).await
}

/// Registers screen `id` at `gate` (Asia/Ho_Chi_Minh) with the device key of [`device_key`].
pub async fn add_screen_with_id(store: &Store, id: &str, gate: &str) {
    let s = ScreenRecord {
        id: id.into(),
        name: "Nhà chờ A1".into(),
        gate: gate.into(),
        languages: vec!["vi".into(), "en".into()],
        timezone: "Asia/Ho_Chi_Minh".into(),
        mqtt_password_hash: String::new(),
        mqtt_login_sha256: None,
        disabled: false,
        device_key: Some(device_key().public().to_base64()),
        enrolled_at: Some("2026-01-01T00:00:00Z".into()),
        created_at: "2026-01-01T00:00:00Z".into(),
        epochs: vec![],
    };
    let code = EnrollCode {
        screen: id.into(),
        code_hash: String::new(),
        expires_at: 0,
    };
    store.create_screen(&s, &code).await.unwrap();
}

/// Stores media metadata with `title`.
pub async fn add_media(store: &Store, sha: &str, title: &str) {
    store
        .put_media(&MediaRecord {
            sha256: sha.into(),
            bytes: 1000,
            mime: "image/png".into(),
            kind: "slide".into(),
            lang: "vi".into(),
            title: title.into(),
            duration_ms: Some(60_000),
            uploaded_at: "2026-01-01T00:00:00Z".into(),
            deleted: false,
            width: None,
            height: None,
            poster: false,
        })
        .await
        .unwrap();
}

/// Signs `m` with `key` and stores it as published.
pub async fn publish(store: &Store, key: &SecretKey, m: &Manifest) {
    let env = m.sign(key).unwrap().to_json();
    store
        .put_manifest(&StoredManifest {
            screen: m.screen.clone(),
            version: m.version,
            content_hash: format!("{:064x}", m.version),
            media: m.media.iter().map(|r| r.sha256.clone()).collect(),
            issued_at: m.issued_at.to_string(),
            expires_at: m.expires_at.to_string(),
            envelope: String::from_utf8(env).unwrap(),
        })
        .await
        .unwrap();
}

/// The heartbeat age of these tests: their statuses are sparse (only the changes, hours apart),
/// not a heartbeat every 30 s, so a screen counts as silent only after a day.
pub const SPARSE_STATUSES: std::time::Duration = std::time::Duration::from_secs(86_400);

/// The report clock at `now` with [`SPARSE_STATUSES`].
pub fn clock(now: Timestamp) -> gatecast_controller::audit::evidence::ReportClock {
    gatecast_controller::audit::evidence::ReportClock {
        now,
        status_stale_after: SPARSE_STATUSES,
    }
}

/// Records a status of `SCREEN` received at `at`.
pub async fn status(store: &Store, online: bool, at: &str) {
    store
        .put_status(
            &StatusRecord {
                screen: SCREEN.into(),
                status: serde_json::json!({"state": if online { "playing" } else { "offline" }}),
                received_at: at.into(),
                online,
            },
            SPARSE_STATUSES,
        )
        .await
        .unwrap();
}

/// One play to record.
#[derive(Clone)]
pub struct Play {
    pub at: Timestamp,
    pub secs: i64,
    pub playlist: String,
    pub media: String,
    pub lang: String,
    pub outcome: Outcome,
    pub backend: Backend,
}

/// Chains `plays` as receipts 1..=n of `SCREEN`, signs them in batches of 100 with the device
/// key, verifies each batch against the stored tip and stores it as ingest does, then flushes.
pub async fn store_plays(store: &Store, plays: &[Play]) -> Vec<Vec<u8>> {
    let mut prev = GENESIS_PREV.to_string();
    let mut all = Vec::new();
    for (i, p) in plays.iter().enumerate() {
        let r = Receipt {
            seq: i as u64 + 1,
            screen: SCREEN.into(),
            manifest_version: 1,
            playlist: p.playlist.clone(),
            media: p.media.clone(),
            lang: p.lang.clone(),
            started_at: p.at,
            ended_at: p.at + SignedDuration::from_secs(p.secs),
            outcome: p.outcome,
            backend: p.backend,
            clock_synced: true,
            prev: prev.clone(),
            subtitle_lang: None,
        };
        let bytes = r.to_bytes();
        prev = receipt_hash(&bytes);
        all.push(bytes);
    }
    let key = device_key();
    for chunk in all.chunks(100) {
        let env = sign_batch(SCREEN, chunk, &key).to_json();
        store.with_log_lock(|log| {
            let tip = store.chain_tip(SCREEN).unwrap();
            let lookup = |seq: u64| store.receipt_hash_at(SCREEN, seq).ok().flatten();
            let v = verify_batch(&env, &key.public(), SCREEN, tip.as_ref(), &lookup)
                .expect("test batch verifies");
            log.store_batch(SCREEN, &env, &v, "2026-01-06T00:00:00Z")
                .unwrap();
        });
    }
    store.flush().await.unwrap();
    all
}
