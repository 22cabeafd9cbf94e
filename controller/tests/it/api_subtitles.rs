//! Subtitle tracks through the HTTP API (`docs/protocol.md` §21): a video gets vi and hmn
//! tracks (WebVTT, SRT), garbage is refused by name, and the published manifest lists the
//! tracks with the video, each file downloadable and matching its hash.

use crate::api_support::*;

use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::subtitle::SubtitleFormat;
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

const VI: &str = "WEBVTT\n\n00:00.000 --> 00:03.000\nChào mừng đến Lào Cai\n";
const HMN: &str = "1\n00:00:00,000 --> 00:00:03,000\nNyob zoo txais tos rau Lào Cai\n";

async fn put_track(ctl: &Ctl, video: &str, lang: &str, body: impl Into<Vec<u8>>) -> (u16, Value) {
    let resp = ctl
        .http
        .post(ctl.url(&format!("/api/v1/media/{video}/subtitles?lang={lang}")))
        .bearer_auth(&ctl.admin)
        .header("content-type", "text/vtt")
        .body(body.into())
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    (
        s,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_tracks_are_checked_stored_and_listed_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let webm = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../player/tests/data/blue-3s.webm"),
    )
    .unwrap();
    let (s, v) = ctl
        .upload(
            webm,
            "video/webm",
            "kind=video&lang=vi&title=L%C3%A0o%20Cai",
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let video = v["sha256"].as_str().unwrap().to_string();

    // Garbage is refused by name, and nothing is stored.
    let slide = {
        let (_, l) = ctl
            .req("GET", "/api/v1/media", Some(&ctl.admin), None)
            .await;
        l.as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "slide")
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (png(1, 100), 422, "subtitle_not_utf8"),
        (b"just some words\n".to_vec(), 422, "subtitle_invalid"),
        (
            b"1\n00:00:05,000 --> 00:00:01,000\nbackwards\n".to_vec(),
            422,
            "subtitle_invalid",
        ),
        (b"WEBVTT\n".to_vec(), 422, "subtitle_empty"),
    ];
    for (body, status, code) in cases {
        let (s, e) = put_track(&ctl, &video, "vi", body).await;
        assert_eq!((s, e["error"].as_str()), (status, Some(code)), "{e}");
    }
    // Over 1 MiB: refused before it is read (the request body limit is the same 1 MiB).
    let (s, e) = put_track(&ctl, &video, "vi", vec![b'a'; 1024 * 1024 + 1]).await;
    assert_eq!(s, 413, "{e}");
    let (s, e) = put_track(&ctl, &slide, "vi", VI).await;
    assert_eq!(s, 400, "a slide has no subtitles: {e}");
    let (s, e) = put_track(&ctl, &video, "not a tag", VI).await;
    assert_eq!(s, 400, "{e}");
    let (_, list) = ctl
        .req(
            "GET",
            &format!("/api/v1/media/{video}/subtitles"),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(list["subtitles"], json!([]));

    let (s, vi) = put_track(&ctl, &video, "vi", VI).await;
    assert_eq!(s, 201, "{vi}");
    assert_eq!(
        (vi["format"].as_str(), vi["cues"].as_u64()),
        (Some("vtt"), Some(1))
    );
    let (s, hmn) = put_track(&ctl, &video, "hmn", HMN).await;
    assert_eq!(s, 201, "{hmn}");
    assert_eq!(hmn["format"], "srt");
    // The file is served like media, byte for byte.
    let got = ctl
        .http
        .get(ctl.url(&format!("/media/{}", hmn["sha256"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], HMN.as_bytes());

    // The video plays in the schedule; the manifest lists its tracks.
    let (s, p) = ctl
        .admin(
            "PUT",
            "/api/v1/playlists/p1",
            json!({"id":"p1","name":"Main","items":[{"media": video}]}),
        )
        .await;
    assert_eq!(s / 100, 2, "{p}");
    let device = SecretKey::from_seed([5u8; 32]);
    let (s, en) = ctl
        .req("POST", "/api/v1/enroll", None, Some(json!({"screen":"lc-a1","code":reg["enrollment_code"],"device_key":device.public().to_base64()})))
        .await;
    assert_eq!(s, 200, "{en}");
    let (s, p) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens":["lc-a1"]}))
        .await;
    assert_eq!(s, 200, "{p}");
    let pk = PublicKey::from_base64(en["controller_key"].as_str().unwrap()).unwrap();
    let (c, mut el) = mqtt_connect(
        ctl.mqtt_addr(),
        "lc-a1",
        "lc-a1",
        en["mqtt_password"].as_str().unwrap(),
    )
    .await
    .unwrap();
    let bytes = first_message(&c, &mut el, &topic("lc-a1", Kind::Manifest)).await;
    let m = playlists::manifest::verify_manifest(
        &bytes,
        &KeySet::from_keys([pk]),
        "lc-a1",
        None,
        jiff::Timestamp::now(),
    )
    .expect("manifest verifies");
    let v = m
        .media
        .iter()
        .find(|x| x.sha256 == video)
        .expect("the video is listed");
    let tracks: Vec<(&str, SubtitleFormat, &str)> = v
        .subtitles
        .iter()
        .map(|t| (t.lang.as_str(), t.format, t.sha256.as_str()))
        .collect();
    assert_eq!(
        tracks,
        [
            ("hmn", SubtitleFormat::Srt, hmn["sha256"].as_str().unwrap()),
            ("vi", SubtitleFormat::Vtt, vi["sha256"].as_str().unwrap()),
        ]
    );

    let (s, _) = ctl
        .req(
            "DELETE",
            &format!("/api/v1/media/{video}/subtitles/hmn"),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, list) = ctl
        .req(
            "GET",
            &format!("/api/v1/media/{video}/subtitles"),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(list["subtitles"].as_array().unwrap().len(), 1);
}
