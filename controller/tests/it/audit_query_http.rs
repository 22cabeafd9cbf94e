//! `GET /api/v1/receipts` (filters, pagination, JSON/JSONL/CSV), the plays and compliance
//! reports over HTTP against an in-process controller whose store was filled beforehand. The
//! CSV is parsed with Python's csv module (Vietnamese text must survive).

use crate::api_support;
use crate::audit_query_support;

use api_support::{start, test_config};
use audit_query_support::*;
use gatecast_controller::audit::query::CSV_COLUMNS;
use gatecast_controller::store::Store;
use jiff::SignedDuration;
use playlists::receipt::{Backend, Outcome};
use serde_json::Value;

const SLIDE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const VIDEO: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const GATE: &str = "Cửa khẩu quốc tế Lào Cai – Hà Khẩu";
const TITLE: &str = "Chào mừng đến Lào Cai, \"cửa ngõ\" biên giới\nDòng hai";

/// Python 3 or a SKIPPED line (or a panic with GATECAST_REQUIRE_EXTERNAL=1).
fn python(test: &str) -> Option<&'static str> {
    gatecast_testkit::require_program(test, "python3", "python3").then_some("python3")
}

/// Five plays of `SCREEN` on 2026-01-05 from 08:00 UTC, one per minute: slide (vi), video (en),
/// slide failed, slide null backend, video (vi).
async fn fill(dir: &std::path::Path) {
    let store = Store::open(&dir.join("db")).unwrap();
    add_screen(&store, GATE).await;
    add_media(&store, SLIDE, TITLE).await;
    add_media(&store, VIDEO, "Giới thiệu Sa Pa").await;
    let at = |m: i64| ts("2026-01-05T08:00:00Z") + SignedDuration::from_mins(m);
    let play = |m: i64, media: &str, lang: &str, outcome, backend| Play {
        at: at(m),
        secs: 30,
        playlist: "chào-mừng".into(),
        media: media.into(),
        lang: lang.into(),
        outcome,
        backend,
    };
    store_plays(
        &store,
        &[
            play(0, SLIDE, "vi", Outcome::Completed, Backend::Mpv),
            play(1, VIDEO, "en", Outcome::Completed, Backend::Mpv),
            play(2, SLIDE, "vi", Outcome::Failed, Backend::Mpv),
            play(3, SLIDE, "vi", Outcome::Completed, Backend::Null),
            play(4, VIDEO, "vi", Outcome::Interrupted, Backend::Mpv),
        ],
    )
    .await;
}

async fn get(ctl: &api_support::Ctl, path: &str, token: &str) -> (u16, Vec<u8>, Option<String>) {
    let resp = ctl
        .http
        .get(ctl.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let next = resp
        .headers()
        .get("x-next-cursor")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.bytes().await.unwrap().to_vec(), next)
}

