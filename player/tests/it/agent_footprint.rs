//! Footprint measurement (not a pass/fail test; run it on purpose):
//! `cargo test --release -p gatecast-player --test it agent_footprint:: -- --ignored --nocapture`
//!
//! Starts a real `gatecast-player` (null backend), gives it a 500-item manifest, waits until
//! it is active and playing, then prints the process's resident set size from /proc.

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

/// A `/proc/<pid>/status` figure of the running player, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    gatecast_testkit::proc_kib(pid, field).expect("the player's /proc status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run explicitly"]
async fn idle_rss_with_500_item_manifest() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let mut items = Vec::new();
    for n in 0..500 {
        let (m, bytes) = harness::slide(n, 256, 10_000);
        media.put(&m.sha256, bytes);
        items.push(m);
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "", 1.0);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", Duration::from_secs(30), |s| {
            s["state"] == "idle"
        })
        .await;
    let envelope = harness::sign_manifest(&harness::manifest(SCREEN, 1, &items), &key);
    println!("manifest envelope: {} bytes", envelope.len());
    controller.publish_manifest(envelope).await;
    controller
        .wait_status("500-item manifest active", Duration::from_secs(120), |s| {
            s["manifest_version"] == 1 && s["state"] == "playing"
        })
        .await;
    // Settle: a few plays and status heartbeats.
    let n = controller.state.lock().unwrap().statuses.len();
    common::wait_for("a few more statuses", Duration::from_secs(60), || {
        (controller.state.lock().unwrap().statuses.len() >= n + 3).then_some(())
    })
    .await;
    let pid = player.pid();
    println!(
        "gatecast-player idle RSS with a 500-item manifest: VmRSS {} KiB, VmHWM {} KiB",
        proc_kib(pid, "VmRSS:"),
        proc_kib(pid, "VmHWM:")
    );
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
