//! The demo's approval policy (`docs/protocol.md` §19): a root key and two approver keys in
//! `<data>/demo-keys/` (demo keys, labelled as such), a policy needing two approvals per media
//! item and one per alert, the sample content approved by both, and the emergency slide (in no
//! playlist) approved by one approver only, waiting for the second; the demo prints the
//! `gatecast-approve` command that approves it.

use playlists::approval::{Approval, ApprovedMedia, Scope};
use playlists::keys::SecretKey;
use playlists::manifest::MediaKind;
use playlists::policy::{sign_policy, Approver, Policy, RootKey};

use super::*;

/// Where the demo keeps its keys.
const KEYS_DIR: &str = "demo-keys";
const README: &str =
    "DEMO KEYS made by gatecast-demo. Anyone with this directory can approve content \
on the demo's screens: never use them for real screens.\n";

/// What the rest of the demo needs from the approval setup.
pub(crate) struct DemoApprovals {
    /// The root key id the demo's screens pin.
    pub root_id: String,
    /// The command that gives the waiting item its second approval.
    pub command: String,
}

fn key(dir: &Path, name: &str) -> Result<SecretKey, DemoError> {
    let path = dir.join(name);
    let err = |m: String| dir_err(&path, m);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        return SecretKey::from_text(text.trim()).map_err(|e| err(e.to_string()));
    }
    let k = SecretKey::generate(&mut rand_core::OsRng);
    gatecast_support::fs::write_atomic(&path, format!("{}\n", k.to_text()).as_bytes(), 0o600)
        .map_err(|e| err(e.to_string()))?;
    let public = dir.join(format!("{name}.pub"));
    gatecast_support::fs::write_atomic(
        &public,
        format!("{}\n", k.public().to_base64()).as_bytes(),
        0o644,
    )
    .map_err(|e| err(e.to_string()))?;
    Ok(k)
}

fn kind(s: &str) -> MediaKind {
    match s {
        "video" => MediaKind::Video,
        "clip" => MediaKind::Clip,
        _ => MediaKind::Slide,
    }
}

fn approval(media: Vec<ApprovedMedia>, note: &str) -> Approval {
    let now = jiff::Timestamp::now();
    Approval {
        media,
        texts: Vec::new(),
        not_before: now - jiff::SignedDuration::from_mins(5),
        not_after: now + jiff::SignedDuration::from_hours(24 * 365),
        scope: Scope::everywhere(),
        note: Some(note.into()),
    }
}

async fn put_json(api: &Api, what: &str, path: &str, body: Vec<u8>) -> Result<(), DemoError> {
    let req = api
        .client
        .put(api.url(path))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    let (s, v) = api.send(what, req).await?;
    if (200..300).contains(&s) {
        Ok(())
    } else {
        Err(api_err(what, s, &v))
    }
}

/// Sets up the keys, the policy and the approvals (idempotent across runs).
pub(crate) async fn prepare(
    api: &Api,
    data: &Path,
    cat: &Catalogue,
    token_path: &str,
) -> Result<DemoApprovals, DemoError> {
    let dir = data.join(KEYS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| dir_err(&dir, e.to_string()))?;
    std::fs::write(dir.join("README.txt"), README).map_err(|e| dir_err(&dir, e.to_string()))?;
    let root = key(&dir, "root.key")?;
    let an = key(&dir, "an.key")?;
    let binh = key(&dir, "binh.key")?;

    let held = api
        .get("reading the approval policy", "/api/v1/policy")
        .await?;
    if held.as_ref().is_none_or(|v| v["policy"].is_null()) {
        let now = jiff::Timestamp::now();
        let approver = |k: &SecretKey, name: &str| Approver {
            key_id: k.key_id(),
            public_key: k.public().to_base64(),
            name: name.into(),
            roles: vec!["demo".into()],
        };
        let policy = Policy {
            version: 1,
            issued_at: now - jiff::SignedDuration::from_mins(5),
            expires_at: now + jiff::SignedDuration::from_hours(24 * 365),
            root_keys: vec![RootKey {
                key_id: root.key_id(),
                public_key: root.public().to_base64(),
            }],
            root_threshold: 1,
            approvers: vec![
                approver(&an, "Nguyễn Văn An (demo)"),
                approver(&binh, "Trần Thị Bình (demo)"),
            ],
            media_threshold: 2,
            alert_threshold: 1,
        };
        put_json(
            api,
            "setting the approval policy",
            "/api/v1/policy",
            sign_policy(&policy, &root).to_json(),
        )
        .await?;
        info!(root_key_id = %root.key_id(), "demo approval policy set");
    }

    let pending = api
        .get(
            "listing what waits for approval",
            "/api/v1/approvals/pending",
        )
        .await?
        .unwrap_or_default();
    let waiting = |sha: &str| {
        pending["media"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["sha256"] == sha)
            .cloned()
    };
    let of = |m: &CatalogueMedia| ApprovedMedia {
        sha256: m.sha256.clone(),
        title: m.title.clone(),
        lang: m.lang.clone(),
        kind: kind(&m.kind),
    };
    let content: Vec<ApprovedMedia> = cat
        .media
        .iter()
        .map(|(m, _)| m)
        .filter(|m| !m.alert && waiting(&m.sha256).is_some())
        .map(of)
        .collect();
    if !content.is_empty() {
        for k in [&an, &binh] {
            let env = approval(content.clone(), "demo content").sign(k);
            let body: Value = serde_json::from_slice(&env.to_json()).expect("envelope JSON");
            api.post("uploading a demo approval", "/api/v1/approvals", &body)
                .await?;
        }
    }
    let emergency = cat.media.iter().map(|(m, _)| m).find(|m| m.alert);
    let mut command = String::new();
    if let Some(m) = emergency {
        if waiting(&m.sha256).is_some_and(|w| w["approved_by"].as_array().is_none_or(Vec::is_empty))
        {
            let env = approval(vec![of(m)], "demo: one approval of two").sign(&an);
            let body: Value = serde_json::from_slice(&env.to_json()).expect("envelope JSON");
            api.post("uploading a demo approval", "/api/v1/approvals", &body)
                .await?;
        }
        if waiting(&m.sha256).is_some() {
            command = format!(
                "gatecast-approve sign --key {} --controller {} --token \"$(cat {token_path})\" {}",
                dir.join("binh.key").display(),
                api.base,
                m.sha256
            );
        }
    }
    Ok(DemoApprovals {
        root_id: root.key_id(),
        command,
    })
}
