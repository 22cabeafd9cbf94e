//! Edits and creations that must not change what they do not name (`docs/security.md` §3 row
//! 82): a create with a taken id answers `409 id_exists` and leaves the record as it was; an
//! edit can neither rename a record (a different id in the body, an `id` member in a screen
//! edit) nor create one under a new id; deleting an enrolled screen (whose receipts the audit
//! checks under its device key) is refused. Real controller over HTTP.

use serde_json::json;

use crate::api_support::{seed, start, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_edit_cannot_rename_or_create_and_a_taken_id_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let get = |p: &'static str| ctl.admin("GET", p, json!(null));
    let (playlist, schedule, screen) = (
        get("/api/v1/playlists/p1").await.1,
        get("/api/v1/schedules/s1").await.1,
        get("/api/v1/screens/lc-a1").await.1,
    );

    // Creates with taken ids: 409 id_exists naming the id, and nothing changed.
    let sha = playlist["items"][0]["media"].clone();
    for (path, body) in [
        (
            "/api/v1/playlists",
            json!({"id": "p1", "name": "Other", "items": [{"media": sha, "duration_ms": 1000}]}),
        ),
        (
            "/api/v1/schedules",
            json!({"id": "s1", "playlist": "p1", "targets": {"screens": ["lc-a1"]}, "priority": 99}),
        ),
        (
            "/api/v1/screens",
            json!({"id": "lc-a1", "name": "Other", "gate": "other", "languages": [], "timezone": "UTC"}),
        ),
    ] {
        let (st, v) = ctl.admin("POST", path, body).await;
        assert_eq!(st, 409, "{path}: {v}");
        assert_eq!(
            (&v["error"], &v["field"]),
            (&json!("id_exists"), &json!("id")),
            "{v}"
        );
        assert!(
            v["id"] == "p1" || v["id"] == "s1" || v["id"] == "lc-a1",
            "{v}"
        );
    }
    let (st, v) = ctl
        .admin(
            "POST",
            "/api/v1/tokens",
            json!({"role": "admin", "label": "ci"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = ctl
        .admin(
            "POST",
            "/api/v1/tokens",
            json!({"role": "admin", "label": "ci"}),
        )
        .await;
    assert_eq!(
        (st, &v["error"], &v["field"]),
        (409, &json!("id_exists"), &json!("label")),
        "{v}"
    );
    assert!(v.get("token").is_none(), "no token made: {v}");

    // Edits never rename or create.
    let (st, v) = ctl
        .admin(
            "PUT",
            "/api/v1/schedules/s1",
            json!({"id": "s2", "playlist": "p1", "targets": {"gates": ["lao-cai"]}}),
        )
        .await;
    assert_eq!((st, &v["field"]), (400, &json!("id")), "{v}");
    let (st, v) = ctl
        .admin(
            "PUT",
            "/api/v1/schedules/s9",
            json!({"id": "s9", "playlist": "p1", "targets": {"gates": ["lao-cai"]}}),
        )
        .await;
    assert_eq!((st, &v["error"]), (404, &json!("not_found")), "{v}");
    assert_eq!(
        ctl.admin("GET", "/api/v1/schedules/s9", json!(null))
            .await
            .0,
        404
    );
    let (st, v) = ctl
        .admin(
            "PATCH",
            "/api/v1/screens/lc-a1",
            json!({"id": "lc-b1", "name": "B"}),
        )
        .await;
    assert_eq!((st, &v["error"]), (400, &json!("invalid_json")), "{v}");
    assert_eq!(
        ctl.admin("GET", "/api/v1/screens/lc-b1", json!(null))
            .await
            .0,
        404
    );
    let (st, v) = ctl
        .admin("PATCH", "/api/v1/screens/lc-zz", json!({"name": "Z"}))
        .await;
    assert_eq!(st, 404, "{v}");
    // A refused edit changes nothing either.
    let (st, v) = ctl
        .admin(
            "PATCH",
            "/api/v1/screens/lc-a1",
            json!({"name": "Sảnh", "timezone": "Hanoi"}),
        )
        .await;
    assert_eq!(
        (st, &v["reason"], &v["value"]),
        (400, &json!("invalid_timezone"), &json!("Hanoi")),
        "{v}"
    );

    assert_eq!(get("/api/v1/playlists/p1").await.1, playlist);
    assert_eq!(get("/api/v1/schedules/s1").await.1, schedule);
    let now = get("/api/v1/screens/lc-a1").await.1;
    assert_eq!(
        (&now["name"], &now["gate"], &now["timezone"]),
        (&screen["name"], &screen["gate"], &screen["timezone"])
    );

    // An edit that is allowed is logged with what was there before.
    let (st, v) = ctl
        .admin("PUT", "/api/v1/schedules/s1", json!({"id": "s1", "playlist": "p1", "targets": {"gates": ["lao-cai"]}, "priority": 20}))
        .await;
    assert_eq!(st, 200, "{v}");
    let actions = get("/api/v1/actions").await.1;
    let last = actions.as_array().unwrap().last().unwrap();
    assert_eq!(
        (&last["action"], &last["detail"]["before"]["priority"]),
        (&json!("schedule.update"), &json!(10)),
        "{last}"
    );

    // A never-enrolled screen can be deleted, but not while a schedule entry names it; an
    // enrolled one never.
    let (st, v) = ctl
        .admin("POST", "/api/v1/screens", json!({"id": "lc-a2", "name": "A2", "gate": "lao-cai", "languages": ["vi"], "timezone": "Asia/Ho_Chi_Minh"}))
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = ctl
        .admin(
            "POST",
            "/api/v1/schedules",
            json!({"id": "s-a2", "playlist": "p1", "targets": {"screens": ["lc-a2"]}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = ctl
        .admin("DELETE", "/api/v1/screens/lc-a2", json!(null))
        .await;
    assert_eq!((st, &v["error"]), (409, &json!("conflict")), "{v}");
    assert_eq!(
        ctl.admin("DELETE", "/api/v1/schedules/s-a2", json!(null))
            .await
            .0,
        200
    );
    let (st, v) = ctl
        .admin("DELETE", "/api/v1/screens/lc-a2", json!(null))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(get("/api/v1/screens/lc-a2").await.0, 404);
    let device = playlists::keys::SecretKey::from_seed([5; 32]);
    let (st, v) = ctl
        .req("POST", "/api/v1/enroll", None, Some(json!({"screen": "lc-a1", "code": reg["enrollment_code"], "device_key": device.public().to_base64()})))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = ctl
        .admin("DELETE", "/api/v1/screens/lc-a1", json!(null))
        .await;
    assert_eq!(
        (st, &v["error"], &v["id"]),
        (409, &json!("screen_has_history"), &json!("lc-a1")),
        "{v}"
    );
    assert_eq!(get("/api/v1/screens/lc-a1").await.0, 200);
}
