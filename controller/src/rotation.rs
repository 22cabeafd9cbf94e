//! Controller key rotation (`gatecast-controller rotate-key`, docs/operations.md "Rotating the
//! controller key").
//!
//! [`rotate_key`] runs with the controller stopped (the database is locked while it runs):
//!
//! 1. the new key is written to `controller.key.next` (0600, fsynced);
//! 2. the old key is kept as `controller.key.retired-<old key id>` (0600);
//! 3. a rotation statement (`playlists::rotation`, signed by the old AND the new key) is
//!    appended to the store (`meta` key [`ROTATIONS_KEY`], flushed);
//! 4. `controller.key.next` is renamed over `controller.key` (directory fsynced).
//!
//! A crash between 3 and 4 is finished by the next `rotate-key` (it sees `controller.key.next`
//! named by the last statement and only does step 4); a crash before 3 leaves an unused
//! `controller.key.next` that the next run discards. On the next start the controller signs
//! everything with the new key, re-signs the stored manifests and alert sets that the old key
//! signed ([`resign_stored`]: same content, version + 1), publishes the latest statement
//! retained on every screen's `rotation` topic (with the retained manifests, after every
//! connect) and lists all statements in `GET /api/v1/keys`.

use playlists::approval::{sign_alerts, sign_manifest, Attachments};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use jiff::Timestamp;
use playlists::keys::SecretKey;
use playlists::manifest::{AlertSet, Manifest};
use playlists::rotation::Rotation;
use playlists::topics::{topic, Kind};

use crate::config::files;
use crate::publish::Outbox;
use crate::store::{Store, StoredAlertSet, StoredManifest};

/// `meta` key holding the JSON array of rotation statements (base64 of the exact envelope
/// bytes), oldest first.
pub const ROTATIONS_KEY: &str = "controller_rotations";
/// Default overlap: 7 days.
pub const DEFAULT_OVERLAP_DAYS: u64 = 7;
/// Suffix of the staged new key file.
const NEXT_SUFFIX: &str = ".next";

/// What went wrong rotating the key.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// A key file could not be read or written.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The statement could not be built.
    #[error("cannot build the rotation statement: {0}")]
    Statement(#[from] playlists::rotation::RotationError),
    /// The overlap is out of range.
    #[error("overlap of {0:?} is out of range; use 1 to 3650 days")]
    Overlap(Duration),
}

/// The result of [`rotate_key`].
#[derive(Debug, Clone)]
pub struct Rotated {
    /// Id of the retired key.
    pub old_key_id: String,
    /// Id of the new signing key.
    pub new_key_id: String,
    /// Where the retired key was kept.
    pub retired_path: PathBuf,
    /// `valid_from` of the statement.
    pub valid_from: Timestamp,
    /// `overlap_until` of the statement.
    pub overlap_until: Timestamp,
}

/// Every recorded rotation statement (exact envelope bytes), oldest first.
pub fn statements(store: &Store) -> Result<Vec<Vec<u8>>, crate::store::StoreError> {
    let Some(text) = store.meta_get(ROTATIONS_KEY)? else {
        return Ok(Vec::new());
    };
    let list: Vec<String> =
        serde_json::from_str(&text).map_err(|e| crate::store::StoreError::Corrupt {
            what: ROTATIONS_KEY.into(),
            message: e.to_string(),
        })?;
    list.iter()
        .map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| crate::store::StoreError::Corrupt {
                    what: ROTATIONS_KEY.into(),
                    message: e.to_string(),
                })
        })
        .collect()
}

/// The latest statement whose new key is `current` (the key the controller signs with), if
/// any; a statement naming another key (an interrupted rotation) is never published.
pub fn latest_for(store: &Store, current: &SecretKey) -> Option<Vec<u8>> {
    let all = statements(store)
        .map_err(|e| tracing::warn!("cannot read rotation statements: {e}"))
        .ok()?;
    let last = all.into_iter().last()?;
    let env = playlists::envelope::Envelope::parse(&last).ok()?;
    let r = Rotation::from_json(&env.payload).ok()?;
    (r.new_key_id == current.key_id()).then_some(last)
}

