//! The player under a `Type=notify` unit with `WatchdogSec=` (deploy/kiosk/README.md): the
//! real `gatecast-player run` sends `READY=1` to `$NOTIFY_SOCKET` once started, then keeps
//! pinging `WATCHDOG=1` at half of `$WATCHDOG_USEC`.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use gatecast_testkit::ChildGuard;
use gatecast_tests::{binary, Controller, ControllerOptions, TestDir};

#[test]
fn player_notifies_ready_and_pings_the_watchdog() {
    let dir = TestDir::new("ops_notify");
    let ctl = Controller::start(&dir.path().join("ctl"), ControllerOptions::default());
    let p = ctl.enrol_player("notify-a1", "lao-cai", &dir.path().join("player"));
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    // Each wait ends when a datagram arrives; the timeout only bounds a missing one.
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _player = ChildGuard::spawn(
        "gatecast-player run (notify)",
        Command::new(binary("gatecast-player"))
            .arg("run")
            .arg("--config")
            .arg(p.config_path())
            .args(["--backend", "null"])
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "400000")
            .env("RUST_LOG", "info"),
        &dir.path().join("player.log"),
    );
    let mut buf = [0u8; 256];
    let mut next = || {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification: {e}"));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    assert_eq!(next(), "WATCHDOG=1");
    assert_eq!(next(), "WATCHDOG=1", "the watchdog keeps being pinged");
}
