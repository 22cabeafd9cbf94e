//! The admin commands on a live controller (`docs/operations.md`, "Admin commands on a running
//! controller"): with the real `gatecast-controller serve` running, `token create|list`,
//! `broker-acl` and `backup` succeed through the admin socket and a new token works on the
//! HTTP API at once; with it stopped, the same commands work on the database and print the
//! same kind of output. `user add` works the same way, and the new user signs in over HTTP
//! (`POST /api/v1/session`) at once. A peer of another user is refused on the socket.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use gatecast_tests::{binary, http, sha256_hex, Controller, ControllerOptions, TestDir};

fn admin(data: &Path, args: &[&str]) -> Output {
    Command::new(binary("gatecast-controller"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("running gatecast-controller")
}

/// Runs an admin command that must succeed; returns its standard output.
fn admin_ok(data: &Path, args: &[&str]) -> String {
    let o = admin(data, args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "gatecast-controller {args:?} failed ({}):\n{out}{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// `token create --role auditor`; checks the output and returns the token (its last word).
fn create_auditor(data: &Path) -> String {
    let out = admin_ok(data, &["token", "create", "--role", "auditor"]);
    assert!(out.starts_with("created auditor token "), "{out}");
    let token = out.split_whitespace().last().expect("a token").to_string();
    assert!(token.starts_with("gct_"), "{out}");
    token
}

/// `user add` with a random password; checks the output and returns that password.
fn add_user(data: &Path, login: &str, name: &str) -> String {
    let out = admin_ok(
        data,
        &[
            "user", "add", "--login", login, "--name", name, "--role", "operator",
        ],
    );
    assert!(
        out.starts_with(&format!("created operator user {login} ({name})")),
        "{out}"
    );
    out.split("password (shown once): ")
        .nth(1)
        .unwrap_or_else(|| panic!("no password in: {out}"))
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string()
}

/// Signs in with login and password; returns the status and the session cookie when set.
fn sign_in(c: &Controller, login: &str, password: &str) -> (u16, Option<String>) {
    let body = serde_json::json!({ "login": login, "password": password }).to_string();
    let r = http(
        c.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .expect("HTTP request");
    let cookie = r
        .header("set-cookie")
        .map(|v| v.split(';').next().unwrap_or_default().to_string());
    (r.status, cookie)
}

/// The user and role the session cookie stands for.
fn whoami_cookie(c: &Controller, cookie: &str) -> (u16, serde_json::Value) {
    let r =
        http(c.http, "GET", "/api/v1/whoami", &[("cookie", cookie)], b"").expect("HTTP request");
    (r.status, r.json())
}

/// Signs `login` in and checks the session names them with role operator.
fn assert_signs_in(c: &Controller, login: &str, password: &str) {
    let (status, cookie) = sign_in(c, login, password);
    assert_eq!(status, 200, "{login} signs in with the printed password");
    let cookie = cookie.expect("a session cookie");
    let (status, me) = whoami_cookie(c, &cookie);
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["user"].as_str(), me["role"].as_str()),
        (Some(login), Some("operator")),
        "{me}"
    );
}

fn whoami(c: &Controller, token: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let r = http(
        c.http,
        "GET",
        "/api/v1/whoami",
        &[("authorization", &auth)],
        b"",
    )
    .expect("HTTP request");
    (r.status, r.json())
}

#[test]
fn admin_commands_work_on_a_running_and_on_a_stopped_controller() {
    let dir = TestDir::new("ops_admin_live");
    let data = dir.path().join("data");
    let mut c = Controller::start(&data, ControllerOptions::default());

    // Running: through the admin socket.
    let token = create_auditor(&data);
    let (status, me) = whoami(&c, &token);
    assert_eq!(status, 200, "the new token works at once: {me}");
    assert_eq!(me["role"], "auditor", "{me}");
    let id = &token["gct_".len().."gct_".len() + 16];
    let list = admin_ok(&data, &["token", "list"]);
    assert!(list.contains(id) && list.contains("auditor"), "{list}");
    assert!(!list.contains(&token), "token list shows a secret:\n{list}");

    let acl = dir.path().join("acl");
    let out = admin_ok(
        &data,
        &["broker-acl", "mosquitto", "--out", acl.to_str().unwrap()],
    );
    assert!(out.starts_with("wrote "), "{out}");
    assert!(acl.join("passwords").is_file() && acl.join("acl").is_file());

    let archive = dir.path().join("live.tar");
    let out = admin_ok(&data, &["backup", "--out", archive.to_str().unwrap()]);
    assert!(out.starts_with("wrote backup "), "{out}");
    let sum = std::fs::read_to_string(dir.path().join("live.tar.sha256")).unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(
        sum.split_whitespace().next(),
        Some(sha256_hex(&bytes).as_str())
    );
    assert!(out.contains(&sha256_hex(&bytes)), "{out}");

    // A console user made through the socket signs in at once; a wrong password does not.
    let password = add_user(&data, "lan.nguyen", "Nguyễn Thị Lan");
    assert_eq!(
        sign_in(&c, "lan.nguyen", "not the password!!").0,
        401,
        "a wrong password is refused"
    );
    assert_signs_in(&c, "lan.nguyen", &password);

    let out = admin_ok(&data, &["token", "revoke", id]);
    assert_eq!(out.trim(), format!("revoked token {id}"));
    assert_eq!(
        whoami(&c, &token).0,
        401,
        "a revoked token is refused at once"
    );

    // Stopped: directly on the database, same output.
    c.stop();
    assert!(
        !data.join("admin.sock").exists(),
        "the socket is removed at shutdown"
    );
    let offline = create_auditor(&data);
    let list = admin_ok(&data, &["token", "list"]);
    assert!(
        list.contains(&offline["gct_".len().."gct_".len() + 16]),
        "{list}"
    );
    let offline_archive = dir.path().join("stopped.tar");
    let out = admin_ok(
        &data,
        &["backup", "--out", offline_archive.to_str().unwrap()],
    );
    assert!(out.starts_with("wrote backup "), "{out}");
    let offline_password = add_user(&data, "minh.tran", "Trần Văn Minh");
    c.start_again();
    assert_eq!(
        whoami(&c, &offline).0,
        200,
        "the token made while stopped works"
    );
    assert_signs_in(&c, "minh.tran", &offline_password);
    assert_signs_in(&c, "lan.nguyen", &password);
}

#[test]
fn attack_admin_socket_refuses_another_user() {
    if !gatecast_tests::require_program(
        "attack_admin_socket_refuses_another_user",
        "setpriv",
        "util-linux",
    ) {
        return;
    }
    let dir = TestDir::new("ops_admin_peer");
    let data = dir.path().join("data");
    let c = Controller::start(&data, ControllerOptions::default());
    let sock = data.join("admin.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin socket mode");
    // Past the file mode (as if it were loosened by mistake): the peer check still refuses.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary("gatecast-controller"))
        .args(["token", "create", "--role", "admin", "--data"])
        .arg(&data)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("running setpriv");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "another user made a token: {stderr}");
    assert!(stderr.contains("refused: uid 65534"), "{stderr}");
    let list = admin_ok(&data, &["token", "list"]);
    assert_eq!(
        list.lines().count(),
        2,
        "only the first admin token exists:\n{list}"
    );
    drop(c);
}
