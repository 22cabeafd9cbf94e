//! k-of-n approvals enforced by the screen (`docs/protocol.md` §19), on real processes: a
//! `gatecast-controller serve`, a `gatecast-player` enrolled with `--policy-root`, and the
//! `gatecast-approve` binary for keys, the policy and the approvals.
//!
//! The attacker holds the controller's whole data directory (signing key, MQTT password) and
//! publishes straight to the broker: every forgery is refused as `not_approved` and nothing is
//! downloaded; with two approvals the content plays; after a rotation that removes an
//! approver, that approver's approvals no longer count.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use gatecast_tests::{binary, png, standard_content, Controller, ControllerOptions, Player};
use jiff::{SignedDuration, Timestamp};
use playlists::approval::{sign_manifest, Approval, ApprovedMedia, Attachments, Scope};
use playlists::keys::SecretKey;
use playlists::manifest::{Manifest, MediaKind, MediaRef, Playlist, PlaylistItem};
use playlists::topics::{topic, Kind};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

const SCREEN: &str = "lc-a1";
const GATE: &str = "lao-cai";

fn approve(args: &[&str]) -> String {
    let o = Command::new(binary("gatecast-approve"))
        .args(args)
        .output()
        .expect("run gatecast-approve");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "gatecast-approve {args:?}: {out}");
    out
}

fn keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name).to_str().unwrap().to_owned();
    let out = approve(&["keygen", "--out", &path]);
    (path, out.split_whitespace().last().unwrap().to_owned())
}

fn put_policy(ctl: &Controller, file: &str, want: u16) -> Value {
    let body = std::fs::read(file).unwrap();
    let r = ctl.request("PUT", "/api/v1/policy", "application/json", &body);
    assert_eq!(r.status, want, "PUT /api/v1/policy: {}", r.text());
    r.json()
}

fn publish(ctl: &Controller) -> (u16, Value) {
    let body = serde_json::to_vec(&json!({"screens": [SCREEN]})).unwrap();
    let r = ctl.request("POST", "/api/v1/publish", "application/json", &body);
    (r.status, r.json())
}

/// What the attacker holds: the controller's signing key and its MQTT account.
struct Attacker {
    key: SecretKey,
    client: Client,
    version: u64,
}

impl Attacker {
    fn from_data_dir(ctl: &Controller) -> Attacker {
        let text = std::fs::read_to_string(ctl.data().join("controller.key")).unwrap();
        let key = SecretKey::from_text(text.trim()).expect("the controller key file");
        let password = std::fs::read_to_string(ctl.data().join("mqtt-controller.password"))
            .unwrap()
            .trim()
            .to_owned();
        let broker = ctl.mqtt.expect("embedded broker");
        let mut o = MqttOptions::new("attacker", broker.ip().to_string(), broker.port());
        o.set_credentials(playlists::topics::CONTROLLER_USER, password)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(
                playlists::envelope::MAX_MQTT_PACKET_BYTES,
                playlists::envelope::MAX_MQTT_PACKET_BYTES,
            );
        let (client, mut conn) = Client::new(o, 16);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = tx.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        break;
                    }
                    _ => {}
                }
            }
        });
        rx.recv_timeout(gatecast_tests::DEADLINE)
            .expect("a CONNACK")
            .expect("the attacker connects with the controller's MQTT password");
        Attacker {
            key,
            client,
            version: 1000,
        }
    }

    /// Signs a manifest playing `media` with `att` and publishes it retained; returns its version.
    fn send(&mut self, media: &MediaRef, att: &Attachments) -> u64 {
        self.version += 1;
        let now = Timestamp::now();
        let m = Manifest {
            screen: SCREEN.into(),
            version: self.version,
            issued_at: now,
            expires_at: now + SignedDuration::from_hours(24),
            timezone: "Asia/Ho_Chi_Minh".into(),
            languages: vec![],
            media: vec![media.clone()],
            playlists: vec![Playlist {
                id: "x".into(),
                name: String::new(),
                items: vec![PlaylistItem {
                    media: media.sha256.clone(),
                    duration_ms: Some(1000),
                    variants: vec![],
                }],
            }],
            schedule: vec![],
            fallback: "x".into(),
            layout: None,
        };
        let env = sign_manifest(&m, att, &self.key).unwrap().to_json();
        self.client
            .publish(topic(SCREEN, Kind::Manifest), QoS::AtLeastOnce, true, env)
            .expect("publish queued");
        self.version
    }
}

