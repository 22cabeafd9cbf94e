//! The library and the auditor pages in headless Chromium against a real controller: a video
//! uploaded through the console shows its duration at once and its playlist's total is right;
//! the plays report shows titles and its rows sum to its total; the compliance report of a
//! screen registered minutes ago shows no dark time before its registration, with the reason
//! in words. Screenshots: `target/console-screenshots/media-*.png`.

use std::time::Duration;

use playlists::keys::SecretKey;
use playlists::receipt::{receipt_hash, Backend, Outcome, Receipt, GENESIS_PREV};
use serde_json::{json, Value};

use crate::api_support::*;
use crate::console_browser::{assert_no_js_errors, nav, shot, sign_in};
use crate::console_support::{start_driver, Session};
use crate::ingest_support::player;

const SCREEN: &str = "lc-kimthanh-1";
const VIDEO: &str = "Giới thiệu cửa khẩu Kim Thành";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/media")
        .join(name)
}

/// `n` receipts of `screen` playing `media` in turn in vi, en and zh-Hans, ending a little
/// before now (so they fall in today's gate day and the default periods).
fn plays(screen: &str, n: u64, media: &[&str]) -> Vec<Vec<u8>> {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60 + n as i64 * 15);
    let mut prev = GENESIS_PREV.to_string();
    let mut out = Vec::new();
    for seq in 1..=n {
        let at = start + jiff::SignedDuration::from_secs(seq as i64 * 15);
        let r = Receipt {
            seq,
            screen: screen.into(),
            manifest_version: 1,
            playlist: "p1".into(),
            media: media[(seq as usize) % media.len()].into(),
            lang: ["vi", "en", "zh-Hans"][(seq as usize) % 3].into(),
            started_at: at,
            ended_at: at + jiff::SignedDuration::from_secs(12),
            outcome: if seq % 5 == 0 {
                Outcome::Interrupted
            } else {
                Outcome::Completed
            },
            backend: Backend::Mpv,
            clock_synced: true,
            prev: prev.clone(),
            subtitle_lang: None,
        };
        let b = r.to_bytes();
        prev = receipt_hash(&b);
        out.push(b);
    }
    out
}

