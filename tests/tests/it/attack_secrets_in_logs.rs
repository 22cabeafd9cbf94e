//! Attack: reading the logs. The real controller and a real player run with every log target at
//! `trace` (`GATECAST_LOG=trace` for the controller, `RUST_LOG=trace` for both) through
//! registration, enrolment, a refused token, publishing, playback, receipts and acks; then no
//! secret may appear in anything they wrote: API tokens, enrolment codes, MQTT passwords (the
//! screen's and the controller's own), the controller's signing-key seed and the player's
//! device-key seed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatecast_tests::{binary, http, parse_listening, wait_until};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// SIGTERM and wait (20 s), so the logs of the shutdown path are captured too.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = wait_until("process exit", Duration::from_secs(20), || {
            self.0.try_wait().ok().flatten()
        });
    }
}

fn api(
    addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &[u8],
    ctype: &str,
) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let r = http(
        addr,
        method,
        path,
        &[("authorization", &auth), ("content-type", ctype)],
        body,
    )
    .expect("HTTP request");
    (r.status, r.json())
}

/// The base64 seed of a secret key file, and the decoded bytes.
fn seed_of_key_file(path: &Path) -> (String, Vec<u8>) {
    let text = std::fs::read_to_string(path).unwrap();
    let b64 = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no seed in {}", path.display()))
        .to_string();
    let bytes = decode_base64(&b64);
    assert_eq!(bytes.len(), 32, "seed of {}", path.display());
    (b64, bytes)
}

