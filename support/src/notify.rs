//! systemd service notifications (`sd_notify(3)`): readiness (`READY=1`) and watchdog pings
//! (`WATCHDOG=1`) over the datagram socket systemd names in `$NOTIFY_SOCKET`, so a unit with
//! `Type=notify` and `WatchdogSec=` restarts a process that stops answering
//! (`deploy/kiosk/README.md`).
//!
//! Why not a crate: the protocol is one datagram of `KEY=VALUE` lines to a Unix socket.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where notifications go: a socket path, or a Linux abstract name (`@name`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// A handle on systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    target: Target,
    socket: UnixDatagram,
}

impl Notifier {
    /// The notifier systemd asked for in `$NOTIFY_SOCKET`, or `None` when the process does
    /// not run under a `Type=notify` unit.
    pub fn from_env() -> Option<Notifier> {
        let value = std::env::var_os("NOTIFY_SOCKET")?;
        let bytes = value.as_encoded_bytes();
        let target = match bytes.strip_prefix(b"@") {
            Some(name) => Target::Abstract(name.to_vec()),
            None => Target::Path(PathBuf::from(&value)),
        };
        Notifier::with_target(target).ok()
    }

    /// A notifier sending to the socket at `path` (tests, or a supervisor of one's own).
    pub fn to_path(path: &Path) -> io::Result<Notifier> {
        Notifier::with_target(Target::Path(path.to_owned()))
    }

    fn with_target(target: Target) -> io::Result<Notifier> {
        Ok(Notifier {
            target,
            socket: UnixDatagram::unbound()?,
        })
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines, e.g. `READY=1`).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let sent = match &self.target {
            Target::Path(p) => self.socket.send_to(state.as_bytes(), p)?,
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.socket.send_to_addr(state.as_bytes(), &addr)?
            }
        };
        if sent != state.len() {
            return Err(io::Error::other("the notification was cut short"));
        }
        Ok(())
    }
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, when it is set for this process
/// (`$WATCHDOG_PID` absent or equal to our pid).
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str()?.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_ready_and_watchdog_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::to_path(&path).unwrap();
        n.notify("READY=1").unwrap();
        n.notify("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        drop(server);
        assert!(n.notify("READY=1").is_err(), "a missing socket is an error");
    }
}
