//! Content the tests upload: small PNG slides, and the standard playlist and schedule.

use serde_json::{json, Value};

use crate::controller::Controller;
use crate::harness::sha256_hex;

/// A small file with PNG magic bytes (the controller checks only the magic).
pub fn png(seed: u8, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

/// Media uploaded by [`standard_content`].
#[derive(Debug, Clone)]
pub struct Content {
    /// `(sha256, bytes)` of each uploaded slide.
    pub media: Vec<(String, Vec<u8>)>,
}

/// Uploads two slides (`vi`, `en`), a playlist `p1` of both (`item_ms` each) and a schedule
/// `s1` targeting `gate` at priority 10.
pub fn standard_content(ctl: &Controller, gate: &str, item_ms: u64) -> Content {
    let mut media = Vec::new();
    for (seed, lang, title) in [(1u8, "vi", "Chao-mung"), (2u8, "en", "Welcome")] {
        let bytes = png(seed, 3000 + seed as usize * 100);
        let rec = ctl.upload(&bytes, "image/png", "slide", lang, title);
        let sha = rec["sha256"].as_str().expect("sha256").to_string();
        assert_eq!(
            sha,
            sha256_hex(&bytes),
            "the controller names media by SHA-256"
        );
        media.push((sha, bytes));
    }
    let items: Vec<Value> = media
        .iter()
        .map(|(sha, _)| json!({"media": sha, "duration_ms": item_ms}))
        .collect();
    ctl.api(
        "POST",
        "/api/v1/playlists",
        json!({"id": "p1", "name": "Main", "items": items}),
        201,
    );
    ctl.api(
        "POST",
        "/api/v1/schedules",
        json!({"id": "s1", "playlist": "p1", "targets": {"gates": [gate]}, "priority": 10}),
        201,
    );
    Content { media }
}