fn num(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.trim().replace(['.', ','], "").parse().ok())
        .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_media_duration_playlist_total_plays_and_compliance() {
    let test = "console_media_duration_playlist_total_plays_and_compliance";
    if !gatecast_testkit::require_program(test, "chromium", "chromium")
        || !gatecast_testkit::require_program(test, "chromedriver", "chromium-driver")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(&dir.path().join("controller"))).await;
    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 768).await;
    sign_in(&s, &ctl.base, &ctl.admin).await;

    // --- a video through the console: its duration is known right away ----------------
    nav(&s, "media").await;
    let file = s.wait("#upload-form input[type='file']").await;
    s.send_file(&file, &fixture("video-12s-160x90.mp4")).await;
    s.set_value("#upload-form select[name='kind']", "video")
        .await;
    let title = s.wait("#upload-form input[name='title']").await;
    s.type_into(&title, VIDEO).await;
    s.click(&s.wait("#upload-form button[type='submit']").await)
        .await;
    let sha = s
        .wait_js(30, "the uploaded video in the library", &format!(
            "[...document.querySelectorAll('tr[data-sha]')].filter(r => r.innerText.includes('{VIDEO}')).map(r => r.dataset.sha)[0]"
        ))
        .await;
    let sha = sha.as_str().unwrap().to_string();
    let shown = s
        .js(&format!("return document.querySelector(\"tr[data-sha='{sha}'] [data-duration]\").textContent"), vec![])
        .await;
    assert_eq!(shown, "12 giây", "the video's duration in the library row");
    let queue = s
        .js(
            "return document.querySelector('#upload-queue').innerText",
            vec![],
        )
        .await;
    assert!(
        queue.as_str().unwrap().contains("100 %"),
        "per-file progress: {queue}"
    );
    // Search and filter: a title word finds it; "not in any playlist" keeps it for now.
    s.type_into(&s.wait("#media-filters input[name='q']").await, "kim thành")
        .await;
    s.set_value("#media-filters select[name='f-use']", "unused")
        .await;
    assert_eq!(
        s.js(
            "return document.querySelectorAll('#media-list tr[data-sha]').length",
            vec![]
        )
        .await,
        json!(1)
    );
    shot(&s, "media-library-1366").await;

    // A playlist of the video and a 7 s slide: 19 s.
    let (st, slide) = ctl
        .upload(
            crate::console_support::slide_png(320, 180),
            "image/png",
            "kind=slide&lang=vi&title=Bien%20bao",
        )
        .await;
    assert_eq!(st, 201, "{slide}");
    let (st, v) = ctl
        .admin(
            "POST",
            "/api/v1/playlists",
            json!({"id":"p1","name":"Kim Thành","items":[
            {"media": sha}, {"media": slide["sha256"], "duration_ms": 7000}]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    nav(&s, "playlists").await;
    let total = s
        .wait_js(
            10,
            "the playlist total",
            "(document.querySelector(\"[data-playlist='p1']\") || {}).dataset?.totalMs",
        )
        .await;
    assert_eq!(total, "19000");
    let text = s
        .js(
            "return document.querySelector(\"[data-playlist='p1']\").textContent",
            vec![],
        )
        .await;
    assert!(text.as_str().unwrap().contains("19 giây"), "{text}");
    assert_no_js_errors(&s, "media and playlists").await;

    // --- a screen registered now, with plays of the video and the slide ---------------
    let device = SecretKey::from_seed([7; 32]);
    let mut p = player(&ctl, SCREEN, "Kim Thành 1", device.clone()).await;
    let slide_sha = slide["sha256"].as_str().unwrap().to_string();
    p.send(&plays(SCREEN, 20, &[&sha, &slide_sha]), &device)
        .await;
    assert_eq!(p.next_ack().await.0, 20);

    // Newest first, paged: 20..14, 13..7, 6..1, with no repeat and no gap.
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/receipts?order=desc&limit=7".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (st, page) = ctl.req("GET", &path, Some(&ctl.admin), None).await;
        assert_eq!(st, 200, "{page}");
        seqs.extend(
            page["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=20).rev().collect::<Vec<u64>>());
    let (st, v) = ctl
        .req(
            "GET",
            "/api/v1/receipts?order=sideways",
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("order")), "{v}");
    // The playback log shows the newest first, with titles and the screen's name.
    nav(&s, "log").await;
    let first = s
        .wait_js(
            20,
            "the playback log rows",
            "(() => { const r = document.querySelector('tr[data-seq]'); \
            return r ? [r.dataset.seq, r.innerText] : null; })()",
        )
        .await;
    assert_eq!(first[0], "20", "newest first: {first}");
    let first_text = first[1].as_str().unwrap();
    assert!(
        first_text.contains("Kim Thành 1"),
        "the screen's name: {first_text}"
    );
    assert!(
        first_text.contains(VIDEO) || first_text.contains("Bien bao"),
        "a title: {first_text}"
    );
    shot(&s, "media-log-1366").await;

    nav(&s, "compliance").await;
    // The plays report: titles, not hashes, and rows that sum to the total.
    let rows = s
        .wait_js(20, "the plays report rows", "(() => { const t = document.querySelector('#plays-report table'); \
            return t ? [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent)) : null; })()")
        .await;
    let rows = rows.as_array().unwrap().clone();
    let (body, total) = rows.split_at(rows.len() - 1);
    assert_eq!(body.len(), 2, "one row per media: {rows:?}");
    let titles: Vec<&str> = body.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(
        titles.contains(&VIDEO) && titles.contains(&"Bien bao"),
        "titles: {titles:?}"
    );
    assert!(!titles.iter().any(|t| t.len() >= 64), "no hash: {titles:?}");
    for col in 1..=6 {
        let sum: u64 = body.iter().map(|r| num(&r[col])).sum();
        assert_eq!(
            sum,
            num(&total[0][col]),
            "column {col} sums to the total: {rows:?}"
        );
    }
    assert_eq!(num(&total[0][1]), 20, "20 plays in all: {rows:?}");
    // Grouped by language: three rows, names in Vietnamese.
    s.set_value("#plays-form select[name='group']", "lang")
        .await;
    s.click(&s.wait("#plays-run").await).await;
    let langs = s
        .wait_js(20, "rows by language", "(() => { const t = document.querySelector('#plays-report table'); \
            const r = t ? [...t.tBodies[0].rows].map(r => r.cells[0].textContent) : []; return r.length === 4 ? r : null; })()")
        .await;
    assert!(
        langs.as_array().unwrap().iter().any(|l| l == "Tiếng Việt"),
        "{langs}"
    );

    // Compliance: no dark time before the registration minutes ago, the reason in words.
    let panel = s
        .wait_js(
            20,
            "the screen's compliance panel",
            &format!(
                "(document.querySelector(\".panel[data-screen='{SCREEN}']\") || {{}}).innerText"
            ),
        )
        .await;
    let panel = panel.as_str().unwrap().to_string();
    assert!(
        !panel.contains("no_status") && !panel.contains("giờ"),
        "no raw code, no hours of dark time:\n{panel}"
    );
    let (st, rep) = ctl
        .req(
            "GET",
            &format!(
                "/api/v1/reports/compliance?from={}&to={}",
                (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 8))
                    .round(jiff::Unit::Second)
                    .unwrap(),
                (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
                    .round(jiff::Unit::Second)
                    .unwrap()
            ),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{rep}");
    let sc = rep["screens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["screen"] == SCREEN)
        .unwrap();
    assert!(
        sc["dark_s"].as_i64().unwrap() < 600,
        "dark only since registration: {sc}"
    );
    let period = s
        .js(
            "return document.querySelector('#compliance-period').textContent",
            vec![],
        )
        .await;
    assert!(
        period.as_str().unwrap().contains("ngày tại cửa khẩu")
            && period.as_str().unwrap().contains('/'),
        "gate days, dd/mm/yyyy: {period}"
    );
    s.wait("#audit-charts svg").await;
    s.size(1366, 2400).await;
    shot(&s, "media-compliance-1366").await;
    s.size(390, 2400).await;
    shot(&s, "media-compliance-390").await;
    s.size(1366, 768).await;
    assert_no_js_errors(&s, "compliance").await;

    // Export: the commands name the files exactly as saved (bundle and checkpoint).
    nav(&s, "export").await;
    s.click(&s.wait("#export-download").await).await;
    let saved = |prefix: &'static str| {
        let d = downloads.clone();
        move || {
            let d = d.clone();
            async move {
                std::fs::read_dir(&d)
                    .ok()?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .find(|n| n.starts_with(prefix) && n.ends_with(".json"))
            }
        }
    };
    let bundle =
        crate::console_support::wait_for(30, "the downloaded bundle", saved("gatecast-audit-"))
            .await;
    let cmd = s
        .wait_js(
            10,
            "the verify command",
            "(document.querySelector('#verify-cmd') || {}).textContent",
        )
        .await;
    assert!(
        cmd.as_str()
            .unwrap()
            .starts_with(&format!("gatecast-audit verify {bundle} --controller-key ")),
        "{cmd}"
    );
    s.click(&s.wait("#save-checkpoint").await).await;
    let cp_name =
        crate::console_support::wait_for(20, "the saved checkpoint", saved("checkpoint-")).await;
    let cmd2 = s
        .js(
            "return document.querySelector('#verify-cmd-checkpoint').textContent",
            vec![],
        )
        .await;
    assert!(
        cmd2.as_str()
            .unwrap()
            .starts_with(&format!("gatecast-audit verify {bundle} "))
            && cmd2
                .as_str()
                .unwrap()
                .ends_with(&format!("--previous-checkpoint {cp_name}")),
        "{cmd2}"
    );
    shot(&s, "media-export-1366").await;
    assert_no_js_errors(&s, "export").await;

    // The same pages in English: words, not codes.
    s.size(1366, 2400).await;
    s.click(&s.wait("#lang-switch").await).await;
    nav(&s, "compliance").await;
    s.wait("#audit-charts svg").await;
    let text = s.text().await;
    for want in [
        "Share of languages played",
        "Plays per day per gate",
        "gate days",
        "English",
    ] {
        assert!(text.contains(want), "{want:?} missing in English:\n{text}");
    }
    assert!(!text.contains("no_status"), "{text}");
    shot(&s, "media-compliance-en-1366").await;
    nav(&s, "media").await;
    s.wait("#media-list tr[data-sha]").await;
    assert!(s.text().await.contains("12 s"), "the duration in English");
    shot(&s, "media-library-en-1366").await;
    s.click(&s.wait("#lang-switch").await).await;
    assert_no_js_errors(&s, "English pages").await;

    nav(&s, "media").await;
    s.size(390, 1600).await;
    tokio::time::timeout(Duration::from_secs(5), s.wait("#media-list"))
        .await
        .unwrap();
    shot(&s, "media-library-390").await;
    s.quit().await;
}
