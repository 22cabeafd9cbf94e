//! The console's CAP inbox in a real headless Chromium: the Lào Cai flood warning waits with
//! its gate match said in words (Vietnamese, then English), the OASIS Amber alert says it
//! covers no gate, one click shows the warning (the alert exists, for the covered gate only).
//! A `Moderate` message offers the ticker line by default, said in words, and is put there; a
//! polled feed that redirects elsewhere shows its error in words.
//! Screenshots `target/console-screenshots/30-cap-inbox-vi.png`, `31-cap-inbox-en.png`,
//! `32-cap-inbox-shown.png`, `33-cap-choice-vi.png`.

use crate::api_cap::{cap_config, flood, post_cap, screens};
use crate::api_cap_feed::{Answer, FeedServer};
use crate::api_support::start;
use crate::console_browser::{js_errors, nav, shot, sign_in};
use crate::console_support::{start_driver, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_cap_inbox_says_the_gates_in_words_and_confirms() {
    let test = "console_cap_inbox_says_the_gates_in_words_and_confirms";
    if !gatecast_tests::require_program(test, "chromium", "chromium")
        || !gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = FeedServer::start().await;
    server.set(
        "/cap.xml",
        Answer::Redirect(format!("http://localhost:{}/x.xml", server.port)),
    );
    let mut config = cap_config(&dir.path().join("controller"), &[]);
    config.cap.feeds = vec![gatecast_controller::cap::feed::FeedSettings {
        url: format!("{}/cap.xml", server.base),
        every_secs: Some(1),
        timeout_secs: None,
        allow_hosts: Vec::new(),
    }];
    let ctl = start(config).await;
    screens(&ctl).await;
    let (s, e) = post_cap(&ctl, Some(&ctl.admin), flood()).await;
    assert_eq!(s, 201, "{e}");
    let id = e["id"].as_str().unwrap().to_string();
    let moderate = flood()
        .replace(
            "<severity>Extreme</severity>",
            "<severity>Moderate</severity>",
        )
        .replace("LCI-KTTV-2026-0907-01", "LCI-KTTV-2026-0907-02");
    let (s, e) = post_cap(&ctl, Some(&ctl.admin), moderate).await;
    assert_eq!(s, 201, "{e}");
    let mid = e["id"].as_str().unwrap().to_string();
    let amber = include_str!("../fixtures/cap/oasis-a4-amber-multilingual.xml").replace(
        "2003-06-11T22:39:00-07:00",
        &jiff::Timestamp::now().to_string(),
    );
    let (s, e) = post_cap(&ctl, Some(&ctl.admin), amber).await;
    assert_eq!(s, 201, "{e}");

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 900).await;
    sign_in(&s, &ctl.base, &ctl.admin).await;
    // The feed fails from its first poll: its error is on the page when it loads.
    crate::api_cap_feed::wait_feed(&ctl, "the feed's error", |f| {
        f["error"]["code"] == "feed_refused_host"
    })
    .await;
    nav(&s, "cap").await;
    s.wait(&format!("tr[data-cap='{id}'] li[data-gate='ban-vuoc']"))
        .await;
    s.wait("#cap-feeds li[data-feed-ok='false']").await;
    let text = s.text().await;
    for want in [
        "Hộp thư CAP",
        "Nguồn tin CAP tự động",
        "Lỗi: nguồn tin chuyển hướng sang máy chủ khác không được phép",
        "Mặc định: cảnh báo toàn màn hình, vì mức độ “Cực kỳ nghiêm trọng” và thời điểm “Khẩn cấp ngay”.",
        "Mặc định: dòng chữ chạy cuối màn hình, vì tin không ở mức nghiêm trọng và khẩn cấp (mức độ “Trung bình”, thời điểm “Khẩn cấp ngay”).",
        "Cảnh báo lũ quét và sạt lở đất khu vực Bát Xát",
        "Cửa khẩu ban-vuoc: nằm trong vùng “Huyện Bát Xát (Bản Vược, Cốc Mỳ)”.",
        "Cực kỳ nghiêm trọng · Khẩn cấp ngay",
        "Chờ xác nhận",
        "Không cửa khẩu nào nằm trong vùng cảnh báo “Los Angeles County”",
        "Ngoài các cửa khẩu",
        "Xác nhận hiển thị",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    assert!(!text.contains("lao-cai"), "no other gate is named:\n{text}");
    assert!(!text.contains("[object"), "a value not in words:\n{text}");
    shot(&s, "30-cap-inbox-vi").await;
    s.js(
        &format!("document.querySelector(\"tr[data-cap='{mid}']\").scrollIntoView()"),
        vec![],
    )
    .await;
    shot(&s, "33-cap-choice-vi").await;

    s.click(&s.wait("#lang-switch").await).await;
    s.wait_js(
        10,
        "the English inbox",
        "document.body.innerText.includes('CAP inbox')",
    )
    .await;
    s.wait(&format!("tr[data-cap='{id}'] li[data-gate='ban-vuoc']"))
        .await;
    let text = s.text().await;
    for want in [
        "Gate ban-vuoc: inside the area “Huyện Bát Xát (Bản Vược, Cốc Mỳ)”.",
        "Flash flood and landslide warning for Bat Xat",
        "Waiting for confirmation",
        "Show on screens",
        "Polled CAP feeds",
        "Error: the feed redirects to another host that is not allowed",
        "Default: the ticker line, because the message is not both severe and urgent (severity “Moderate”, urgency “Immediate”).",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    shot(&s, "31-cap-inbox-en").await;

    s.js("window.confirm = () => true;", vec![]).await;
    s.click(
        &s.wait(&format!(
            "tr[data-cap='{id}'] button[data-action='confirm']"
        ))
        .await,
    )
    .await;
    s.wait(&format!("tr[data-cap='{id}'][data-state='shown']"))
        .await;
    let (st, alerts) = ctl
        .req("GET", "/api/v1/alerts", Some(&ctl.admin), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(alerts[0]["id"], id.as_str());
    assert_eq!(
        alerts[0]["targets"]["gates"],
        serde_json::json!(["ban-vuoc"])
    );
    assert!(s.text().await.contains("On screens"));
    // The moderate one goes to the ticker line: the choice offered by default.
    s.click(
        &s.wait(&format!(
            "tr[data-cap='{mid}'] button[data-action='confirm']"
        ))
        .await,
    )
    .await;
    s.wait(&format!("tr[data-cap='{mid}'][data-state='shown']"))
        .await;
    let (st, tickers) = ctl
        .req("GET", "/api/v1/ticker", Some(&ctl.admin), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(tickers[0]["id"], mid.as_str(), "{tickers}");
    assert!(s.text().await.contains("On the ticker line"));
    shot(&s, "32-cap-inbox-shown").await;
    let errors = js_errors(&s).await;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_subtitles_of_a_video_upload_and_list() {
    let test = "console_subtitles_of_a_video_upload_and_list";
    if !gatecast_tests::require_program(test, "chromium", "chromium")
        || !gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(crate::api_support::test_config(
        &dir.path().join("controller"),
    ))
    .await;
    let webm = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../player/tests/data/blue-3s.webm"),
    )
    .unwrap();
    let (s, v) = ctl
        .upload(
            webm,
            "video/webm",
            "kind=video&lang=vi&title=Gi%E1%BB%9Bi%20thi%E1%BB%87u%20L%C3%A0o%20Cai",
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let video = v["sha256"].as_str().unwrap().to_string();
    let vtt = dir.path().join("vi.vtt");
    std::fs::write(
        &vtt,
        "WEBVTT\n\n00:00.000 --> 00:03.000\nChào mừng đến Lào Cai\n",
    )
    .unwrap();
    let srt = dir.path().join("hmn.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:03,000\nNyob zoo txais tos\n\n2\n00:00:03,000 --> 00:00:05,000\nLào Cai\n").unwrap();
    let bad = dir.path().join("bad.srt");
    std::fs::write(&bad, "this is not a subtitle file\n").unwrap();

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 900).await;
    sign_in(&s, &ctl.base, &ctl.admin).await;
    nav(&s, "media").await;
    s.click(
        &s.wait(&format!(
            "tr[data-sha='{video}'] button[data-action='subtitles']"
        ))
        .await,
    )
    .await;
    s.wait("#subtitles [data-empty]").await;
    // A file without cues is refused with the line named; the hmn SRT is taken.
    for (path, lang) in [(&bad, "hmn"), (&srt, "hmn"), (&vtt, "vi")] {
        s.set_value("#subtitle-upload select[name='lang']", lang)
            .await;
        s.send_file(&s.wait("#subtitle-upload input[name='file']").await, path)
            .await;
        s.click(&s.wait("#subtitle-upload button[type='submit']").await)
            .await;
        if path == &bad {
            s.wait_js(
                10,
                "the refusal",
                "document.body.innerText.includes('dòng 1')",
            )
            .await;
        } else {
            s.wait(&format!("#subtitles tr[data-lang='{lang}']")).await;
        }
    }
    let text = s.text().await;
    for want in [
        "Phụ đề: Giới thiệu Lào Cai",
        "SRT",
        "WebVTT",
        "(hmn)",
        "(vi)",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    shot(&s, "33-subtitles-vi").await;
    let (st, list) = ctl
        .req(
            "GET",
            &format!("/api/v1/media/{video}/subtitles"),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(list["subtitles"].as_array().unwrap().len(), 2, "{list}");
    let errors = js_errors(&s).await;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    s.quit().await;
}
