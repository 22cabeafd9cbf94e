//! Attacks on the controller's HTTP API, each test named after the attack: missing, wrong
//! and revoked tokens; guessing tokens and enrolment codes; reused and expired enrolment
//! codes; path traversal and odd encodings in paths and ids; oversized bodies; slow clients;
//! and the security headers every answer must carry.

use crate::api_support;

use std::time::{Duration, Instant};

use api_support::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes over a new TCP connection and returns everything the server answers until
/// it closes the connection (15 s deadline). Bypasses the path normalisation of HTTP clients.
async fn raw(ctl: &Ctl, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(ctl.running.http_addr)
        .await
        .unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes within 15 s")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"))
}

/// Polls `f` every 50 ms until it returns true (deadline 20 s).
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_http_without_wrong_or_revoked_token() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let admin = ctl.admin.clone();
    // Few enough wrong tokens (9 + 2 below) to stay under the brute-force lockout, which
    // `attack_token_brute_force_is_locked_out` covers.
    let paths = [
        ("POST", "/api/v1/publish"),
        ("GET", "/api/v1/audit/export"),
        ("POST", "/api/v1/tokens"),
    ];
    let no_token = [
        ("GET", "/api/v1/screens"),
        ("GET", "/api/v1/receipts"),
        ("GET", "/api/v1/actions"),
        ("GET", "/api/v1/log/checkpoint"),
        ("POST", "/api/v1/alerts"),
    ];
    for (m, p) in no_token {
        let (s, v) = ctl.req(m, p, None, Some(json!({}))).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (401, Some("unauthorized")),
            "{m} {p}"
        );
    }
    // The admin token with its secret changed, a token of another shape, a non-bearer scheme.
    let mut tampered = admin.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let wrong = [tampered.as_str(), "gct_0123456789abcdef_x", "admin"];
    for (m, p) in paths {
        let (s, v) = ctl.req(m, p, None, Some(json!({}))).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (401, Some("unauthorized")),
            "{m} {p}"
        );
        for w in wrong {
            let (s, _) = ctl.req(m, p, Some(w), Some(json!({}))).await;
            assert_eq!(s, 401, "{m} {p} with {w:?}");
        }
        let resp = ctl
            .http
            .request(m.parse().unwrap(), ctl.url(p))
            .header("authorization", format!("Basic {admin}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{m} {p} with Basic");
    }
    // A revoked token stops working at once, also for reading.
    let (s, v) = ctl
        .admin("POST", "/api/v1/tokens", json!({"role": "operator"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (tok, id) = (
        v["token"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        ctl.req("GET", "/api/v1/screens", Some(&tok), None).await.0,
        200
    );
    let (s, _) = ctl
        .req(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        ctl.req("GET", "/api/v1/screens", Some(&tok), None).await.0,
        401
    );
    assert_eq!(
        ctl.req(
            "POST",
            "/api/v1/publish",
            Some(&tok),
            Some(json!({"all": true}))
        )
        .await
        .0,
        401
    );
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_token_brute_force_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let admin = ctl.admin.clone();
    let free = gatecast_broker::throttle::ThrottleConfig::HTTP.free_failures;
    // Guessing: every guess is refused; the first `free` cost nothing, the next one locks.
    for i in 0..=free {
        let guess = format!("gct_{:016x}_{}", i, "A".repeat(43));
        let (s, v) = ctl.req("GET", "/api/v1/screens", Some(&guess), None).await;
        assert_eq!(s, 401, "guess {i}: {v}");
    }
    // Guessing on while locked is answered 429 and lengthens the lock (1 s, 2 s, 4 s, 8 s).
    for i in 0..3 {
        let guess = format!("gct_{:016x}_{}", 1000 + i, "B".repeat(43));
        let (s, v) = ctl.req("GET", "/api/v1/screens", Some(&guess), None).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (429, Some("too_many_attempts")),
            "{v}"
        );
    }
    // Now even the right token is refused (the lock is checked before the token), with 429
    // and a Retry-After header.
    let resp = ctl
        .http
        .get(ctl.url("/api/v1/screens"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(v["error"], "too_many_attempts", "{v}");
    // Requests that need no credential still work (no denial of service on media and health).
    assert_eq!(ctl.req("GET", "/healthz", None, None).await.0, 200);
    // The lock expires; the right token works again.
    eventually("the lock to expire", || async {
        ctl.req("GET", "/api/v1/screens", Some(&admin), None)
            .await
            .0
            == 200
    })
    .await;
    // A success does not reset the count (an attacker holding a low-privilege token cannot
    // launder guesses): the next wrong guess locks again, for longer.
    let (s, _) = ctl
        .req(
            "GET",
            "/api/v1/screens",
            Some("gct_0000000000000000_x"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    let (s, v) = ctl.req("GET", "/api/v1/screens", Some(&admin), None).await;
    assert_eq!((s, v["error"].as_str()), (429, Some("too_many_attempts")));
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_enrolment_code_brute_force_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let code = reg["enrollment_code"].as_str().unwrap().to_string();
    let device = playlists::keys::SecretKey::from_seed([3; 32])
        .public()
        .to_base64();
    let free = gatecast_broker::throttle::ThrottleConfig::HTTP.free_failures;
    for i in 0..=free {
        let (s, v) = ctl
            .req(
                "POST",
                "/api/v1/enroll",
                None,
                Some(json!({"screen":"lc-a1","code":format!("guess-{i}"),"device_key":device})),
            )
            .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (403, Some("enrollment_refused")),
            "guess {i}"
        );
    }
    // Locked: the right code is not even looked at, and stays unused. (The lock's expiry is
    // the same mechanism as in `attack_token_brute_force_is_locked_out`.)
    let body = json!({"screen":"lc-a1","code":code,"device_key":device});
    let (s, v) = ctl
        .req("POST", "/api/v1/enroll", None, Some(body.clone()))
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (429, Some("too_many_attempts")),
        "{v}"
    );
    let store = ctl.running.store();
    assert!(
        store.enroll_code("lc-a1").unwrap().is_some(),
        "the code was not consumed"
    );
    assert!(store.screen("lc-a1").unwrap().unwrap().device_key.is_none());
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_enrolment_code_reuse_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let code = reg["enrollment_code"].as_str().unwrap().to_string();
    let key1 = playlists::keys::SecretKey::from_seed([1; 32])
        .public()
        .to_base64();
    let key2 = playlists::keys::SecretKey::from_seed([2; 32])
        .public()
        .to_base64();
    let enroll = |code: String, key: String| {
        let ctl = &ctl;
        async move {
            ctl.req(
                "POST",
                "/api/v1/enroll",
                None,
                Some(json!({"screen":"lc-a1","code":code,"device_key":key})),
            )
            .await
        }
    };
    let (s, first) = enroll(code.clone(), key1.clone()).await;
    assert_eq!(s, 200, "{first}");
    // Reuse by someone else (a stolen code, a photo of the console): refused, and the device
    // key recorded at the first enrolment stays.
    let (s, v) = enroll(code.clone(), key2.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("enrollment_refused")),
        "{v}"
    );
    let (_, screen) = ctl
        .req("GET", "/api/v1/screens/lc-a1", Some(&ctl.admin), None)
        .await;
    assert_eq!(screen["device_key"], key1, "{screen}");
    // The code of one screen does not enrol another.
    let (s, reg2) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":"lc-b2","name":"B2","gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 201);
    let code_b = reg2["enrollment_code"].as_str().unwrap().to_string();
    let (s, _) = enroll(code_b.clone(), key2.clone()).await; // screen lc-a1, code of lc-b2
    assert_eq!(s, 403);
    // An expired code is refused even though it is right.
    let store = ctl.running.store();
    let mut stored = store.enroll_code("lc-b2").unwrap().expect("pending code");
    stored.expires_at = jiff::Timestamp::now().as_second() - 1;
    store.put_enroll_code(&stored).await.unwrap();
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":"lc-b2","code":code_b,"device_key":key2})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("enrollment_refused")),
        "{v}"
    );
    let (_, screen) = ctl
        .req("GET", "/api/v1/screens/lc-b2", Some(&ctl.admin), None)
        .await;
    assert!(screen["device_key"].is_null(), "{screen}");
    // The MQTT password issued at the first enrolment works; the one shown at registration no
    // longer does (enrolment rotates it).
    let pw = first["mqtt_password"].as_str().unwrap();
    mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", pw)
        .await
        .expect("enrolled password");
    let old = reg["mqtt_password"].as_str().unwrap();
    assert!(mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", old)
        .await
        .is_err());
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_mqtt_password_brute_force_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let pw = reg["mqtt_password"].as_str().unwrap().to_string();
    let addr = ctl.mqtt_addr();
    mqtt_connect(addr, "lc-a1", "lc-a1", &pw)
        .await
        .expect("the right password works");
    let free = gatecast_broker::throttle::ThrottleConfig::MQTT.free_failures;
    // free + 4 guesses: the last three land in the lock and lengthen it to 8 s.
    for i in 0..free + 4 {
        let r = mqtt_connect(addr, "lc-a1", "lc-a1", &format!("guess-{i}")).await;
        assert!(r.is_err(), "guess {i} accepted");
    }
    // Locked out: the right password is refused too, so parallel guessing gains nothing.
    assert!(
        mqtt_connect(addr, "lc-a1", "lc-a1", &pw).await.is_err(),
        "the right password was accepted during the lockout"
    );
    // Other screens are not affected.
    let (s, reg2) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":"lc-b2","name":"B2","gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 201);
    mqtt_connect(
        addr,
        "lc-b2",
        "lc-b2",
        reg2["mqtt_password"].as_str().unwrap(),
    )
    .await
    .expect("another screen logs in during the lockout");
    // The lock expires.
    eventually("the MQTT lock to expire", || async {
        mqtt_connect(addr, "lc-a1", "lc-a1", &pw).await.is_ok()
    })
    .await;
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_path_traversal_and_odd_encodings_in_http_paths() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    seed(&ctl).await;
    let (_, media) = ctl
        .req("GET", "/api/v1/media", Some(&ctl.admin), None)
        .await;
    let sha = media
        .as_array()
        .and_then(|a| a.first())
        .or_else(|| media["media"].as_array().and_then(|a| a.first()))
        .map(|m| m["sha256"].as_str().unwrap().to_string())
        .expect("one media item");
    assert_eq!(
        ctl.req("GET", &format!("/media/{sha}"), None, None).await.0,
        200
    );
    let secret = ctl.admin.clone();
    let upper = sha.to_uppercase();
    let fullwidth: String = sha
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap()
            } else {
                c
            }
        })
        .collect();
    let fullwidth_enc: String = fullwidth
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let paths = [
        "/media/../admin.token".to_string(),
        "/media/../../admin.token".to_string(),
        "/media/%2e%2e/admin.token".to_string(),
        "/media/%2e%2e%2fadmin.token".to_string(),
        "/media/..%2fadmin.token".to_string(),
        "/media/..%5cadmin.token".to_string(),
        "/media/%252e%252e%252fadmin.token".to_string(),
        "/media/admin.token".to_string(),
        "/media/db".to_string(),
        format!("/media/{upper}"),
        format!("/media/{sha}%00"),
        format!("/media/{sha}%00.png"),
        format!("/media/{}", &sha[..63]),
        format!("/media/{sha}0"),
        format!("/media/{fullwidth_enc}"),
        format!("/media/sha256/{sha}"),
        format!("/media/./{sha}/.."),
        "/api/v1/playlists/..%2f..%2fadmin.token".to_string(),
        "/api/v1/playlists/%00".to_string(),
        "/api/v1/screens/..".to_string(),
        "/api/v1/screens/LC-A1".to_string(),
        "/api/v1/screens/lc-a1%00".to_string(),
        "/api/v1/screens/%2e%2e".to_string(),
        "/api/v1/schedules/%c0%ae%c0%ae".to_string(),
    ];
    for p in &paths {
        for method in ["GET", "HEAD"] {
            let resp = raw(
                &ctl,
                format!(
                    "{method} {p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
            let s = status_of(&resp);
            assert!(
                (400..500).contains(&s) && s != 401 && s != 429,
                "{method} {p}: status {s}\n{resp}"
            );
            assert!(
                !resp.contains(secret.trim_start_matches("gct_")),
                "{method} {p} leaked the admin token"
            );
        }
    }
    // Ids in bodies get the same rules: no traversal, NUL, upper case or look-alikes.
    for id in [
        "../x",
        "..",
        "a/b",
        "LC-A1",
        "lc-a1\u{0}",
        "lc\u{2010}a1",
        "ｌｃ-a1",
        "",
    ] {
        let (s, v) = ctl
            .admin(
                "POST",
                "/api/v1/screens",
                json!({"id":id,"name":"x","gate":"g","timezone":"UTC"}),
            )
            .await;
        assert_eq!(
            (s, v["field"].as_str()),
            (400, Some("id")),
            "screen id {id:?}: {v}"
        );
    }
    for id in ["../x", "a/b", "a\u{0}", "ｐ1", "a b", ""] {
        let (s, v) = ctl
            .admin(
                "POST",
                "/api/v1/playlists",
                json!({"id":id,"name":"x","items":[{"media":sha,"duration_ms":1000}]}),
            )
            .await;
        assert_eq!(s, 400, "playlist id {id:?}: {v}");
    }
    for bad_sha in [upper.as_str(), &sha[..63], "../../admin.token", &fullwidth] {
        let (s, v) = ctl
            .admin(
                "POST",
                "/api/v1/playlists",
                json!({"id":"p9","name":"x","items":[{"media":bad_sha,"duration_ms":1000}]}),
            )
            .await;
        assert_eq!(s, 400, "media {bad_sha:?}: {v}");
    }
    let (s, _) = ctl
        .req("GET", "/api/v1/playlists/p9", Some(&ctl.admin), None)
        .await;
    assert_eq!(s, 404, "nothing was stored");
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_oversized_http_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.upload_limit_bytes = 64 * 1024;
    let ctl = start(cfg).await;
    seed(&ctl).await;
    let limit = gatecast_controller::config::JSON_BODY_LIMIT as usize;
    // A JSON document just over the limit (a long string member).
    let big = format!("{{\"id\":\"x\",\"pad\":\"{}\"}}", "a".repeat(limit));
    let routes = [
        ("POST", "/api/v1/playlists"),
        ("PUT", "/api/v1/playlists/p1"),
        ("POST", "/api/v1/schedules"),
        ("POST", "/api/v1/screens"),
        ("POST", "/api/v1/publish"),
        ("POST", "/api/v1/alerts"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/enroll"),
        ("POST", "/api/v1/screens/lc-a1/enrollment-code"),
        ("POST", "/api/v1/screens/lc-a1/disable"),
        ("POST", "/api/v1/log/checkpoint"),
        ("GET", "/api/v1/screens"),
        ("DELETE", "/api/v1/alerts/x"),
        ("GET", "/healthz"),
    ];
    for (m, p) in routes {
        // With Content-Length: refused before reading.
        let resp = ctl
            .http
            .request(m.parse().unwrap(), ctl.url(p))
            .bearer_auth(&ctl.admin)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let v: Value =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        assert_eq!(
            (s, v["error"].as_str()),
            (413, Some("too_large")),
            "{m} {p}: {v}"
        );
        // Chunked, without Content-Length: cut while reading (routes that read a body) or
        // ignored (routes that take none); never accepted as a valid request.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
            .as_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok(c.to_vec()))
            .collect();
        let resp = ctl
            .http
            .request(m.parse().unwrap(), ctl.url(p))
            .bearer_auth(&ctl.admin)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await;
        // A route that reads a body refuses it; one that takes none never reads it (nothing
        // is buffered) and the connection is closed after the answer.
        let reads_body = matches!(m, "POST" | "PUT")
            && !p.ends_with("/disable")
            && !p.ends_with("-code")
            && !p.ends_with("checkpoint");
        if let Ok(resp) = resp {
            if reads_body {
                assert_eq!(resp.status().as_u16(), 413, "{m} {p} chunked");
            }
        }
    }
    // Media uploads have their own (configured) limit, checked by Content-Length and while
    // streaming.
    let (s, v) = ctl
        .upload(png(9, 64 * 1024 + 1), "image/png", "kind=slide&lang=vi")
        .await;
    assert_eq!((s, v["error"].as_str()), (413, Some("too_large")), "{v}");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = png(9, 200 * 1024)
        .chunks(16 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let resp = ctl
        .http
        .post(ctl.url("/api/v1/media?kind=slide&lang=vi"))
        .bearer_auth(&ctl.admin)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status().as_u16(), 413);
    }
    // The controller is still healthy and nothing was stored.
    assert_eq!(ctl.req("GET", "/healthz", None, None).await.0, 200);
    let (_, media) = ctl
        .req("GET", "/api/v1/media", Some(&ctl.admin), None)
        .await;
    assert_eq!(media.to_string().matches("sha256").count(), 1, "{media}");
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_slow_client_headers_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    // A "slowloris" client: the start of a request head, then nothing.
    let mut s = tokio::net::TcpStream::connect(ctl.running.http_addr)
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let limit = gatecast_controller::serve::HEADER_READ_TIMEOUT + Duration::from_secs(20);
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(limit, s.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the server kept a stalled request head open for {limit:?}"
    );
    // Other clients were served meanwhile and still are.
    assert_eq!(ctl.req("GET", "/healthz", None, None).await.0, 200);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_security_headers_on_every_response() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    seed(&ctl).await;
    let (_, media) = ctl
        .req("GET", "/api/v1/media", Some(&ctl.admin), None)
        .await;
    let sha = media.to_string();
    let sha = sha
        .split("\"sha256\":\"")
        .nth(1)
        .map(|s| s[..64].to_string())
        .expect("a media hash");
    let cases: Vec<(&str, String, Option<String>)> = vec![
        ("GET", "/".into(), None),
        ("GET", "/healthz".into(), None),
        ("GET", "/metrics".into(), None),
        ("GET", "/api/v1/keys".into(), None),
        ("GET", format!("/media/{sha}"), None),
        ("HEAD", format!("/media/{sha}"), None),
        ("GET", "/media/nothex".into(), None),
        ("GET", "/api/v1/screens".into(), None),
        ("GET", "/api/v1/screens".into(), Some(ctl.admin.clone())),
        ("GET", "/nope".into(), None),
        ("PATCH", "/api/v1/publish".into(), None),
    ];
    for (m, p, tok) in cases {
        let mut r = ctl.http.request(m.parse().unwrap(), ctl.url(&p));
        if let Some(t) = tok {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let h = resp.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(get("x-content-type-options"), "nosniff", "{m} {p}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{m} {p}");
        assert_eq!(get("x-frame-options"), "DENY", "{m} {p}");
        let csp = get("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{m} {p}: {csp}");
        if p == "/" {
            assert!(
                csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
                "console CSP: {csp}"
            );
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{m} {p}: {csp}");
        }
    }
    ctl.running.shutdown().await;
}

/// Limits small enough for a fast test: a 2 s body deadline, 3 connections per address, 6 in
/// all.
fn limited_config(dir: &std::path::Path) -> gatecast_controller::config::Config {
    let mut c = test_config(dir);
    c.http_limits = gatecast_controller::config::HttpLimits {
        body_deadline: Duration::from_secs(2),
        max_connections: 6,
        max_connections_per_addr: 3,
    };
    c
}

/// A TCP connection to the controller's HTTP port from the loopback address `from`.
async fn connect_from(ctl: &Ctl, from: &str) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    sock.connect(ctl.running.http_addr).await.unwrap()
}