fn key_err(path: &Path, e: impl std::fmt::Display) -> RotationError {
    RotationError::KeyFile {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn read_key(path: &Path) -> Result<SecretKey, RotationError> {
    let text = std::fs::read_to_string(path).map_err(|e| key_err(path, e))?;
    SecretKey::from_text(&text).map_err(|e| key_err(path, e))
}

/// Makes a new controller key and a rotation statement (see the module docs). `data_dir` is
/// the controller's data directory, `store` its open database.
pub async fn rotate_key(
    data_dir: &Path,
    store: &Store,
    overlap: Duration,
    now: Timestamp,
) -> Result<Rotated, RotationError> {
    if overlap < Duration::from_secs(60) || overlap > Duration::from_secs(3650 * 86_400) {
        return Err(RotationError::Overlap(overlap));
    }
    let key_path = data_dir.join(files::CONTROLLER_KEY);
    let next_path = data_dir.join(format!("{}{NEXT_SUFFIX}", files::CONTROLLER_KEY));
    if let Some(done) = finish_interrupted(data_dir, store)? {
        return Ok(done);
    }
    let old = read_key(&key_path)?;
    let mut recorded = statements(store)?;

    let new = SecretKey::generate(&mut rand_core::OsRng);
    let overlap_until = now
        .checked_add(jiff::SignedDuration::from_secs(overlap.as_secs() as i64))
        .map_err(|_| RotationError::Overlap(overlap))?;
    let rotation = Rotation::new(&old.public(), &new.public(), now, overlap_until);
    let env = rotation.sign(&old, &new)?.to_json();
    // Check what we publish with the same code the players run.
    playlists::rotation::verify_rotation(&env, &old.public())
        .map_err(|r| key_err(&key_path, format!("self-check failed: {r}")))?;

    crate::secrets::write_secret_file(&next_path, new.to_text().as_bytes())
        .map_err(|e| key_err(&next_path, e))?;
    let retired = retired_path(data_dir, &old.key_id());
    if !retired.exists() {
        crate::secrets::write_secret_file(&retired, old.to_text().as_bytes())
            .map_err(|e| key_err(&retired, e))?;
    }
    recorded.push(env);
    let list: Vec<String> = recorded
        .iter()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
        .collect();
    store
        .meta_put(
            ROTATIONS_KEY,
            &serde_json::to_string(&list).expect("strings serialize"),
        )
        .await?;
    store.flush().await?;
    std::fs::rename(&next_path, &key_path).map_err(|e| key_err(&key_path, e))?;
    gatecast_support::fs::sync_dir(data_dir).map_err(|e| key_err(data_dir, e))?;
    Ok(Rotated {
        old_key_id: old.key_id(),
        new_key_id: new.key_id(),
        retired_path: retired,
        valid_from: now,
        overlap_until,
    })
}

/// Finishes a rotation interrupted between recording its statement and renaming
/// `controller.key.next` over `controller.key` (returns it), or discards a staged key that no
/// statement names (returns `None`). `serve` calls it before loading the key, so a recorded
/// statement is never published while the controller still signs with the old key.
pub fn finish_interrupted(
    data_dir: &Path,
    store: &Store,
) -> Result<Option<Rotated>, RotationError> {
    let key_path = data_dir.join(files::CONTROLLER_KEY);
    let next_path = data_dir.join(format!("{}{NEXT_SUFFIX}", files::CONTROLLER_KEY));
    if !next_path.exists() {
        return Ok(None);
    }
    let staged = read_key(&next_path)?;
    let old = read_key(&key_path)?;
    let done = statements(store)?.last().and_then(|b| {
        let env = playlists::envelope::Envelope::parse(b).ok()?;
        let r = Rotation::from_json(&env.payload).ok()?;
        (r.new_key_id == staged.key_id() && r.old_key_id == old.key_id()).then_some(r)
    });
    match done {
        Some(r) => {
            std::fs::rename(&next_path, &key_path).map_err(|e| key_err(&key_path, e))?;
            gatecast_support::fs::sync_dir(data_dir).map_err(|e| key_err(data_dir, e))?;
            tracing::warn!(new_key_id = %r.new_key_id, "finished an interrupted key rotation");
            Ok(Some(Rotated {
                old_key_id: r.old_key_id.clone(),
                new_key_id: r.new_key_id,
                retired_path: retired_path(data_dir, &r.old_key_id),
                valid_from: r.valid_from,
                overlap_until: r.overlap_until,
            }))
        }
        None => {
            std::fs::remove_file(&next_path).map_err(|e| key_err(&next_path, e))?;
            Ok(None)
        }
    }
}

/// `<data>/controller.key.retired-<key id>`.
pub fn retired_path(data_dir: &Path, key_id: &str) -> PathBuf {
    data_dir.join(format!("{}.retired-{key_id}", files::CONTROLLER_KEY))
}

fn signed_by(envelope: &str, key: &SecretKey) -> bool {
    playlists::envelope::Envelope::parse(envelope.as_bytes())
        .is_ok_and(|e| e.signatures.iter().any(|s| s.keyid == key.key_id()))
}

/// Re-signs every stored manifest and alert set that `key` did not sign (after a rotation):
/// the same content with version + 1 (a manifest also gets a fresh `issued_at`/`expires_at`
/// from `lifetime`), stored, then sent retained. Returns how many were re-issued. Failures are
/// logged and skipped (the next publish re-signs anyway).
pub async fn resign_stored(
    store: &Store,
    key: &SecretKey,
    outbox: &dyn Outbox,
    lifetime: Duration,
    now: Timestamp,
) -> usize {
    let mut n = 0;
    let expires = now
        .checked_add(jiff::SignedDuration::from_secs(lifetime.as_secs() as i64))
        .unwrap_or(now);
    for old in store.manifests().unwrap_or_default() {
        if signed_by(&old.envelope, key) {
            continue;
        }
        // The policy chain and approvals it carries stay with it (docs/protocol.md §19).
        let Some((mut m, att)) = playlists::envelope::Envelope::parse(old.envelope.as_bytes())
            .ok()
            .and_then(|e| {
                let att = Attachments::from_payload(&e.payload).ok()?;
                Some((Manifest::from_json(&e.payload).ok()?, att))
            })
        else {
            tracing::warn!(screen = %old.screen, "stored manifest unreadable; not re-signed");
            continue;
        };
        m.version = old.version + 1;
        m.issued_at = now;
        m.expires_at = expires;
        let Ok(env) = sign_manifest(&m, &att, key) else {
            continue;
        };
        let bytes = env.to_json();
        let rec = StoredManifest {
            version: m.version,
            issued_at: now.to_string(),
            expires_at: expires.to_string(),
            envelope: String::from_utf8(bytes.clone()).expect("envelope JSON is UTF-8"),
            ..old
        };
        if let Err(e) = store.put_manifest(&rec).await {
            tracing::warn!(screen = %rec.screen, "re-signed manifest not stored: {e}");
            continue;
        }
        let _ = outbox.send(topic(&rec.screen, Kind::Manifest), bytes).await;
        n += 1;
    }
    for old in store.alert_sets().unwrap_or_default() {
        if signed_by(&old.envelope, key) {
            continue;
        }
        let Some((mut a, att)) = playlists::envelope::Envelope::parse(old.envelope.as_bytes())
            .ok()
            .and_then(|e| {
                let att = Attachments::from_payload(&e.payload).ok()?;
                Some((AlertSet::from_json(&e.payload).ok()?, att))
            })
        else {
            continue;
        };
        a.version = old.version + 1;
        a.issued_at = now;
        let Ok(env) = sign_alerts(&a, &att, key) else {
            continue;
        };
        let bytes = env.to_json();
        let rec = StoredAlertSet {
            version: a.version,
            envelope: String::from_utf8(bytes.clone()).expect("envelope JSON is UTF-8"),
            ..old
        };
        if let Err(e) = store.put_alert_set(&rec).await {
            tracing::warn!(screen = %rec.screen, "re-signed alert set not stored: {e}");
            continue;
        }
        let _ = outbox.send(topic(&rec.screen, Kind::Alert), bytes).await;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rotate_key_keeps_the_old_key_records_a_verifiable_statement_and_switches() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let (old, _) =
            crate::secrets::load_or_create_key(&data.join(files::CONTROLLER_KEY)).unwrap();
        let store = Store::open(&data.join(files::DB)).unwrap();
        let now: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
        let r = rotate_key(data, &store, Duration::from_secs(7 * 86_400), now)
            .await
            .unwrap();
        assert_eq!(r.old_key_id, old.key_id());
        let new = read_key(&data.join(files::CONTROLLER_KEY)).unwrap();
        assert_eq!(new.key_id(), r.new_key_id);
        assert_ne!(new.key_id(), old.key_id());
        let retired = read_key(&r.retired_path).unwrap();
        assert_eq!(retired.key_id(), old.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [data.join(files::CONTROLLER_KEY), r.retired_path.clone()] {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
        assert!(!data.join("controller.key.next").exists());
        let all = statements(&store).unwrap();
        assert_eq!(all.len(), 1);
        let v = playlists::rotation::verify_rotation(&all[0], &old.public()).unwrap();
        assert_eq!(v.new_key, new.public());
        assert_eq!(
            v.rotation.overlap_until,
            "2026-01-12T08:00:00Z".parse().unwrap()
        );
        assert_eq!(latest_for(&store, &new), Some(all[0].clone()));
        assert_eq!(latest_for(&store, &old), None);

        // A second rotation chains from the new key.
        let r2 = rotate_key(data, &store, Duration::from_secs(86_400), now)
            .await
            .unwrap();
        let all = statements(&store).unwrap();
        assert_eq!(all.len(), 2);
        let mut trust =
            playlists::rotation::Trust::replay(old.public(), all.iter().map(Vec::as_slice));
        assert_eq!(trust.pinned().key_id(), r2.new_key_id);
        assert!(trust.apply(&all[1]).is_ok());
    }

    #[tokio::test]
    async fn an_interrupted_rotation_is_finished_or_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let (old, _) =
            crate::secrets::load_or_create_key(&data.join(files::CONTROLLER_KEY)).unwrap();
        let store = Store::open(&data.join(files::DB)).unwrap();
        let now = Timestamp::now();
        // A staged key with no statement (crash before step 3) is discarded.
        let stray = SecretKey::from_seed([5; 32]);
        crate::secrets::write_secret_file(
            &data.join("controller.key.next"),
            stray.to_text().as_bytes(),
        )
        .unwrap();
        let r = rotate_key(data, &store, Duration::from_secs(86_400), now)
            .await
            .unwrap();
        assert_ne!(r.new_key_id, stray.key_id());
        assert_eq!(r.old_key_id, old.key_id());
        // Simulate a crash between steps 3 and 4: put the new key back as staged and the old
        // key as current; the next run only finishes the rename.
        let new = read_key(&data.join(files::CONTROLLER_KEY)).unwrap();
        crate::secrets::write_secret_file(
            &data.join("controller.key.next"),
            new.to_text().as_bytes(),
        )
        .unwrap();
        crate::secrets::write_secret_file(
            &data.join(files::CONTROLLER_KEY),
            old.to_text().as_bytes(),
        )
        .unwrap();
        let again = rotate_key(data, &store, Duration::from_secs(86_400), now)
            .await
            .unwrap();
        assert_eq!(again.new_key_id, new.key_id());
        assert_eq!(statements(&store).unwrap().len(), 1);
        assert_eq!(
            read_key(&data.join(files::CONTROLLER_KEY))
                .unwrap()
                .key_id(),
            new.key_id()
        );
    }
}
