//! The console's "Dòng chữ chạy" (ticker) and "Bố cục màn hình" (layouts) pages in a real
//! headless Chromium: a ticker text sent from the form in the chosen gate's languages appears
//! in the list; the layout picker draws the chosen template's regions with their names and
//! saves it for the screen; no JavaScript errors. Screenshots
//! `target/console-screenshots/30-ticker.png`, `31-layouts.png`, `32-layouts-images.png`
//! (the side images and the logo picked from the library, drawn fitted in the preview).

use crate::console_browser::{api, js_errors, nav, shot, sign_in};
use crate::console_support::{start_driver, Session};
use crate::console_task::upload;

use gatecast_controller::config::{BrokerMode, Config};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_ticker_and_layout_pages() {
    let test = "console_ticker_and_layout_pages";
    if !gatecast_tests::require_program(test, "chromium", "chromium")
        || !gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("controller"));
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.broker = BrokerMode::Embedded("127.0.0.1:0".parse().unwrap());
    let running = gatecast_controller::serve::start(config)
        .await
        .expect("controller starts");
    let base = format!("http://{}", running.http_addr);
    let admin = std::fs::read_to_string(&running.admin_token_path)
        .unwrap()
        .trim()
        .to_string();
    let (s, e) = api(&base, &admin, "POST", "/api/v1/screens",
        json!({"id":"lc-a1","name":"Sảnh A","gate":"lao-cai","languages":["vi","en","zh-Hans"],"timezone":"Asia/Ho_Chi_Minh"})).await;
    assert_eq!(s, 201, "{e}");

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 900).await;
    sign_in(&s, &base, &admin).await;

    nav(&s, "ticker").await;
    s.wait("#ticker-form .lang-row input").await;
    let text = s.text().await;
    for want in ["Dòng chữ chạy", "Tiếng Việt", "Chưa có dòng chữ chạy."] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    s.js(
        "const rows = document.querySelectorAll('#ticker-form .lang-row');\
         rows[0].querySelector('input').value = 'Đính chính: Quốc lộ 4D đã thông xe';\
         rows[1].querySelector('input').value = 'Correction: road 4D is open';\
         document.querySelector('#ticker-form button[type=submit]').click();",
        vec![],
    )
    .await;
    s.wait("tr[data-ticker]").await;
    let text = s.text().await;
    assert!(
        text.contains("Đính chính: Quốc lộ 4D đã thông xe"),
        "{text}"
    );
    assert!(text.contains("Đang chạy"), "{text}");
    assert!(
        !text.contains("[object"),
        "an element shown as text: {text}"
    );
    shot(&s, "30-ticker").await;

    // Two slides in the library for the side panel and the logo.
    let mut slides = Vec::new();
    for (i, (w, h, swapped)) in [(400u32, 225u32, false), (200, 100, true)]
        .into_iter()
        .enumerate()
    {
        let png = gatecast_testkit::glass::encode_png(
            w,
            h,
            &gatecast_testkit::glass::quadrants_rgb(w, h, swapped),
        );
        let v = upload(
            &base,
            &admin,
            png,
            "image/png",
            &format!("kind=slide&lang=vi&title=%E1%BA%A2nh%20{}", i + 1),
        )
        .await;
        slides.push(v["sha256"].as_str().unwrap().to_owned());
    }

    nav(&s, "layouts").await;
    // A screen without a layout opens as it is: full screen.
    s.wait(".layout-card[data-template='full'][aria-checked='true']")
        .await;
    s.js(
        "document.querySelector(\".layout-card[data-template='main_ticker']\").click();",
        vec![],
    )
    .await;
    s.wait(".layout-big svg rect[data-region='ticker']").await;
    let text = s.text().await;
    for want in ["Bố cục màn hình", "Chính + chữ chạy", "Chữ chạy", "Đồng hồ"] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    // The side panel's images and the logo, picked from the library, in the live preview.
    s.js(
        "document.querySelector(\".layout-card[data-template='main_side_ticker']\").click();\
         for (const cb of document.querySelectorAll('#side-pick input[type=checkbox]')) cb.click();\
         const e = document.querySelector('#side-every'); e.value = '7'; e.dispatchEvent(new Event('change'));\
         const l = document.querySelector('#logo-pick'); l.value = arguments[0]; l.dispatchEvent(new Event('change'));",
        vec![json!(slides[1])],
    )
    .await;
    s.wait(".layout-big svg image[data-image='side']").await;
    s.wait(".layout-big svg image[data-image='logo']").await;
    let text = s.text().await;
    for want in [
        "Ảnh ở cột bên",
        "Mỗi ảnh hiện (giây)",
        "Biểu trưng (góc trên bên trái vùng chính)",
        "Ảnh 1",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    s.js(
        "document.querySelector('#side-pick').scrollIntoView();",
        vec![],
    )
    .await;
    shot(&s, "32-layouts-images").await;
    s.js(
        "document.querySelector('#layout-form button[type=submit]').click();",
        vec![],
    )
    .await;
    s.wait(".msg.ok").await;
    shot(&s, "31-layouts").await;
    // Opened again, the page shows what the screen has saved (not the default template).
    nav(&s, "ticker").await;
    nav(&s, "layouts").await;
    s.wait_js(
        20,
        "the saved layout in the form",
        "document.querySelector(\".layout-card[data-template='main_side_ticker']\").getAttribute('aria-checked') === 'true'",
    )
    .await;
    let form = s
        .js(
            "return [document.querySelector('#side-every').value, document.querySelector('#logo-pick').value, \
             [...document.querySelectorAll('#side-pick input:checked')].map(c => c.value)]",
            vec![],
        )
        .await;
    assert_eq!(form, json!(["7", slides[1], slides]), "{form}");
    let (st, saved) = api(
        &base,
        &admin,
        "GET",
        "/api/v1/screens/lc-a1/layout",
        json!(null),
    )
    .await;
    assert_eq!(
        (st, saved["template"].as_str()),
        (200, Some("main_side_ticker")),
        "{saved}"
    );
    // What was saved: the action log records the images picked.
    let (st, actions) = api(&base, &admin, "GET", "/api/v1/actions", json!(null)).await;
    assert_eq!(st, 200);
    let saved = actions
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|a| a["action"] == "screen.layout")
        .expect("the layout was saved");
    assert_eq!(saved["detail"]["template"], "main_side_ticker", "{saved}");
    assert_eq!(saved["detail"]["side_media"], json!(slides), "{saved}");
    assert_eq!(saved["detail"]["logo_media"], json!([slides[1]]), "{saved}");
    let errors = js_errors(&s).await;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    s.quit().await;
}
