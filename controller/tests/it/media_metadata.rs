//! Media metadata read on upload (controller/src/mediainfo.rs): duration and picture size of
//! real MP4, WebM, MP3 and Ogg files (tiny fixtures made with ffmpeg, under
//! `controller/tests/fixtures/media/`), the playlist total that uses them, poster thumbnails,
//! and malformed containers that must neither crash nor hang the controller.

use crate::api_support::*;

use std::time::{Duration, Instant};

use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/media")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn near(v: &serde_json::Value, want_ms: u64, slack_ms: u64) -> bool {
    v.as_u64().is_some_and(|d| d.abs_diff(want_ms) <= slack_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_metadata_duration_and_size_are_read_on_upload() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let cases = [
        (
            "video-12s-160x90.mp4",
            "video/mp4",
            "video",
            12_000,
            50,
            Some((160, 90)),
        ),
        (
            "webm-5s-160x90.webm",
            "video/webm",
            "video",
            5_000,
            50,
            Some((160, 90)),
        ),
        ("audio-3s.mp3", "audio/mpeg", "clip", 3_000, 120, None),
        ("audio-4s.ogg", "audio/ogg", "clip", 4_000, 50, None),
    ];
    for (file, mime, kind, want, slack, size) in cases {
        let (s, m) = ctl
            .upload(
                fixture(file),
                mime,
                &format!("kind={kind}&lang=vi&title={file}"),
            )
            .await;
        assert_eq!(s, 201, "{file}: {m}");
        assert!(near(&m["duration_ms"], want, slack), "{file}: {m}");
        match size {
            Some((w, h)) => assert_eq!(
                (m["width"].as_u64(), m["height"].as_u64()),
                (Some(w), Some(h)),
                "{file}: {m}"
            ),
            None => assert!(m["width"].is_null(), "{file}: {m}"),
        }
        // The list answers the same right away.
        let (_, list) = ctl
            .req("GET", "/api/v1/media", Some(&ctl.admin), None)
            .await;
        let listed = list
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["sha256"] == m["sha256"])
            .unwrap()
            .clone();
        assert_eq!(listed["duration_ms"], m["duration_ms"], "{file}");
    }
    // A duration given by the uploader wins over the file's.
    let mut other = fixture("audio-4s.ogg");
    other.extend_from_slice(b"trailing bytes make another hash");
    let (s, m) = ctl
        .upload(
            other,
            "audio/ogg",
            "kind=clip&lang=en&title=x&duration_ms=2500",
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["duration_ms"], 2500, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_metadata_playlist_total_uses_the_video_duration() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (s, v) = ctl
        .upload(
            fixture("video-12s-160x90.mp4"),
            "video/mp4",
            "kind=video&lang=vi&title=Clip",
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, p) = ctl
        .upload(png(3, 500), "image/png", "kind=slide&lang=vi&title=Slide")
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, pl) = ctl
        .admin(
            "POST",
            "/api/v1/playlists",
            json!({"id":"p1","name":"Main","items":[
            {"media": v["sha256"]}, {"media": p["sha256"], "duration_ms": 7000}]}),
        )
        .await;
    assert_eq!(s, 201, "{pl}");
    let (_, media) = ctl
        .req("GET", "/api/v1/media", Some(&ctl.admin), None)
        .await;
    let (_, pl) = ctl
        .req("GET", "/api/v1/playlists/p1", Some(&ctl.admin), None)
        .await;
    let total: u64 = pl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["duration_ms"].as_u64().unwrap_or_else(|| {
                media
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["sha256"] == i["media"])
                    .and_then(|m| m["duration_ms"].as_u64())
                    .unwrap_or(0)
            })
        })
        .sum();
    assert_eq!(total, 19_000, "12 s video + 7 s slide: {pl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_poster_thumbnail_is_drawn_and_served_like_media() {
    if !gatecast_testkit::require_program(
        "media_poster_thumbnail_is_drawn_and_served_like_media",
        "ffmpeg",
        "ffmpeg",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (s, v) = ctl
        .upload(
            fixture("video-12s-160x90.mp4"),
            "video/mp4",
            "kind=video&lang=vi&title=Clip",
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let url = v["poster"].as_str().expect("a poster URL").to_string();
    assert_eq!(
        url,
        format!("/media/{}/poster", v["sha256"].as_str().unwrap())
    );
    let resp = ctl.http.get(ctl.url(&url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let body = resp.bytes().await.unwrap();
    assert!(body.starts_with(&[0xff, 0xd8]), "a JPEG");
    let img = image::load_from_memory(&body).expect("a decodable JPEG");
    assert_eq!(img.width(), 320, "320 px wide");
    // A slide has none.
    let (_, p) = ctl
        .upload(png(4, 500), "image/png", "kind=slide&lang=vi&title=S")
        .await;
    assert!(p["poster"].is_null(), "{p}");
}

/// Security row 84: a malformed or hostile container (truncated, boxes that claim huge sizes,
/// a zero timescale) must give "duration unknown" quickly, never crash or hang the controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_media_malformed_container_neither_crashes_nor_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let good = fixture("video-12s-160x90.mp4");
    let mut hostile = Vec::new();
    hostile.extend_from_slice(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x01isomavc1");
    // moov claiming 4 GiB, then an mvhd/mdhd with timescale 0 and a huge duration.
    hostile.extend_from_slice(b"\xff\xff\xff\xf0moov\x00\x00\x00\x6cmvhd\x00\x00\x00\x00");
    hostile.extend_from_slice(&[0u8; 8]);
    hostile.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    hostile.extend_from_slice(&[0x55; 80]);
    let mut samples: Vec<(String, Vec<u8>, &str)> = vec![
        ("hostile boxes".into(), hostile, "video/mp4"),
        (
            "webm header only".into(),
            fixture("webm-5s-160x90.webm")[..60].to_vec(),
            "video/webm",
        ),
        (
            "mp3 cut".into(),
            fixture("audio-3s.mp3")[..700].to_vec(),
            "audio/mpeg",
        ),
    ];
    for cut in [40usize, 400, 1200, good.len() / 2] {
        samples.push((
            format!("mp4 cut at {cut}"),
            good[..cut].to_vec(),
            "video/mp4",
        ));
    }
    let mut flipped = good.clone();
    for i in (24..flipped.len().min(1500)).step_by(7) {
        flipped[i] ^= 0xa5;
    }
    samples.push(("mp4 bytes flipped".into(), flipped, "video/mp4"));
    for (what, bytes, mime) in samples {
        let started = Instant::now();
        let kind = if mime.starts_with("audio/") {
            "clip"
        } else {
            "video"
        };
        let (s, m) = ctl
            .upload(bytes, mime, &format!("kind={kind}&lang=vi&title=x"))
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{what}: took {:?}",
            started.elapsed()
        );
        assert_eq!(s, 201, "{what}: kept, duration unknown: {m}");
        assert!(
            m["duration_ms"].is_null()
                || m["duration_ms"]
                    .as_u64()
                    .is_some_and(|d| d <= 7 * 24 * 3_600_000),
            "{what}: {m}"
        );
        assert!(
            m["width"].is_null() || m["width"].as_u64().is_some_and(|w| w <= 16_384),
            "{what}: {m}"
        );
    }
    // Still serving.
    let (s, _) = ctl.req("GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
}

/// Security row 85: the poster path is built only from a checked hash; anything else is
/// refused before a file is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_media_poster_path_from_outside_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("media/posters")).unwrap();
    std::fs::write(dir.path().join("secret.jpg"), b"\xff\xd8TOPSECRETBYTES").unwrap();
    let ctl = start(test_config(dir.path())).await;
    for path in [
        "/media/..%2F..%2Fsecret/poster",
        "/media/..%5C..%5Csecret/poster",
        "/media/ABCDEF/poster",
        &format!("/media/{}/poster", "A".repeat(64)),
        &format!("/media/{}%2F..%2F..%2Fsecret/poster", "a".repeat(64)),
    ] {
        let resp = ctl.http.get(ctl.url(path)).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        assert_eq!(status, 400, "{path}: refused before a file is named");
        assert!(
            !body.windows(14).any(|w| w == b"TOPSECRETBYTES"),
            "{path} leaked a file"
        );
    }
    let resp = ctl
        .http
        .get(ctl.url(&format!("/media/{}/poster", "b".repeat(64))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "no poster for an unknown hash");
}