fn approval_of(media: &MediaRef, scope: Scope, not_after: Timestamp) -> Approval {
    Approval {
        media: vec![ApprovedMedia::of(media)],
        texts: vec![],
        not_before: Timestamp::now() - SignedDuration::from_hours(1),
        not_after,
        scope,
        note: None,
    }
}

fn signed(a: &Approval, key_file: &str) -> String {
    let text = std::fs::read_to_string(key_file).unwrap();
    let key = SecretKey::from_text(text.trim()).unwrap();
    String::from_utf8(a.sign(&key).to_json()).unwrap()
}

fn file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn attack_approvals_e2e_forgeries_refused_two_approvals_play_rotation_revokes() {
    let tmp = gatecast_tests::TestDir::new("approval_e2e");
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let (root, root_id) = keygen(&keys, "root.key");
    let (a1, _) = keygen(&keys, "an.key");
    let (a2, _) = keygen(&keys, "binh.key");
    let (a3, _) = keygen(&keys, "cuong.key");
    let v1 = keys.join("policy-1.json").to_str().unwrap().to_owned();
    approve(&[
        "policy",
        "init",
        "--root-key",
        &root,
        "--approver",
        &format!("Nguyễn Văn An={a1}.pub"),
        "--approver",
        &format!("Trần Thị Bình={a2}.pub"),
        "--approver",
        &format!("Lê Văn Cường={a3}.pub"),
        "--media-threshold",
        "2",
        "--alert-threshold",
        "1",
        "--out",
        &v1,
    ]);
    put_policy(&ctl, &v1, 200);
    // Not newer: the same policy again is refused.
    put_policy(&ctl, &v1, 422);

    let content = standard_content(&ctl, GATE, 1000);
    let code = ctl.register_screen(SCREEN, GATE);
    let mut player = Player::enroll_with(
        &ctl,
        SCREEN,
        &code,
        &tmp.path().join(SCREEN),
        &["--policy-root", &root_id],
    );
    assert_eq!(player.config().policy_root, vec![root_id.clone()]);
    assert_eq!(player.config().gate, GATE);
    player.null_speed = 4.0;
    player.start();
    let st = ctl.wait_status(SCREEN, "a first status", |s| s["state"] == "idle");
    assert_eq!(st["approvals"]["enforced"], true, "{st}");

    // The controller refuses to publish what the screen would refuse, naming the item.
    let (status, err) = publish(&ctl);
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"], "not_approved");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains(&content.media[0].0)
            || err["message"]
                .as_str()
                .unwrap()
                .contains(&content.media[1].0),
        "{err}"
    );
    let pending = ctl.get("/api/v1/approvals/pending");
    assert_eq!(pending["media"].as_array().unwrap().len(), 2, "{pending}");

    // One approver where two are needed: still refused.
    let url = ctl.url();
    approve(&[
        "sign",
        "--key",
        &a1,
        "--controller",
        &url,
        "--token",
        &ctl.token,
    ]);
    let (status, err) = publish(&ctl);
    assert_eq!(status, 409, "{err}");
    let review = review_waiting(&ctl, tmp.path(), &content);
    let review_dir = review.to_str().unwrap();
    assert!(
        err["message"].as_str().unwrap().contains("has 1 of 2"),
        "{err}"
    );

    let mut attacker = Attacker::from_data_dir(&ctl);
    let evil = evil_item(&ctl);
    let k = Keys {
        dir: &keys,
        v1: &v1,
        root: &root,
        root_id: &root_id,
        a: [&a1, &a2, &a3],
    };
    forgeries_refused(&ctl, &player, &mut attacker, &evil, &k);

    // With a second approver the same content publishes and plays.
    let (m0, m1) = (content.media[0].0.as_str(), content.media[1].0.as_str());
    approve(&[
        "sign",
        "--key",
        &a2,
        "--controller",
        &url,
        "--token",
        &ctl.token,
        "--reviewed",
        review_dir,
        m0,
        m1,
    ]);
    let version = ctl.publish_version(&[SCREEN], SCREEN);
    let st = ctl.wait_status(SCREEN, "the approved manifest playing", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    assert_eq!(st["approvals"]["policy_version"], 1, "{st}");
    assert!(player.cache_file(&content.media[0].0).exists());

    let version = rotation_revokes(&ctl, &player, &mut attacker, &evil, &k, [m0, m1]);
    assert!(
        version >= 2,
        "a manifest approved under policy 2 plays: v{version}"
    );
    alert_needs_one_approval(&ctl, &k);

    // Audit: the export carries the chain and the approvals; gatecast-audit shows who approved
    // each play, and fails on a bundle whose approval was removed or altered.
    gatecast_tests::wait_until(
        "receipts of approved plays at the controller",
        gatecast_tests::DEADLINE,
        || (ctl.receipts(SCREEN)?.len() >= 4).then_some(()),
    );
    player.stop();
    audit_bundle_shows_and_guards_approvals(&ctl, tmp.path());
}

