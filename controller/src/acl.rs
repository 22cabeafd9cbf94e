//! Files for running mosquitto as the external broker (`gatecast-controller broker-acl
//! mosquitto --out DIR`): a password file and an ACL file.
//!
//! The broker is not trusted (`docs/security.md`), so these are defence in depth: with them, a
//! screen can read only its own `manifest`, `alert`, `ack` and `rotation` and write only its
//! own `receipts` and `status` (the rules of [`playlists::topics`], rendered from
//! [`topics::screen_reads`] and [`topics::screen_writes`], the same ones the embedded broker
//! enforces); the controller ([`crate::mqtt::CONTROLLER_USER`]) may do everything under
//! `gatecast/v1/`. How to run mosquitto with them: `docs/operations.md`, section
//! "External broker: mosquitto".
//!
//! The store keeps MQTT passwords only as mosquitto `$7$` hashes
//! ([`crate::mqtt::password::hash_mqtt_password`], written at registration), so the password
//! file is written from those hashes and the controller never needs a plaintext screen
//! password after registration.

use std::fs;
use std::io;
use std::path::Path;

use playlists::manifest::is_valid_screen_id;
use playlists::topics::{self, Kind};

use crate::mqtt::password::{hash_mqtt_password, is_mosquitto_hash};
use crate::mqtt::CONTROLLER_USER;

/// Name of the password file written into the output directory.
pub const PASSWORD_FILE: &str = "passwords";
/// Name of the ACL file written into the output directory.
pub const ACL_FILE: &str = "acl";

/// Writes `passwords` (mode 0600) and `acl` (mode 0644) into `out_dir` (created if missing).
///
/// `screens` are `(screen id, password)` pairs and `controller_password` is the controller's
/// MQTT password. Each password may be given either as a stored `$7$` hash (written unchanged;
/// this is the normal case for screens) or as a plaintext password (hashed here). Gatecast's
/// generated passwords never contain `$`, so the two cannot be confused.
///
/// Both files are written atomically (temp file, fsync, rename, fsync of the directory). An
/// invalid screen id, a duplicate screen id or a malformed `$7$` hash is refused with
/// `InvalidInput` naming it, and then nothing is written.
pub fn write_mosquitto_files(
    out_dir: &Path,
    screens: &[(String, String)],
    controller_password: &str,
) -> io::Result<()> {
    let passwords = password_file(screens, controller_password)?;
    let acl = acl_file();
    fs::create_dir_all(out_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create output directory {}: {e}", out_dir.display()),
        )
    })?;
    write_atomic(&out_dir.join(PASSWORD_FILE), passwords.as_bytes(), 0o600)?;
    write_atomic(&out_dir.join(ACL_FILE), acl.as_bytes(), 0o644)?;
    Ok(())
}

/// The content of the mosquitto password file: one `user:$7$...` line per account.
pub fn password_file(
    screens: &[(String, String)],
    controller_password: &str,
) -> io::Result<String> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    out.push_str(&format!(
        "{CONTROLLER_USER}:{}\n",
        hash_or_keep(CONTROLLER_USER, controller_password)?
    ));
    for (id, password) in screens {
        if !is_valid_screen_id(id) {
            let shown: String = id.chars().take(80).collect();
            return Err(invalid(format!(
                "screen id {shown:?} is not valid (expected ^[a-z0-9][a-z0-9-]{{0,62}}$)"
            )));
        }
        if !seen.insert(id.as_str()) {
            return Err(invalid(format!("screen id {id:?} appears twice")));
        }
        out.push_str(&format!("{id}:{}\n", hash_or_keep(id, password)?));
    }
    Ok(out)
}

fn hash_or_keep(user: &str, password: &str) -> io::Result<String> {
    if password.starts_with('$') {
        if is_mosquitto_hash(password) {
            return Ok(password.to_string());
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the stored MQTT password hash of {user:?} is not a valid mosquitto $7$ hash; reset the screen's MQTT password"),
        ));
    }
    if password.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the MQTT password of {user:?} is empty"),
        ));
    }
    Ok(hash_mqtt_password(password))
}

/// The content of the mosquitto ACL file.
///
/// mosquitto replaces `%u` with the connecting username, which for a screen is its screen id,
/// and refuses the substitution for usernames containing `+`, `#` or `/` (screen ids cannot).
pub fn acl_file() -> String {
    let own = |kind: Kind| topics::topic("%u", kind);
    let mut out = String::new();
    out.push_str(
        "# gatecast ACL for mosquitto, written by `gatecast-controller broker-acl mosquitto`.\n",
    );
    out.push_str(
        "# Regenerate it (and the password file) after registering or removing screens.\n\n",
    );
    out.push_str(
        "# Each screen (MQTT username = screen id) reads only its own manifest, alert, ack and\n",
    );
    out.push_str("# rotation statements and screenshot commands,\n");
    out.push_str("# and writes only its own receipts and status (status is also its Last Will).\n");
    for kind in topics::screen_reads() {
        out.push_str(&format!("pattern read {}\n", own(kind)));
    }
    for kind in topics::screen_writes() {
        out.push_str(&format!("pattern write {}\n", own(kind)));
    }
    out.push_str("# Every screen reads the approval policy (docs/protocol.md §19); only the controller writes it.\n");
    out.push_str(&format!("pattern read {}\n", topics::POLICY_TOPIC));
    out.push_str("\n# The controller may do everything under gatecast/v1/.\n");
    out.push_str(&format!("user {CONTROLLER_USER}\n"));
    out.push_str("topic readwrite gatecast/v1/#\n");
    out
}

/// Writes one output file durably with exactly `mode` (see [`gatecast_support::fs::write_atomic`]);
/// the error names the file.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    gatecast_support::fs::write_atomic(path, bytes, mode)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}
