//! `enroll` against a fake controller (warp on port 0).

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use gatecast_player::config::{BackendKind, PlayerConfig};
use gatecast_player::enroll::{enroll, EnrollError, EnrollOptions};
use gatecast_player::keyfile;
use playlists::keys::SecretKey;
use warp::http::StatusCode;
use warp::Filter;

/// A fake controller: accepts code "123456" for screen "lc-a1", records the requests.
struct Controller {
    url: String,
    seen: Arc<Mutex<Vec<serde_json::Value>>>,
    key: SecretKey,
}

async fn controller(claimed_key_id: Option<&'static str>) -> Controller {
    let key = SecretKey::from_seed([9; 32]);
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let (log, pubkey) = (seen.clone(), key.public());
    let route = warp::post()
        .and(warp::path!("api" / "v1" / "enroll"))
        .and(warp::body::json())
        .map(move |body: serde_json::Value| {
            log.lock().unwrap().push(body.clone());
            if body["code"] != "123456" || body["screen"] != "lc-a1" {
                return warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({"error": "bad_code", "message": "the enrolment code is wrong or was used"})),
                    StatusCode::FORBIDDEN,
                );
            }
            warp::reply::with_status(
                warp::reply::json(&serde_json::json!({
                    "broker": "mqtt://127.0.0.1:1883",
                    "mqtt_username": "lc-a1",
                    "mqtt_password": "pw-lc-a1-secret",
                    "controller_key": pubkey.to_base64(),
                    "controller_key_id": claimed_key_id.map(String::from).unwrap_or_else(|| pubkey.key_id()),
                    "media_base": "http://127.0.0.1:8080",
                })),
                StatusCode::OK,
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Controller {
        url: format!("http://{addr}"),
        seen,
        key,
    }
}

fn options(c: &Controller, dir: &Path, code: &str, expect: Option<String>) -> EnrollOptions {
    EnrollOptions {
        controller: c.url.clone(),
        screen: "lc-a1".into(),
        code: code.into(),
        expect_key_id: expect,
        policy_root: Vec::new(),
        config_path: dir.join("etc/player.toml"),
        data_dir: dir.join("data"),
        backend: BackendKind::Null,
        ca_file: None,
        pin_sha256: None,
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn enrols_writes_private_config_and_key() {
    let c = controller(None).await;
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&c, dir.path(), "123456", Some(c.key.key_id()));
    let cfg = enroll(&opts).await.unwrap();

    let loaded = PlayerConfig::load(&opts.config_path).unwrap();
    assert_eq!(loaded, cfg);
    assert_eq!(loaded.screen, "lc-a1");
    assert_eq!(loaded.mqtt_password, "pw-lc-a1-secret");
    assert_eq!(loaded.controller_key, c.key.public().to_base64());
    assert_eq!(loaded.data_dir, dir.path().join("data"));
    let key = keyfile::load(&keyfile::device_key_path(&opts.data_dir)).unwrap();
    let sent = c.seen.lock().unwrap()[0].clone();
    assert_eq!(sent["screen"], "lc-a1");
    assert_eq!(sent["code"], "123456");
    let sent_key = base64::engine::general_purpose::STANDARD
        .decode(sent["device_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(sent_key, key.public().as_bytes());
    #[cfg(unix)]
    {
        assert_eq!(mode(&opts.config_path), 0o600);
        assert_eq!(mode(&keyfile::device_key_path(&opts.data_dir)), 0o600);
    }

    // Enrolling again keeps the device key.
    enroll(&opts).await.unwrap();
    let sent_again = c.seen.lock().unwrap()[1]["device_key"].clone();
    assert_eq!(sent_again, sent["device_key"]);
}

async fn assert_nothing_written(dir: &Path) {
    assert!(!dir.join("etc/player.toml").exists(), "config written");
    assert!(!dir.join("data/device.key").exists(), "device key written");
}

#[tokio::test]
async fn a_different_controller_key_id_is_refused_and_nothing_written() {
    let c = controller(None).await;
    let dir = tempfile::tempdir().unwrap();
    let other = SecretKey::from_seed([1; 32]).key_id();
    let err = enroll(&options(&c, dir.path(), "123456", Some(other.clone())))
        .await
        .unwrap_err();
    match &err {
        EnrollError::KeyIdMismatch { expected, found } => {
            assert_eq!(expected, &other);
            assert_eq!(found, &c.key.key_id());
        }
        e => panic!("wrong error: {e}"),
    }
    assert_nothing_written(dir.path()).await;
}

#[tokio::test]
async fn a_refused_code_reports_the_controller_message() {
    let c = controller(None).await;
    let dir = tempfile::tempdir().unwrap();
    let err = enroll(&options(&c, dir.path(), "000000", None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EnrollError::Refused { status: 403, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("wrong or was used"), "{err}");
    assert_nothing_written(dir.path()).await;
}

#[tokio::test]
async fn an_inconsistent_key_id_in_the_answer_is_refused() {
    let c = controller(Some("0011223344556677")).await;
    let dir = tempfile::tempdir().unwrap();
    let err = enroll(&options(&c, dir.path(), "123456", None))
        .await
        .unwrap_err();
    assert!(matches!(err, EnrollError::BadAnswer(_)), "{err}");
    assert_nothing_written(dir.path()).await;
}

#[tokio::test]
async fn bad_options_are_refused_before_any_request() {
    let c = controller(None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&c, dir.path(), "123456", None);
    o.screen = "../etc".into();
    assert!(matches!(enroll(&o).await, Err(EnrollError::BadOption(_))));
    assert!(c.seen.lock().unwrap().is_empty());
    assert_nothing_written(dir.path()).await;
}