/// Standard base64 with padding (enough for key files; no dependency for one test).
fn decode_base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .expect("base64 character") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn attack_secrets_never_appear_in_trace_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ctl");
    let ctl_log = dir.path().join("controller.log");

    // The controller, everything at trace.
    let mut ctl = Proc(
        Command::new(binary("gatecast-controller"))
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--mqtt",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(&data)
            .env("GATECAST_LOG", "trace")
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&ctl_log).unwrap())
            .spawn()
            .expect("start gatecast-controller"),
    );
    let stdout_lines: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let out = ctl.0.stdout.take().unwrap();
        let lines = stdout_lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
    }
    let line = wait_until("the listening line", T, || {
        stdout_lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with("gatecast-controller listening"))
            .cloned()
    });
    let addr = parse_listening(&line).http;
    let admin = std::fs::read_to_string(data.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();

    // Registration, tokens, a refused token, content and publishing.
    let (s, reg) = api(
        addr,
        &admin,
        "POST",
        "/api/v1/screens",
        json!({"id":"lc-a1","name":"A1","gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"})
            .to_string()
            .as_bytes(),
        "application/json",
    );
    assert_eq!(s, 201, "{reg}");
    let code = reg["enrollment_code"].as_str().unwrap().to_string();
    let reg_password = reg["mqtt_password"].as_str().unwrap().to_string();
    let (s, tok) = api(
        addr,
        &admin,
        "POST",
        "/api/v1/tokens",
        br#"{"role":"operator"}"#,
        "application/json",
    );
    assert_eq!(s, 201, "{tok}");
    let operator = tok["token"].as_str().unwrap().to_string();
    let wrong = format!(
        "gct_{}_WrongSecretThatMustNotBeLogged0123456789abc",
        &admin[4..20]
    );
    let (s, _) = api(
        addr,
        &wrong,
        "GET",
        "/api/v1/screens",
        b"",
        "application/json",
    );
    assert_eq!(s, 401);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..2000u32).map(|i| (i * 7) as u8));
    let (s, m) = api(
        addr,
        &operator,
        "POST",
        "/api/v1/media?kind=slide&lang=vi&title=t",
        &png,
        "image/png",
    );
    assert_eq!(s, 201, "{m}");
    let sha = m["sha256"].as_str().unwrap();
    let (s, v) = api(
        addr,
        &operator,
        "POST",
        "/api/v1/playlists",
        json!({"id":"p1","name":"p","items":[{"media":sha,"duration_ms":1000}]})
            .to_string()
            .as_bytes(),
        "application/json",
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = api(
        addr,
        &operator,
        "POST",
        "/api/v1/schedules",
        json!({"id":"s1","playlist":"p1","targets":{"screens":["lc-a1"]},"priority":1})
            .to_string()
            .as_bytes(),
        "application/json",
    );
    assert_eq!(s, 201, "{v}");

    // The player: enrol and run, everything at trace.
    let pdir = dir.path().join("player");
    std::fs::create_dir_all(&pdir).unwrap();
    let config = pdir.join("player.toml");
    let enroll = Command::new(binary("gatecast-player"))
        .args([
            "enroll",
            "--controller",
            &format!("http://{addr}"),
            "--screen",
            "lc-a1",
            "--code",
            &code,
        ])
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(pdir.join("data"))
        .args(["--backend", "null"])
        .env("RUST_LOG", "trace")
        .output()
        .expect("gatecast-player enroll");
    assert!(
        enroll.status.success(),
        "{}",
        String::from_utf8_lossy(&enroll.stderr)
    );
    let player_log = pdir.join("player.log");
    let mut player = Proc(
        Command::new(binary("gatecast-player"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args([
                "--backend",
                "null",
                "--null-speed",
                "10",
                "--status-interval-secs",
                "1",
            ])
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(pdir.join("player.out")).unwrap())
            .stderr(std::fs::File::create(&player_log).unwrap())
            .spawn()
            .expect("start gatecast-player"),
    );
    let (s, v) = api(
        addr,
        &operator,
        "POST",
        "/api/v1/publish",
        br#"{"screens":["lc-a1"]}"#,
        "application/json",
    );
    assert_eq!(s, 200, "{v}");
    // Receipts went up and were acked (MQTT logins, publishes, acks all happened).
    wait_until("receipts stored", T, || {
        let (s, v) = api(
            addr,
            &admin,
            "GET",
            "/api/v1/receipts?screen=lc-a1&format=json",
            b"",
            "application/json",
        );
        let n = v["receipts"]
            .as_array()
            .or_else(|| v.as_array())
            .map_or(0, |a| a.len());
        (s == 200 && n >= 3).then_some(())
    });
    player.stop();
    ctl.stop();

    // Every secret, in the forms it could be printed in.
    let player_cfg = std::fs::read_to_string(&config).unwrap();
    let enrolled_password = player_cfg
        .lines()
        .find_map(|l| l.strip_prefix("mqtt_password = "))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("mqtt_password in player.toml");
    let controller_mqtt = std::fs::read_to_string(data.join("mqtt-controller.password"))
        .unwrap()
        .trim()
        .to_string();
    let controller_seed = seed_of_key_file(&data.join("controller.key"));
    let device_seed = seed_of_key_file(&pdir.join("data").join("device.key"));
    // `gct_<16 hex id>_<secret>`; the secret is base64url and may itself contain `_`.
    let token_secret = |t: &str| {
        t.strip_prefix("gct_")
            .and_then(|r| r.split_once('_'))
            .map(|(_, secret)| secret.to_string())
            .unwrap_or_else(|| panic!("token without the gct_<id>_<secret> shape"))
    };
    let secrets: Vec<(&str, String)> = vec![
        ("admin token secret", token_secret(&admin)),
        ("operator token secret", token_secret(&operator)),
        ("refused token secret", token_secret(&wrong)),
        ("enrolment code", code.clone()),
        ("MQTT password at registration", reg_password),
        ("MQTT password at enrolment", enrolled_password),
        ("controller MQTT password", controller_mqtt),
        ("controller key seed (base64)", controller_seed.0.clone()),
        (
            "controller key seed (hex)",
            playlists::hex::encode(&controller_seed.1),
        ),
        ("device key seed (base64)", device_seed.0.clone()),
        (
            "device key seed (hex)",
            playlists::hex::encode(&device_seed.1),
        ),
    ];
    let logs: Vec<(String, String)> = vec![
        (
            "controller stderr".into(),
            std::fs::read_to_string(&ctl_log).unwrap(),
        ),
        (
            "controller stdout".into(),
            stdout_lines.lock().unwrap().join("\n"),
        ),
        (
            "player enroll stdout+stderr".into(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&enroll.stdout),
                String::from_utf8_lossy(&enroll.stderr)
            ),
        ),
        (
            "player run stderr".into(),
            std::fs::read_to_string(&player_log).unwrap(),
        ),
        (
            "player run stdout".into(),
            std::fs::read_to_string(pdir.join("player.out")).unwrap(),
        ),
    ];
    // The logs really are at trace level and cover the flows (so the check means something).
    assert!(
        logs[0].1.contains("TRACE"),
        "controller log is not at trace level"
    );
    assert!(
        logs[3].1.contains("TRACE"),
        "player log is not at trace level"
    );
    // The player's volume depends on how long the flow takes (about 2 s of playback with the
    // embedded broker; rumqttd took longer), so its bar is lower than the controller's.
    assert!(
        logs[0].1.len() > 10_000 && logs[3].1.len() > 4_000,
        "logs too short to mean anything: controller {} bytes, player {} bytes",
        logs[0].1.len(),
        logs[3].1.len()
    );
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 16,
            "{what} is too short to search for: {secret:?}"
        );
        for (name, text) in &logs {
            if text.contains(secret.as_str()) {
                let at = text.find(secret.as_str()).unwrap();
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                leaks.push(format!(
                    "{what} in {name}: {}",
                    &text[line_start..line_end.min(line_start + 400)]
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets in logs:\n{}", leaks.join("\n"));
}
