//! Roles (401/403/operator OK) and bad input (4xx JSON naming the field, nothing stored).

use crate::api_support;

use api_support::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_roles() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    seed(&ctl).await;
    let publish = json!({"screens":["lc-a1"]});

    let (s, v) = ctl
        .req("POST", "/api/v1/publish", None, Some(publish.clone()))
        .await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "unauthorized");
    let (s, _) = ctl
        .req(
            "POST",
            "/api/v1/publish",
            Some("gct_0000000000000000_nope"),
            Some(publish.clone()),
        )
        .await;
    assert_eq!(s, 401);

    let auditor = ctl.token("auditor").await;
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/publish",
            Some(&auditor),
            Some(publish.clone()),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"], "forbidden");
    let (s, _) = ctl
        .req("GET", "/api/v1/screens", Some(&auditor), None)
        .await;
    assert_eq!(s, 200, "auditors read screens");

    let operator = ctl.token("operator").await;
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/publish",
            Some(&operator),
            Some(publish.clone()),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = ctl
        .req(
            "POST",
            "/api/v1/screens",
            Some(&operator),
            Some(json!({"id":"x","name":"x","gate":"g","timezone":"UTC"})),
        )
        .await;
    assert_eq!(s, 403, "operators do not register screens");

    // Revoked tokens stop working.
    let (_, tokens) = ctl
        .req("GET", "/api/v1/tokens", Some(&ctl.admin.clone()), None)
        .await;
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "operator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = ctl
        .req(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&ctl.admin.clone()),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = ctl
        .req("POST", "/api/v1/publish", Some(&operator), Some(publish))
        .await;
    assert_eq!(s, 401);

    // Unknown path and wrong method are JSON errors too.
    let (s, v) = ctl.req("GET", "/api/v1/nope", None, None).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
    let (s, v) = ctl.req("PATCH", "/api/v1/publish", None, None).await;
    assert_eq!((s, v["error"].as_str()), (405, Some("method_not_allowed")));
    let (s, _) = ctl.req("GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
    ctl.running.shutdown().await;
}

async fn expect_field(ctl: &Ctl, path: &str, body: &str, field: &str) -> Value {
    let resp = ctl
        .http
        .post(ctl.url(path))
        .bearer_auth(&ctl.admin)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    let v: Value = serde_json::from_str(&resp.text().await.unwrap()).expect("JSON error body");
    assert!((400..500).contains(&s), "{path} {body}: status {s}");
    assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains(field),
        "{path} {body}: message must name `{field}`: {v}"
    );
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bad_input_names_the_field_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (s, m) = ctl
        .upload(png(3, 100), "image/png", "kind=slide&lang=vi&title=t")
        .await;
    assert_eq!(s, 201);
    let sha = m["sha256"].as_str().unwrap().to_string();

    // Malformed JSON.
    let v = expect_field(&ctl, "/api/v1/playlists", "{\"id\": \"p1\", ", "EOF").await;
    assert_eq!(v["error"], "invalid_json");
    expect_field(
        &ctl,
        "/api/v1/playlists",
        "{\"name\": \"x\", \"items\": []}",
        "id",
    )
    .await;

    // Unknown media in a playlist.
    let unknown = "a".repeat(64);
    expect_field(
        &ctl,
        "/api/v1/playlists",
        &json!({"id":"p1","name":"P","items":[{"media": unknown, "duration_ms": 1000}]})
            .to_string(),
        "items[0].media",
    )
    .await;
    let (_, list) = ctl
        .req("GET", "/api/v1/playlists", Some(&ctl.admin.clone()), None)
        .await;
    assert_eq!(list, json!([]), "nothing stored");

    // Invalid screen ids.
    for id in ["../x", "A", &"a".repeat(200)] {
        let body = json!({"id": id, "name":"n","gate":"g","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"});
        let v = expect_field(&ctl, "/api/v1/screens", &body.to_string(), "id").await;
        assert_eq!(v["field"], "id");
    }
    // Unknown timezone.
    let v = expect_field(
        &ctl,
        "/api/v1/screens",
        &json!({"id":"ok-1","name":"n","gate":"g","timezone":"Mars/Olympus"}).to_string(),
        "timezone",
    )
    .await;
    assert_eq!(v["field"], "timezone");
    let (_, screens) = ctl
        .req("GET", "/api/v1/screens", Some(&ctl.admin.clone()), None)
        .await;
    assert_eq!(screens, json!([]), "nothing stored");
    let (_, v) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":"ok-1","name":"n","gate":"g","timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(v["id"], "ok-1");

    // Schedule with end before start (and dates the wrong way round).
    let (s, _) = ctl
        .admin(
            "POST",
            "/api/v1/playlists",
            json!({"id":"p1","name":"P","items":[{"media": sha, "duration_ms": 1000}]}),
        )
        .await;
    assert_eq!(s, 201);
    let base = json!({"id":"s1","playlist":"p1","targets":{"screens":["ok-1"]},"priority":1});
    let mut b = base.clone();
    b["start"] = "18:00".into();
    b["end"] = "08:00".into();
    let v = expect_field(&ctl, "/api/v1/schedules", &b.to_string(), "end").await;
    assert_eq!(v["field"], "end");
    let mut b = base.clone();
    b["from"] = "2026-12-05".into();
    b["until"] = "2026-12-01".into();
    expect_field(&ctl, "/api/v1/schedules", &b.to_string(), "until").await;
    let mut b = base.clone();
    b["weekdays"] = json!(["mon", "funday"]);
    expect_field(&ctl, "/api/v1/schedules", &b.to_string(), "weekdays[1]").await;
    let mut b = base.clone();
    b["playlist"] = "nope".into();
    expect_field(&ctl, "/api/v1/schedules", &b.to_string(), "playlist").await;
    let mut b = base.clone();
    b["targets"] = json!({"screens":["ghost"]});
    expect_field(
        &ctl,
        "/api/v1/schedules",
        &b.to_string(),
        "targets.screens[0]",
    )
    .await;
    let (_, list) = ctl
        .req("GET", "/api/v1/schedules", Some(&ctl.admin.clone()), None)
        .await;
    assert_eq!(list, json!([]), "nothing stored");
    // Across midnight is allowed when said explicitly.
    let mut b = base.clone();
    b["start"] = "22:00".into();
    b["end"] = "02:00".into();
    b["overnight"] = true.into();
    let (s, v) = ctl.admin("POST", "/api/v1/schedules", b).await;
    assert_eq!(s, 201, "{v}");

    // Publish: unknown screen named; a screen without schedule is a conflict.
    expect_field(
        &ctl,
        "/api/v1/publish",
        &json!({"screens":["ghost"]}).to_string(),
        "screens[0]",
    )
    .await;
    expect_field(&ctl, "/api/v1/publish", &json!({}).to_string(), "screens").await;

    // Enrolment with a bad key or a wrong code.
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":"ok-1","code":"x","device_key":"bm90IGEga2V5"})),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("device_key")));
    let key = playlists::keys::SecretKey::from_seed([1; 32])
        .public()
        .to_base64();
    let (s, _) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":"ok-1","code":"wrong","device_key": key})),
        )
        .await;
    assert_eq!(s, 403);

    // Media in use cannot be deleted.
    let (s, v) = ctl
        .req(
            "DELETE",
            &format!("/api/v1/media/{sha}"),
            Some(&ctl.admin.clone()),
            None,
        )
        .await;
    assert_eq!(s, 409, "{v}");
    ctl.running.shutdown().await;
}
