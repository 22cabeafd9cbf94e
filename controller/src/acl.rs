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
/// Name of the mosquitto configuration snippet with the TLS listener (written when a
/// certificate is given).
pub const TLS_LISTENER_FILE: &str = "tls-listener.conf";

/// Where mosquitto's TLS listener takes its certificate from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MosquittoTls {
    /// The port of the listener (8883 by convention).
    pub port: u16,
    /// Certificate chain PEM (`certfile`).
    pub cert: std::path::PathBuf,
    /// Its private key PEM (`keyfile`); mosquitto must be able to read it.
    pub key: std::path::PathBuf,
    /// CA certificates PEM (`cafile`), if any.
    pub ca: Option<std::path::PathBuf>,
}

/// The mosquitto configuration lines of a TLS listener (TLS 1.2 at least), to include in
/// `mosquitto.conf` (`include_dir`, or pasted). The password and ACL files apply to it as to
/// every listener (mosquitto's default `per_listener_settings false`).
pub fn tls_listener(tls: &MosquittoTls) -> String {
    let mut out = String::from(
        "# gatecast: MQTT over TLS, written by `gatecast-controller broker-acl mosquitto`.\n\
         # Players use mqtts://<this host>:<port>; give the controller --broker mqtts://… too.\n",
    );
    out.push_str(&format!("listener {}\n", tls.port));
    // Per listener in mosquitto: without it a screen could take another's session here.
    out.push_str("use_username_as_clientid true\n");
    if let Some(ca) = &tls.ca {
        out.push_str(&format!("cafile {}\n", ca.display()));
    }
    out.push_str(&format!("certfile {}\n", tls.cert.display()));
    out.push_str(&format!("keyfile {}\n", tls.key.display()));
    out.push_str("tls_version tlsv1.2\n");
    out
}

/// Writes [`tls_listener`] into `out_dir/tls-listener.conf` (0644).
pub fn write_tls_listener(out_dir: &Path, tls: &MosquittoTls) -> io::Result<()> {
    fs::create_dir_all(out_dir)?;
    write_atomic(
        &out_dir.join(TLS_LISTENER_FILE),
        tls_listener(tls).as_bytes(),
        0o644,
    )
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_listener_names_port_files_and_minimum_version() {
        let text = tls_listener(&MosquittoTls {
            port: 8883,
            cert: "/etc/gatecast/cert.pem".into(),
            key: "/etc/gatecast/key.pem".into(),
            ca: Some("/etc/gatecast/ca.pem".into()),
        });
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "listener 8883",
                "use_username_as_clientid true",
                "cafile /etc/gatecast/ca.pem",
                "certfile /etc/gatecast/cert.pem",
                "keyfile /etc/gatecast/key.pem",
                "tls_version tlsv1.2"
            ]
        );
    }
}