/// Whether the server closes `s` (with or without an answer) within `limit`.
async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(limit, s.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_slow_http_body_is_cut_by_a_total_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(limited_config(dir.path())).await;
    // One byte every 250 ms on the unauthenticated enrolment endpoint: never idle long enough
    // for the idle timeout, so only a total deadline ends it.
    let mut s = connect_from(&ctl, "127.0.0.1").await;
    s.write_all(
        b"POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        for _ in 0..1000 {
            tick.tick().await;
            if wr.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let limit = Duration::from_secs(2 + 5);
    let mut buf = Vec::new();
    let answered = tokio::time::timeout(limit, rd.read_to_end(&mut buf)).await;
    trickle.abort();
    assert!(
        answered.is_ok(),
        "a body trickling one byte every 250 ms was still open after {limit:?}"
    );
    let resp = String::from_utf8_lossy(&buf);
    assert!(
        resp.is_empty() || status_of(&resp) == 408,
        "answer to a body past its deadline: {resp:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "cut too early");
    assert_eq!(ctl.req("GET", "/healthz", None, None).await.0, 200);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_http_connection_flood_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(limited_config(dir.path())).await;
    let healthz_from = |ip: &'static str| {
        let url = ctl.url("/healthz");
        async move {
            let c = reqwest::Client::builder()
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            c.get(url).send().await.map(|r| r.status().as_u16()).ok()
        }
    };
    // Three held connections (a request head begun, never finished) fill 127.0.0.1's share...
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from(&ctl, "127.0.0.1").await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    assert_eq!(healthz_from("127.0.0.2").await, Some(200));
    // ...so a fourth from that address is closed at once, while other addresses are served.
    let mut extra = connect_from(&ctl, "127.0.0.1").await;
    let answer = closed_within(&mut extra, Duration::from_secs(3)).await;
    assert!(
        answer
            .as_deref()
            .is_some_and(|a| a.is_empty() || status_of(a) == 503),
        "a 4th connection from one address was kept open: {answer:?}"
    );
    // Three more from another address reach the overall cap of 6: a further address is refused.
    for _ in 0..3 {
        let mut s = connect_from(&ctl, "127.0.0.3").await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    let mut over = connect_from(&ctl, "127.0.0.4").await;
    let answer = closed_within(&mut over, Duration::from_secs(3)).await;
    assert!(
        answer
            .as_deref()
            .is_some_and(|a| a.is_empty() || status_of(a) == 503),
        "a connection past the overall cap was kept open: {answer:?}"
    );
    // The broker's listener is apart from HTTP's: it still answers a CONNECT.
    let r = mqtt_connect(ctl.mqtt_addr(), "probe", "nobody", "wrong").await;
    assert!(
        r.as_ref().is_err_and(|e| !e.contains("timeout")),
        "the broker must answer while HTTP is at its cap: {:?}",
        r.err()
    );
    // Closing the held connections frees their places.
    drop(held);
    eventually("HTTP served again after the flood", || async {
        healthz_from("127.0.0.1").await == Some(200)
    })
    .await;
    ctl.running.shutdown().await;
}