fn audit_bundle_shows_and_guards_approvals(ctl: &Controller, dir: &Path) {
    let r = ctl.request("GET", "/api/v1/audit/export", "application/json", b"");
    assert_eq!(r.status, 200, "export: {}", r.text());
    let bundle: Value = r.json();
    assert_eq!(
        bundle["policy"].as_array().unwrap().len(),
        2,
        "the chain v1, v2"
    );
    let approvals = bundle["approvals"].as_array().unwrap().clone();
    assert_eq!(
        approvals.len(),
        4,
        "An, Bình and Cường signed the content, An the alert text"
    );
    let key = ctl.get("/api/v1/keys")["controller_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let check = |b: &Value, name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec(b).unwrap()).unwrap();
        let o = crate::audit_e2e::verify(&path, &key);
        (o.status.code(), crate::audit_e2e::text(&o))
    };
    let (code, out) = check(&bundle, "bundle.json");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(" 0 NOT covered"), "{out}");
    assert!(
        out.contains("approved by ") && out.contains("Nguyễn Văn An ("),
        "{out}"
    );
    eprintln!("{out}");

    // Every approval removed: the plays are flagged.
    let mut removed = bundle.clone();
    removed["approvals"] = json!([]);
    let (code, out) = check(&removed, "removed.json");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("NOT APPROVED"), "{out}");
    // Any ONE approval removed, also one beyond the threshold (the plays stay covered): the
    // scope signs the approvals (docs/protocol.md §15), so each removal fails, named.
    for i in 0..approvals.len() {
        let mut one = bundle.clone();
        one["approvals"].as_array_mut().unwrap().remove(i);
        let (code, out) = check(&one, &format!("removed-{i}.json"));
        assert_eq!(code, Some(1), "approval {i} removed: {out}");
        assert!(
            out.contains("approvals_mismatch") && out.contains("removed or added"),
            "approval {i} removed: {out}"
        );
    }
    // A policy of the chain removed: named.
    let mut no_v2 = bundle.clone();
    no_v2["policy"].as_array_mut().unwrap().pop();
    let (code, out) = check(&no_v2, "policy-removed.json");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("policy_chain_mismatch"), "{out}");
    // One approval altered (its signature changed): refused and named.
    let mut altered = bundle.clone();
    let env_b64 = altered["approvals"][0].as_str().unwrap().to_owned();
    let mut env: Value = serde_json::from_slice(&B64.decode(&env_b64).unwrap()).unwrap();
    let sig = env["signatures"][0]["sig"].as_str().unwrap().to_owned();
    // Change the first base64 character (the first 6 bits of R): still 64 bytes, wrong.
    let first = if sig.starts_with('A') { "B" } else { "A" };
    let flipped = format!("{first}{}", sig.get(1..).unwrap());
    env["signatures"][0]["sig"] = json!(flipped);
    altered["approvals"][0] = json!(B64.encode(serde_json::to_vec(&env).unwrap()));
    let (code, out) = check(&altered, "altered.json");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("approvals[0]")
            && out.contains("altered or forged")
            && out.contains("approvals_mismatch"),
        "{out}"
    );
}

