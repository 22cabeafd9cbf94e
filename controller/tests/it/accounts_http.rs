//! Named accounts over HTTP with the in-process controller and a user made by the real
//! `gatecast-controller user add` through the admin socket: sign-in with login, password and
//! TOTP code sets an `HttpOnly`, `SameSite=Strict` session cookie that works from two clients
//! (two tabs) at once; a state-changing request without the CSRF token, or from another
//! origin, is refused; the action log names the user; sign-out ends the session.

use crate::api_support;

use api_support::*;
use serde_json::{json, Value};

async fn cli(args: &[&str], data: &std::path::Path) -> String {
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatecast-controller"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .expect("running gatecast-controller");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{args:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A request with the session cookie and optional extra headers.
async fn with_cookie(
    ctl: &Ctl,
    method: &str,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = ctl
        .http
        .request(method.parse().unwrap(), ctl.url(path))
        .header("cookie", cookie);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = r.send().await.unwrap();
    let s = resp.status().as_u16();
    (
        s,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cross_site_post_with_a_session_cookie_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let out = cli(
        &[
            "user",
            "add",
            "--login",
            "lan.nguyen",
            "--name",
            "Nguyễn Thị Lan",
            "--role",
            "operator",
            "--totp",
        ],
        dir.path(),
    )
    .await;
    assert!(out.starts_with("created operator user lan.nguyen"), "{out}");
    let password = out
        .split("password (shown once): ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
    let uri = out
        .split_whitespace()
        .find(|w| w.starts_with("otpauth://"))
        .expect("otpauth URI")
        .to_string();
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();

    // Right password, missing code: the console is told to ask for the code; wrong password:
    // refused.
    let (s, b) = ctl
        .req(
            "POST",
            "/api/v1/session",
            None,
            Some(json!({"login": "lan.nguyen", "password": password})),
        )
        .await;
    assert_eq!(s, 401, "no TOTP code");
    assert_eq!(b["error"], "code_required", "{b}");
    let code = gatecast_controller::accounts::totp_now(&secret, "lan.nguyen").unwrap();
    let (s, _) = ctl
        .req(
            "POST",
            "/api/v1/session",
            None,
            Some(json!({"login": "lan.nguyen", "password": "wrong password!!", "code": code})),
        )
        .await;
    assert_eq!(s, 401, "wrong password");

    let resp = ctl
        .http
        .post(ctl.url("/api/v1/session"))
        .header("content-type", "application/json")
        .body(json!({"login": "lan.nguyen", "password": password, "code": code}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let me: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let csrf = me["csrf"].as_str().unwrap().to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // Two tabs: a second client with the same cookie.
    let tab2 = reqwest::Client::new();
    let who = tab2
        .get(ctl.url("/api/v1/whoami"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status().as_u16(), 200);
    let who: Value = serde_json::from_str(&who.text().await.unwrap()).unwrap();
    assert_eq!(
        (who["user"].as_str(), who["role"].as_str()),
        (Some("lan.nguyen"), Some("operator"))
    );
    let (s, _) = with_cookie(&ctl, "GET", "/api/v1/whoami", &cookie, &[], None).await;
    assert_eq!(s, 200);
    // A new tab learns the session's CSRF token from the cookie alone.
    let (s, cur) = with_cookie(&ctl, "GET", "/api/v1/session", &cookie, &[], None).await;
    assert_eq!(
        (s, cur["csrf"].as_str(), cur["name"].as_str()),
        (200, Some(csrf.as_str()), Some("Nguyễn Thị Lan")),
        "{cur}"
    );

    // A forged cross-site POST: the cookie alone is not enough.
    let (s, v) = with_cookie(&ctl, "POST", "/api/v1/log/checkpoint", &cookie, &[], None).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("csrf")), "{v}");
    let (s, v) = with_cookie(
        &ctl,
        "POST",
        "/api/v1/log/checkpoint",
        &cookie,
        &[("x-csrf-token", &csrf), ("origin", "https://evil.example")],
        None,
    )
    .await;
    assert_eq!(s, 403, "another origin: {v}");
    let host = ctl.base.trim_start_matches("http://").to_string();
    let origin = format!("http://{host}");
    let (s, v) = with_cookie(
        &ctl,
        "POST",
        "/api/v1/log/checkpoint",
        &cookie,
        &[("x-csrf-token", &csrf), ("origin", &origin)],
        None,
    )
    .await;
    assert_eq!(s, 200, "same origin with the token: {v}");

    // The action log names the person (the sign-in is an action of its own).
    let (s, log) = ctl
        .req("GET", "/api/v1/actions", Some(&ctl.admin), None)
        .await;
    assert_eq!(s, 200, "{log}");
    let text = log.to_string();
    assert!(
        text.contains("\"actor\":\"lan.nguyen\"") && text.contains("session.sign_in"),
        "{text}"
    );

    // Sign out: the session ends for both tabs.
    let (s, _) = with_cookie(
        &ctl,
        "DELETE",
        "/api/v1/session",
        &cookie,
        &[("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = with_cookie(&ctl, "GET", "/api/v1/whoami", &cookie, &[], None).await;
    assert_eq!(s, 401);
    let (s, _) = with_cookie(&ctl, "GET", "/api/v1/session", &cookie, &[], None).await;
    assert_eq!(s, 401, "no session after sign-out");

    // Disabled through the admin socket: sign-in refused.
    let out = cli(&["user", "disable", "lan.nguyen"], dir.path()).await;
    assert!(out.starts_with("disabled user lan.nguyen"), "{out}");
    let code = gatecast_controller::accounts::totp_now(&secret, "lan.nguyen").unwrap();
    let (s, _) = ctl
        .req(
            "POST",
            "/api/v1/session",
            None,
            Some(json!({"login": "lan.nguyen", "password": password, "code": code})),
        )
        .await;
    assert_eq!(s, 401);
}
