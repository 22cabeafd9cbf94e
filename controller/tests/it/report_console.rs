//! The console's "Báo cáo" page in headless Chromium: an auditor picks gate days and a gate,
//! sees the printable report (Vietnamese headings, the totals of the JSON report), and
//! downloads its PDF, computed from the same bundle. Screenshot:
//! `target/console-screenshots/report.png`.

use serde_json::{json, Value};

use crate::api_support::*;
use crate::console_support::{browser_available, open_browser, screenshot_dir, wait_for};
use crate::ingest_support::{chain, player};
use playlists::keys::SecretKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_console_page_shows_and_downloads_the_report() {
    let test = "report_console_page_shows_and_downloads_the_report";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(&dir.path().join("controller"))).await;
    // 30 sample plays on 21 September 2026 (tests/src/receipts.rs) at the Lào Cai gate.
    let device = SecretKey::from_seed([5; 32]);
    let mut p = player(&ctl, "lc-a1", "Lào Cai A1", device.clone()).await;
    p.send(&chain("lc-a1", 30), &device).await;
    assert_eq!(p.next_ack().await.0, 30);
    // The gate has a display name: the page's gate picker and the report use it.
    let gate_name = "Cửa khẩu quốc tế đường bộ số II Kim Thành";
    let (st, v) = ctl
        .admin("PUT", "/api/v1/gates/lao-cai", json!({"name": gate_name}))
        .await;
    assert_eq!(st, 200, "{v}");
    let auditor = ctl.token("auditor").await;

    let (_driver, s, downloads) = open_browser(dir.path(), 1280, 1500).await;
    crate::console_browser::sign_in(&s, &ctl.base, &auditor).await;
    let link = s.wait("#nav a[data-page='report']").await;
    assert_eq!(
        s.js(
            "return document.querySelector(\"#nav a[data-page='report']\").textContent",
            vec![]
        )
        .await,
        "Báo cáo"
    );
    s.click(&link).await;
    s.wait("#report-form").await;
    s.set_value("#report-from", "2026-09-01").await;
    s.set_value("#report-to", "2026-09-30").await;
    let gate = s
        .wait("#report-form input[type='checkbox'][value='lao-cai']")
        .await;
    s.click(&gate).await;
    let label = s
        .js(
            "return document.querySelector(\"#report-form input[value='lao-cai']\").parentElement.textContent",
            vec![],
        )
        .await;
    assert_eq!(label, gate_name);
    let show = s.wait("#report-show").await;
    s.click(&show).await;
    let heading = s
        .wait_js(
            60,
            "the report on the page (or an error)",
            "(document.querySelector('#report-view h1') || {}).textContent || \
             ((e) => e && 'error: ' + e.textContent)(document.querySelector('#report-form .error-text, #report-form .notice'))",
        )
        .await;
    assert_eq!(heading, "BÁO CÁO");
    let text = s.text().await;
    for want in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Kết quả thông tin đối ngoại trên hệ thống màn hình điện tử tại các cửa khẩu",
        "từ ngày 01/09/2026 đến ngày 30/09/2026",
        &format!("{gate_name} (lao-cai)"),
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    // The totals row shows the JSON report's figures.
    let (st, json) = ctl
        .req(
            "GET",
            "/api/v1/reports/period?from=2026-09-01&to=2026-09-30&gates=lao-cai&format=json",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(st, 200, "{json}");
    assert_eq!(json["totals"]["plays"], 30);
    let row = s
        .js(
            "return Array.from(document.querySelectorAll('#report-view table')[0].rows[1].cells).map(c => c.textContent)",
            vec![],
        )
        .await;
    assert_eq!(row[0], "Tổng cộng");
    assert_eq!(row[1], "30");
    s.screenshot(&screenshot_dir().join("report.png")).await;

    // The PDF of the report on screen: a file in the download directory.
    let pdf = s.wait("#report-pdf").await;
    s.click(&pdf).await;
    let file = wait_for(60, "the downloaded PDF", || {
        let d = downloads.clone();
        async move {
            std::fs::read_dir(&d)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "pdf"))
        }
    })
    .await;
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "{}", file.display());
    let errors: Vec<Value> = s
        .browser_log()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .filter(|e| {
            !e["message"]
                .as_str()
                .unwrap_or("")
                .contains("Failed to load resource")
        })
        .collect();
    assert!(errors.is_empty(), "browser errors: {errors:?}");
    s.quit().await;
}
