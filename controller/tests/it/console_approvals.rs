//! The console's "Chờ duyệt" page in a real headless Chromium against an in-process
//! controller with an approval policy: the waiting slide with its thumbnail, who approved it
//! (one of two), a ticker text waiting with its exact text and the command that signs it, and
//! the `gatecast-approve` commands; no JavaScript errors. Screenshot
//! `target/console-screenshots/20-approvals.png`.

use crate::console_browser::{api, js_errors, nav, shot, sign_in};
use crate::console_support::{
    browser_available, open_browser, slide_png, start_controller, TestController,
};

use jiff::{SignedDuration, Timestamp};
use playlists::approval::{Approval, ApprovedMedia, Scope};
use playlists::keys::SecretKey;
use playlists::manifest::MediaKind;
use playlists::policy::{sign_policy, Approver, Policy, RootKey};
use serde_json::Value;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_approvals_page_lists_what_waits_and_who_approved() {
    let test = "console_approvals_page_lists_what_waits_and_who_approved";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let TestController {
        running: _running,
        base,
        admin,
    } = start_controller(dir.path(), |_| {}).await;

    let now = Timestamp::now();
    let names = ["Nguyễn Văn An", "Trần Thị Bình"];
    let policy = Policy {
        version: 1,
        issued_at: now - SignedDuration::from_hours(1),
        expires_at: now + SignedDuration::from_hours(24 * 365),
        root_keys: vec![RootKey {
            key_id: key(31).key_id(),
            public_key: key(31).public().to_base64(),
        }],
        root_threshold: 1,
        approvers: [41u8, 42]
            .iter()
            .zip(names)
            .map(|(n, name)| Approver {
                key_id: key(*n).key_id(),
                public_key: key(*n).public().to_base64(),
                name: name.into(),
                roles: vec![],
            })
            .collect(),
        media_threshold: 2,
        alert_threshold: 1,
    };
    let env: Value = serde_json::from_slice(&sign_policy(&policy, &key(31)).to_json()).unwrap();
    let (s, e) = api(&base, &admin, "PUT", "/api/v1/policy", env).await;
    assert_eq!(s, 200, "{e}");
    let title = "Chào mừng đến Lào Cai";
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/media?kind=slide&lang=vi&title=Ch%C3%A0o%20m%E1%BB%ABng%20%C4%91%E1%BA%BFn%20L%C3%A0o%20Cai"))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(slide_png(640, 360))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let rec: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let sha = rec["sha256"].as_str().unwrap().to_string();
    assert_eq!(rec["title"], title);
    let approval = Approval {
        media: vec![ApprovedMedia {
            sha256: sha.clone(),
            title: title.into(),
            lang: "vi".into(),
            kind: MediaKind::Slide,
        }],
        texts: vec![],
        not_before: now - SignedDuration::from_hours(1),
        not_after: now + SignedDuration::from_hours(24),
        scope: Scope::everywhere(),
        note: None,
    };
    let env: Value = serde_json::from_slice(&approval.sign(&key(41)).to_json()).unwrap();
    let (s, e) = api(&base, &admin, "POST", "/api/v1/approvals", env).await;
    assert_eq!(s, 200, "{e}");

    // A ticker text nobody approved yet waits with its exact text (docs/protocol.md §20).
    let (st, e) = api(
        &base,
        &admin,
        "POST",
        "/api/v1/screens",
        serde_json::json!({"id": "lc-a1", "name": "Kim Thành 1", "gate": "kim-thanh", "languages": ["vi"], "timezone": "Asia/Ho_Chi_Minh"}),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    let correction = "Đính chính: cửa khẩu Kim Thành vẫn thông quan bình thường.";
    let ticker = serde_json::json!({"id": "fix-kt", "targets": {"screens": ["lc-a1"]},
        "expires_at": (now + SignedDuration::from_hours(2)).to_string(),
        "text": [{"lang": "vi", "text": correction}]});
    let (st, e) = api(&base, &admin, "POST", "/api/v1/ticker", ticker).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (409, Some("not_approved")),
        "{e}"
    );

    let (_driver, s, _downloads) = open_browser(dir.path(), 1366, 900).await;
    sign_in(&s, &base, &admin).await;
    nav(&s, "approvals").await;
    s.wait(&format!(
        "tr[data-sha='{sha}'] td[data-field='approved'] li"
    ))
    .await;
    let text = s.text().await;
    for want in [
        "Chờ duyệt",
        title,
        "Nguyễn Văn An",
        "1 / 2",
        "gatecast-approve review",
        "gatecast-approve sign",
        "Dòng chữ chạy chờ duyệt",
        correction,
        "Dòng chữ chạy fix-kt · Tiếng Việt",
        "--alert-text 'vi=Đính chính: cửa khẩu Kim Thành vẫn thông quan bình thường.'",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    assert!(
        !text.contains("Trần Thị Bình\n"),
        "Bình has not approved:\n{text}"
    );
    shot(&s, "20-approvals").await;
    // The ticker page says the text waits for approval.
    nav(&s, "ticker").await;
    s.wait("tr[data-ticker='fix-kt'] .badge").await;
    let text = s.text().await;
    assert!(text.contains("Chờ phê duyệt"), "ticker page:\n{text}");
    shot(&s, "20-approvals-ticker").await;
    // In English.
    s.click(&s.wait("#lang-switch").await).await;
    nav(&s, "approvals").await;
    s.wait("tr[data-text-id='fix-kt']").await;
    let text = s.text().await;
    for want in [
        "Ticker texts waiting for approval",
        "Ticker text fix-kt",
        "nobody yet",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the page:\n{text}"
        );
    }
    shot(&s, "20-approvals-en").await;
    let errors = js_errors(&s).await;
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    s.quit().await;
}
