//! A mosquitto broker for the tests that run against an external broker, configured with the
//! password and ACL files that `gatecast-controller broker-acl mosquitto` writes.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gatecast_testkit::ChildGuard;

use crate::external::program_path;
use crate::harness::{tail, wait_until, DEADLINE};

/// A mosquitto process on 127.0.0.1 with the files written by `broker-acl mosquitto`.
/// Killed when dropped.
pub struct Mosquitto {
    child: Option<ChildGuard>,
    /// Its port.
    pub port: u16,
    conf: PathBuf,
    log: PathBuf,
}

impl Mosquitto {
    /// Writes `dir/mosquitto.conf` (password and ACL files from `files`, the client id bound to
    /// the username as in `deploy/mosquitto/gatecast.conf`, no persistence, and the TLS
    /// listener of `files/tls-listener.conf` when there is one) and
    /// starts mosquitto on `port`, waiting until it accepts TCP connections.
    pub fn start(dir: &Path, files: &Path, port: u16) -> Mosquitto {
        let conf = dir.join("mosquitto.conf");
        let mut text = format!(
            "listener {port} 127.0.0.1\n\
             use_username_as_clientid true\n\
             allow_anonymous false\n\
             password_file {}\n\
             acl_file {}\n\
             persistence false\n\
             message_size_limit {limit}\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             log_type notice\n",
            files.join("passwords").display(),
            files.join("acl").display(),
            // The payload limit every party accepts (docs/protocol.md §6).
            limit = playlists::envelope::MAX_MQTT_PAYLOAD_BYTES,
        );
        // The TLS listener written by `broker-acl mosquitto --tls-cert … --tls-key …`.
        if let Ok(tls) = std::fs::read_to_string(files.join("tls-listener.conf")) {
            text.push_str(&tls);
        }
        // Started by root, mosquitto drops to the user `mosquitto`, who cannot read our 0600
        // temp files: stay root then.
        if is_root(dir) {
            text.push_str("user root\n");
        }
        std::fs::write(&conf, text).expect("writing mosquitto.conf");
        let mut m = Mosquitto {
            child: None,
            port,
            conf,
            log: dir.join("mosquitto.log"),
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let program = program_path("mosquitto").expect("mosquitto is installed");
        let mut child = ChildGuard::spawn(
            "mosquitto",
            Command::new(program).arg("-c").arg(&self.conf),
            &self.log,
        );
        let port = self.port;
        wait_until(&format!("mosquitto listening on {port}"), DEADLINE, || {
            if let Some(st) = child.try_wait() {
                panic!("mosquitto exited ({st}); log:\n{}", tail(&self.log, 30));
            }
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        self.child = Some(child);
    }

    /// Makes it reload its password and ACL files (SIGHUP, as `systemctl reload mosquitto`
    /// does): clients whose username is no longer in the password file are disconnected.
    pub fn reload(&self) {
        let pid = self.child.as_ref().expect("mosquitto is running").id();
        let st = Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()
            .expect("running kill");
        assert!(st.success(), "kill -HUP {pid} failed");
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGTERM) and waits until the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.terminate(Duration::from_secs(10));
        }
    }

    /// Starts it again on the same port and files.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "mosquitto already running");
        self.spawn();
    }

    /// Its log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}

fn is_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