/// The second approver's `review`: every waiting file saved with its hash checked, and the
/// contact sheet naming who approved so far.
fn review_waiting(
    ctl: &Controller,
    dir: &Path,
    content: &gatecast_tests::Content,
) -> std::path::PathBuf {
    let url = ctl.url();
    // The second approver reviews first: the files (hash-checked) and a contact sheet.
    let review = dir.join("review");
    let review_dir = review.to_str().unwrap();
    let out = approve(&[
        "review",
        "--controller",
        &url,
        "--token",
        &ctl.token,
        "--out",
        review_dir,
    ]);
    assert!(out.contains("2 item(s) waiting"), "{out}");
    for (sha, bytes) in &content.media {
        assert_eq!(
            &std::fs::read(review.join(format!("{sha}.png"))).unwrap(),
            bytes
        );
    }
    let sheet = std::fs::read_to_string(review.join("review.html")).unwrap();
    assert!(
        sheet.contains("Chờ duyệt")
            && sheet.contains("phiên bản 1 ")
            && sheet.contains("Chao-mung")
            && sheet.contains("Nguyễn Văn An"),
        "{sheet}"
    );
    review
}

/// The attacker's forgeries, each refused as `not_approved` with nothing downloaded.
fn forgeries_refused(
    ctl: &Controller,
    player: &Player,
    attacker: &mut Attacker,
    evil: &MediaRef,
    k: &Keys,
) {
    // The attacker: new media (on the controller, so it could be downloaded), straight to the broker.
    let chain1 = vec![file(k.v1)];
    let far = Timestamp::now() + SignedDuration::from_hours(24);
    let all = || Scope::everywhere();
    let by_controller_key =
        String::from_utf8(approval_of(evil, all(), far).sign(&attacker.key).to_json()).unwrap();
    let (x, _) = keygen(k.dir, "stranger.key");
    let expired = approval_of(evil, all(), Timestamp::now() - SignedDuration::from_mins(1));
    let other_gate = approval_of(
        evil,
        Scope {
            all: false,
            gates: vec!["mong-cai".into()],
        },
        far,
    );
    let one = approval_of(evil, all(), far);
    // A policy the controller key signs, listing itself as root and the attacker's approvers.
    let forged_policy = {
        let mut p = playlists::policy::Policy::from_json(
            &playlists::envelope::Envelope::parse(file(k.v1).as_bytes())
                .unwrap()
                .payload,
        )
        .unwrap();
        p.version = 2;
        p.root_keys = vec![playlists::policy::RootKey {
            key_id: attacker.key.key_id(),
            public_key: attacker.key.public().to_base64(),
        }];
        p.media_threshold = 1;
        String::from_utf8(playlists::policy::sign_policy(&p, &attacker.key).to_json()).unwrap()
    };
    let cases: Vec<(&str, Attachments)> = vec![
        (
            "no approvals",
            Attachments {
                policy: chain1.clone(),
                approvals: vec![],
            },
        ),
        (
            "one approver where two are needed",
            Attachments {
                policy: chain1.clone(),
                approvals: vec![signed(&one, k.a[0]), signed(&one, k.a[0])],
            },
        ),
        (
            "a key not in the policy",
            Attachments {
                policy: chain1.clone(),
                approvals: vec![signed(&one, k.a[0]), signed(&one, &x)],
            },
        ),
        (
            "the controller key as approver",
            Attachments {
                policy: chain1.clone(),
                approvals: vec![signed(&one, k.a[0]), by_controller_key.clone()],
            },
        ),
        (
            "an expired approval",
            Attachments {
                policy: chain1.clone(),
                approvals: vec![signed(&one, k.a[0]), signed(&expired, k.a[1])],
            },
        ),
        (
            "an approval for another gate",
            Attachments {
                policy: chain1.clone(),
                approvals: vec![signed(&one, k.a[0]), signed(&other_gate, k.a[1])],
            },
        ),
        (
            "a policy signed by the controller key",
            Attachments {
                policy: vec![file(k.v1), forged_policy],
                approvals: vec![signed(&one, k.a[0]), by_controller_key],
            },
        ),
    ];
    for (what, att) in &cases {
        let v = attacker.send(evil, att);
        let st = ctl.wait_status(SCREEN, &format!("the forgery with {what} refused"), |s| {
            s["last_rejection"]["version"].as_u64() == Some(v)
        });
        assert_eq!(
            st["last_rejection"]["reason"], "not_approved",
            "{what}: {st}"
        );
        assert!(
            !player.cache_file(&evil.sha256).exists(),
            "{what}: nothing downloaded"
        );
        assert!(
            st["manifest_version"].is_null(),
            "{what}: nothing accepted: {st}"
        );
    }
}