#[tokio::test]
async fn receipts_query_csv_and_reports_over_http() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path()).await;
    let ctl = start(test_config(dir.path())).await;
    let auditor = ctl.token("auditor").await;

    // JSON, everything.
    let (s, v) = ctl
        .req("GET", "/api/v1/receipts", Some(&auditor), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["count"], 5);
    assert_eq!(v["next_cursor"], Value::Null);
    let r0 = &v["receipts"][0];
    assert_eq!(r0["gate"], GATE);
    assert_eq!(r0["media_title"], TITLE);
    assert_eq!(r0["started_at_local"], "2026-01-05T15:00:00.000+07:00");
    assert_eq!(r0["duration_s"], 30.0);
    assert_eq!(r0["seq"], 1);

    // Filters.
    let q = |path: &str| {
        let ctl = &ctl;
        let auditor = auditor.clone();
        let path = path.to_string();
        async move {
            let (s, v) = ctl.req("GET", &path, Some(&auditor), None).await;
            assert_eq!(s, 200, "{path}: {v}");
            v["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_u64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(q(&format!("/api/v1/receipts?media={VIDEO}")).await, [2, 5]);
    assert_eq!(q("/api/v1/receipts?lang=EN").await, [2]);
    assert_eq!(q("/api/v1/receipts?backend=null").await, [4]);
    assert_eq!(
        q("/api/v1/receipts?outcome=failed,interrupted").await,
        [3, 5]
    );
    assert_eq!(
        q("/api/v1/receipts?from=2026-01-05T08:01:00Z&to=2026-01-05T08:03:00Z").await,
        [2, 3]
    );
    assert_eq!(q("/api/v1/receipts?gate=Other").await, Vec::<u64>::new());
    assert_eq!(
        q(&format!("/api/v1/receipts?gate={}", urlencode(GATE)))
            .await
            .len(),
        5
    );
    assert_eq!(
        q("/api/v1/receipts?playlist=ch%C3%A0o-m%E1%BB%ABng&screen=lc-a1")
            .await
            .len(),
        5
    );

    // Pagination: 2 + 2 + 1, no repeats.
    let mut seqs = Vec::new();
    let mut path = "/api/v1/receipts?limit=2".to_string();
    for _ in 0..5 {
        let (s, v) = ctl.req("GET", &path, Some(&auditor), None).await;
        assert_eq!(s, 200, "{v}");
        seqs.extend(
            v["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_u64().unwrap()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/receipts?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    // JSONL.
    let (s, body, next) = get(&ctl, "/api/v1/receipts?format=jsonl&limit=3", &auditor).await;
    assert_eq!(s, 200);
    assert_eq!(String::from_utf8(body).unwrap().lines().count(), 3);
    assert!(next.is_some(), "more rows follow: x-next-cursor is set");

    // Errors.
    let (s, v) = ctl
        .req(
            "GET",
            "/api/v1/receipts?screens=lc-a1",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("screens")), "{v}");
    let (s, v) = ctl
        .req("GET", "/api/v1/receipts?outcome=ok", Some(&auditor), None)
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("outcome")), "{v}");
    let (s, _) = ctl.req("GET", "/api/v1/receipts", None, None).await;
    assert_eq!(s, 401);
    let (s, _) = ctl
        .req("POST", "/api/v1/receipts", Some(&auditor), None)
        .await;
    assert_eq!(s, 405);

    // Plays report.
    let (s, v) = ctl
        .req(
            "GET",
            "/api/v1/reports/plays?group_by=media,lang",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"]["plays"], 5);
    assert_eq!(
        v["total"]["shown"], 3,
        "completed+interrupted on mpv; null never shown"
    );
    assert_eq!(v["total"]["null_backend"], 1);
    assert_eq!(v["total"]["duration_s"], 90.0);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{v}");
    let slide_vi = groups
        .iter()
        .find(|g| g["key"]["media"] == SLIDE && g["key"]["lang"] == "vi")
        .unwrap();
    assert_eq!(slide_vi["key"]["media_title"], TITLE);
    assert_eq!(
        (slide_vi["plays"].as_u64(), slide_vi["shown"].as_u64()),
        (Some(3), Some(1))
    );
    let (s, v) = ctl
        .req(
            "GET",
            "/api/v1/reports/plays?group_by=week",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("group_by")), "{v}");

    // Compliance report (no manifest stored here: nothing expected; the chain is checked).
    let (s, v) = ctl
        .req(
            "GET",
            "/api/v1/reports/compliance?from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00Z",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["screens"][0]["screen"], SCREEN);
    assert_eq!(v["screens"][0]["chain"]["intact"], true);
    assert_eq!(v["screens"][0]["chain"]["receipts"], 5);
    let (s, v) = ctl
        .req(
            "GET",
            "/api/v1/reports/compliance?from=2026-01-05T00:00:00Z",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("to")), "{v}");

    // CSV with BOM, parsed by Python's csv module.
    let (s, csv, _) = get(&ctl, "/api/v1/receipts?format=csv&bom=true", &auditor).await;
    assert_eq!(s, 200);
    assert!(csv.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 BOM first");
    assert!(csv.ends_with(b"\r\n"));
    let Some(py) = python("receipts_query_csv_and_reports_over_http") else {
        return;
    };
    let file = dir.path().join("receipts.csv");
    std::fs::write(&file, &csv).unwrap();
    let script = r#"
import csv, json, sys
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    r = csv.reader(f, strict=True)
    rows = list(r)
print(json.dumps({"header": rows[0], "rows": [dict(zip(rows[0], x)) for x in rows[1:]]}, ensure_ascii=False))
"#;
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let header: Vec<&str> = parsed["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows = parsed["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["gate"], GATE);
    assert_eq!(
        rows[0]["media_title"], TITLE,
        "comma, quotes, newline and diacritics survive"
    );
    assert_eq!(rows[0]["playlist"], "chào-mừng");
    assert_eq!(rows[0]["started_at_utc"], "2026-01-05T08:00:00.000Z");
    assert_eq!(rows[0]["started_at_local"], "2026-01-05T15:00:00.000+07:00");
    assert_eq!(rows[0]["timezone"], "Asia/Ho_Chi_Minh");
    assert_eq!(rows[0]["duration_s"], "30.000");
    assert_eq!(rows[1]["media_title"], "Giới thiệu Sa Pa");
    assert_eq!(rows[3]["backend"], "null");
    assert_eq!(rows[4]["outcome"], "interrupted");
    assert_eq!(rows[4]["seq"], "5");
    ctl.running.shutdown().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
