//! `GET /api/v1/whoami` and the publish dry run (`POST /api/v1/publish` with `"dry_run":
//! true`): the dry run reports per screen what a publish would change, and signs, stores,
//! logs and sends nothing.

use crate::api_support;

use api_support::*;
use playlists::keys::SecretKey;
use playlists::topics::{topic, Kind};
use rumqttc::{AsyncClient, QoS};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_whoami_names_role_and_token_id() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;

    let admin_id = ctl.admin.split('_').nth(1).unwrap().to_string();
    let (s, me) = ctl
        .req("GET", "/api/v1/whoami", Some(&ctl.admin.clone()), None)
        .await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me, json!({"role": "admin", "token_id": admin_id}));

    for role in ["operator", "auditor"] {
        let tok = ctl.token(role).await;
        let (s, me) = ctl.req("GET", "/api/v1/whoami", Some(&tok), None).await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["role"], role);
        assert_eq!(me["token_id"], tok.split('_').nth(1).unwrap());
    }

    // No token, a malformed token, a wrong secret and a revoked token: 401.
    let (s, _) = ctl.req("GET", "/api/v1/whoami", None, None).await;
    assert_eq!(s, 401);
    let (s, _) = ctl
        .req("GET", "/api/v1/whoami", Some("not-a-token"), None)
        .await;
    assert_eq!(s, 401);
    let wrong = format!("gct_{admin_id}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let (s, _) = ctl.req("GET", "/api/v1/whoami", Some(&wrong), None).await;
    assert_eq!(s, 401);
    let tok = ctl.token("operator").await;
    let id = tok.split('_').nth(1).unwrap().to_string();
    let (s, v) = ctl
        .req(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&ctl.admin.clone()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = ctl.req("GET", "/api/v1/whoami", Some(&tok), None).await;
    assert_eq!(s, 401, "a revoked token is refused");

    // Only GET.
    let (s, v) = ctl.admin("POST", "/api/v1/whoami", json!({})).await;
    assert_eq!(s, 405, "{v}");
    ctl.running.shutdown().await;
}

/// The size of a fresh log checkpoint (issued on demand).
async fn log_size(ctl: &Ctl) -> u64 {
    let resp = ctl
        .http
        .post(ctl.url("/api/v1/log/checkpoint"))
        .bearer_auth(&ctl.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.bytes().await.unwrap();
    let env = playlists::envelope::Envelope::parse(&bytes).expect("checkpoint envelope");
    let cp: Value = serde_json::from_slice(&env.payload).unwrap();
    cp["size"].as_u64().expect("checkpoint size")
}

/// A `/metrics` counter.
async fn metric(ctl: &Ctl, name: &str) -> u64 {
    let text = metrics(ctl).await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Everything a dry run must leave alone.
#[derive(Debug, PartialEq)]
struct Stored {
    published_version: Value,
    publishes: u64,
    actions: usize,
    log_size: u64,
}

async fn stored(ctl: &Ctl) -> Stored {
    let admin = ctl.admin.clone();
    let (s, screen) = ctl
        .req("GET", "/api/v1/screens/lc-a1", Some(&admin), None)
        .await;
    assert_eq!(s, 200, "{screen}");
    let (s, actions) = ctl.req("GET", "/api/v1/actions", Some(&admin), None).await;
    assert_eq!(s, 200, "{actions}");
    Stored {
        published_version: screen["published_version"].clone(),
        publishes: metric(ctl, "gatecast_publishes_total").await,
        actions: actions.as_array().unwrap().len(),
        log_size: log_size(ctl).await,
    }
}

async fn dry_run(ctl: &Ctl, body: Value) -> Value {
    let (s, v) = ctl.admin("POST", "/api/v1/publish", body).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn version_of(envelope: &[u8]) -> u64 {
    let env = playlists::envelope::Envelope::parse(envelope).unwrap();
    playlists::manifest::Manifest::from_json(&env.payload)
        .unwrap()
        .version
}

async fn subscribe(c: &AsyncClient, t: &str) {
    c.subscribe(t, QoS::AtLeastOnce).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_publish_dry_run_plans_without_storing_or_sending() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let (s, p1) = ctl
        .req(
            "GET",
            "/api/v1/playlists/p1",
            Some(&ctl.admin.clone()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{p1}");
    let sha1 = p1["items"][0]["media"].as_str().unwrap().to_string();

    // Before the first publish: everything is new; nothing is stored by asking.
    let before = stored(&ctl).await;
    assert_eq!(before.published_version, Value::Null);
    let plan = dry_run(&ctl, json!({"screens": ["lc-a1"], "dry_run": true})).await;
    assert_eq!(
        plan["plan"],
        json!([{
            "screen": "lc-a1", "current_version": null, "next_version": 1, "changed": true,
            "renews_expiry": false,
            "added_media": [{"sha256": sha1, "title": "Welcome"}], "removed_media": [],
            "playlists_changed": ["p1"], "schedule_changed": true, "settings_changed": true,
        }]),
        "{plan}"
    );
    assert_eq!(stored(&ctl).await, before, "a dry run stores nothing");

    // An auditor may not even ask; an empty target is refused like a real publish.
    let auditor = ctl.token("auditor").await;
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/publish",
            Some(&auditor),
            Some(json!({"all": true, "dry_run": true})),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = ctl
        .admin("POST", "/api/v1/publish", json!({"dry_run": true}))
        .await;
    assert_eq!(s, 400, "{v}");

    // Publish v1 for real, then watch the screen's manifest topic with its own credentials.
    let (s, v) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens": ["lc-a1"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["published"][0]["version"], 1);
    let code = reg["enrollment_code"].as_str().unwrap();
    let device = SecretKey::from_seed([9u8; 32]);
    let (s, en) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":"lc-a1","code":code,"device_key":device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{en}");
    let manifest_topic = topic("lc-a1", Kind::Manifest);
    let (c, mut el) = mqtt_connect(
        ctl.mqtt_addr(),
        "lc-a1",
        "lc-a1",
        en["mqtt_password"].as_str().unwrap(),
    )
    .await
    .expect("screen credentials accepted");
    subscribe(&c, &manifest_topic).await;
    assert_eq!(
        version_of(&next_message(&mut el, &manifest_topic).await),
        1,
        "the retained v1"
    );

    // Unchanged content: a publish would re-send v1.
    let plan = dry_run(&ctl, json!({"all": true, "dry_run": true})).await;
    let e = &plan["plan"][0];
    assert_eq!(e["current_version"], 1, "{plan}");
    assert_eq!(e["next_version"], Value::Null, "{plan}");
    assert_eq!(e["changed"], false, "{plan}");
    assert_eq!(e["added_media"], json!([]));
    assert_eq!(e["playlists_changed"], json!([]));
    assert_eq!(e["schedule_changed"], false);

    // Edit the playlist: replace the slide by a new one. The plan names both media.
    let (s, m2) = ctl
        .upload(png(2, 800), "image/png", "kind=slide&lang=en&title=Goodbye")
        .await;
    assert_eq!(s, 201, "{m2}");
    let sha2 = m2["sha256"].as_str().unwrap().to_string();
    let (s, v) = ctl
        .admin(
            "PUT",
            "/api/v1/playlists/p1",
            json!({"id":"p1","name":"Main","items":[{"media": sha2, "duration_ms": 8000}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let before = stored(&ctl).await;
    assert_eq!(before.published_version, json!(1));
    let plan = dry_run(&ctl, json!({"gates": ["lao-cai"], "dry_run": true})).await;
    assert_eq!(
        plan["plan"],
        json!([{
            "screen": "lc-a1", "current_version": 1, "next_version": 2, "changed": true,
            "renews_expiry": false,
            "added_media": [{"sha256": sha2, "title": "Goodbye"}],
            "removed_media": [{"sha256": sha1, "title": "Welcome"}],
            "playlists_changed": ["p1"], "schedule_changed": false, "settings_changed": false,
        }]),
        "{plan}"
    );
    assert_eq!(plan["skipped"], json!([]));
    assert_eq!(stored(&ctl).await, before, "a dry run stores nothing");

    // A new schedule entry with a second playlist shows as a schedule change.
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/playlists",
            json!({"id":"p2","name":"Night","items":[{"media": sha1, "duration_ms": 5000}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = ctl
        .admin("POST", "/api/v1/schedules", json!({"id":"s2","playlist":"p2","targets":{"screens":["lc-a1"]},"priority":20,"start":"18:00","end":"22:00"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let plan = dry_run(&ctl, json!({"screens": ["lc-a1"], "dry_run": true})).await;
    let e = &plan["plan"][0];
    assert_eq!(e["next_version"], 2, "{plan}");
    assert_eq!(e["playlists_changed"], json!(["p1", "p2"]), "{plan}");
    assert_eq!(e["schedule_changed"], true, "{plan}");
    assert_eq!(
        e["removed_media"],
        json!([]),
        "sha1 stays in use by p2: {plan}"
    );

    // The real publish issues exactly the version the plan announced, and it is the next
    // message on the topic: none of the dry runs sent anything.
    let (s, v) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens": ["lc-a1"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["published"][0]["version"], 2);
    assert_eq!(v["published"][0]["changed"], true);
    assert_eq!(
        version_of(&next_message(&mut el, &manifest_topic).await),
        2,
        "the message after the retained v1 is the published v2"
    );
    assert_eq!(metric(&ctl, "gatecast_publishes_total").await, 2);
    drop(c);
    ctl.running.shutdown().await;
}