/// New media uploaded to the controller (so a screen could download it), not approved.
fn evil_item(ctl: &Controller) -> MediaRef {
    let evil_bytes = png(66, 4000);
    let rec = ctl.upload(&evil_bytes, "image/png", "slide", "vi", "Bien-Dong");
    let evil = MediaRef {
        sha256: rec["sha256"].as_str().unwrap().into(),
        bytes: evil_bytes.len() as u64,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "vi".into(),
        title: "Bien-Dong".into(),
        duration_ms: None,
        subtitles: Vec::new(),
    };
    evil
}

/// Rotation to policy 2 without Bình: her approvals stop counting, Cường's count; a revoked
/// approver's approval and a replayed older policy are refused. Returns the version playing.
fn rotation_revokes(
    ctl: &Controller,
    player: &Player,
    attacker: &mut Attacker,
    evil: &MediaRef,
    k: &Keys,
    [m0, m1]: [&str; 2],
) -> u64 {
    let url = ctl.url();
    let one = approval_of(
        evil,
        Scope::everywhere(),
        Timestamp::now() + SignedDuration::from_hours(24),
    );
    // Rotation: policy 2 drops Bình. Her approvals (the evil item, and content) stop counting.
    let v2 = k.dir.join("policy-2.json").to_str().unwrap().to_owned();
    approve(&[
        "policy",
        "next",
        "--previous",
        k.v1,
        "--root-key",
        k.root,
        "--approver",
        &format!("Nguyễn Văn An={}.pub", k.a[0]),
        "--approver",
        &format!("Lê Văn Cường={}.pub", k.a[2]),
        "--media-threshold",
        "2",
        "--alert-threshold",
        "1",
        "--out",
        &v2,
    ]);
    let shown = ctl.wait_status(SCREEN, "a status before the rotation", |_| true)
        ["manifest_version"]
        .clone();
    put_policy(ctl, &v2, 200);
    // The screen takes policy 2 from the retained policy topic before any manifest
    // (docs/protocol.md §19): nothing was published since.
    let st = ctl.wait_status(SCREEN, "policy 2 from the policy topic", |s| {
        s["approvals"]["policy_version"] == 2
    });
    assert_eq!(
        st["manifest_version"], shown,
        "no manifest was published: {st}"
    );
    // A replayed older chain on the policy topic (the attacker holds the controller's MQTT
    // password) is refused, named, and policy 2 stays.
    attacker
        .client
        .publish(
            playlists::topics::POLICY_TOPIC,
            QoS::AtLeastOnce,
            true,
            serde_json::to_vec(&[file(k.v1)]).unwrap(),
        )
        .expect("publish queued");
    let st = ctl.wait_status(
        SCREEN,
        "a replayed older policy on the topic refused",
        |s| s["last_rejection"]["what"] == "policy",
    );
    assert_eq!(st["last_rejection"]["reason"], "not_newer", "{st}");
    assert_eq!(st["approvals"]["policy_version"], 2, "{st}");
    let (status, err) = publish(ctl);
    assert_eq!(status, 409, "Bình's approvals no longer count: {err}");
    let chain2 = vec![file(k.v1), file(&v2)];
    let att = Attachments {
        policy: chain2.clone(),
        approvals: vec![signed(&one, k.a[0]), signed(&one, k.a[1])],
    };
    approve(&[
        "sign",
        "--key",
        k.a[2],
        "--controller",
        &url,
        "--token",
        &ctl.token,
        m0,
        m1,
    ]);
    let version = ctl.publish_version(&[SCREEN], SCREEN);
    let st = ctl.wait_status(SCREEN, "policy 2 held and content approved again", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["approvals"]["policy_version"] == 2
    });
    assert_eq!(st["approvals"]["pinned_roots"][0], k.root_id, "{st}");
    let v = attacker.send(evil, &att);
    let st = ctl.wait_status(SCREEN, "a revoked approver's approval refused", |s| {
        s["last_rejection"]["version"].as_u64() == Some(v)
    });
    assert_eq!(st["last_rejection"]["reason"], "not_approved", "{st}");
    // A replayed older policy (chain ending at version 1), with Bình's approval, is refused.
    let att = Attachments {
        policy: vec![file(k.v1)],
        approvals: vec![signed(&one, k.a[0]), signed(&one, k.a[1])],
    };
    let v = attacker.send(evil, &att);
    let st = ctl.wait_status(SCREEN, "a replayed older policy refused", |s| {
        s["last_rejection"]["version"].as_u64() == Some(v)
    });
    assert_eq!(st["last_rejection"]["reason"], "not_approved", "{st}");
    assert!(
        st["last_rejection"]["detail"]
            .as_str()
            .unwrap()
            .contains("not newer"),
        "{st}"
    );
    assert!(
        !player.cache_file(&evil.sha256).exists(),
        "nothing of the evil item downloaded"
    );
    assert_eq!(
        st["manifest_version"].as_u64(),
        Some(version),
        "the approved content still plays"
    );
    version
}

/// The keys and policy files of the test.
struct Keys<'a> {
    dir: &'a Path,
    v1: &'a str,
    root: &'a str,
    root_id: &'a str,
    /// An, Bình, Cường.
    a: [&'a str; 3],
}

/// An emergency text waits for one person, not two: refused until An signs the exact text
/// with `gatecast-approve sign --alert-text`, then sent, and the screen takes it.
fn alert_needs_one_approval(ctl: &Controller, k: &Keys) {
    let text = "Cửa khẩu tạm dừng thông quan do lũ.";
    let expires = (Timestamp::now() + SignedDuration::from_hours(2)).to_string();
    let body = serde_json::to_vec(&json!({"id": "flood", "targets": {"screens": [SCREEN]},
        "priority": 100, "expires_at": expires, "text": [{"lang": "vi", "text": text}]}))
    .unwrap();
    let r = ctl.request("POST", "/api/v1/alerts", "application/json", &body);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "not_approved");
    let url = ctl.url();
    let out = approve(&[
        "sign",
        "--key",
        k.a[0],
        "--controller",
        &url,
        "--token",
        &ctl.token,
        "--alert-text",
        &format!("vi={text}"),
    ]);
    assert!(out.contains("approved alert text"), "{out}");
    let r = ctl.request("POST", "/api/v1/alerts", "application/json", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let st = ctl.wait_status(SCREEN, "the approved alert set taken", |s| {
        s["alert_version"].as_u64().is_some()
    });
    assert_eq!(st["approvals"]["enforced"], true, "{st}");
}
