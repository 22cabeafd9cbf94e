//! Fault: the player's disk is full.
//!
//! The player's data directory (device key, state database, receipt journal, media cache) is a
//! real 24 MiB ext4 filesystem on a loop device, made and mounted by the test (needs root,
//! `mkfs.ext4` and loop mounts; otherwise the test prints `SKIPPED:` with the reason, or fails
//! under `GATECAST_REQUIRE_EXTERNAL=1`). While the player plays its cached manifest the test
//! fills that filesystem to the last block and publishes a manifest with a new file. Then:
//! - playback of the cached content goes on (the status' `current` keeps changing between the
//!   two cached slides, the active version stays);
//! - the status says what is wrong and what to do: `last_error` names "No space left on
//!   device", says "disk full in <data dir>" and that playback continues from cache, and that
//!   plays wait in memory for the journal (receipts at risk);
//! - once space is freed the player recovers by itself: the new manifest is downloaded and
//!   activated, `last_error` clears, and the controller holds every receipt of the screen,
//!   `seq` contiguous from 1 (plays whose receipt could not be written while the disk was full
//!   were kept in memory and journaled in order once space was freed: no gap, nothing
//!   duplicated).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fault_support::{check_cache, check_store, report, FaultPlayer};
use gatecast_tests::{
    external_required, png, standard_content, wait_until, Controller, ControllerOptions, TestDir,
};
use serde_json::json;

const SCREEN: &str = "lc-d1";

/// A loop-mounted ext4 filesystem, unmounted when dropped.
struct LoopFs {
    mount: PathBuf,
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn skip(test: &str, why: &str) {
    let line = format!("SKIPPED: {test}: {why}");
    if external_required() {
        panic!("{line} — GATECAST_REQUIRE_EXTERNAL=1 forbids skipping");
    }
    eprintln!("{line}");
}

/// Makes `img` (`mib` MiB, ext4) and mounts it on `mount`; `Err` says why not.
fn loop_fs(img: &Path, mount: &Path, mib: u64) -> Result<LoopFs, String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("loop mounts need root".into());
    }
    std::fs::create_dir_all(mount).map_err(|e| e.to_string())?;
    let f = std::fs::File::create(img).map_err(|e| e.to_string())?;
    f.set_len(mib << 20).map_err(|e| e.to_string())?;
    let run = |cmd: &mut Command| -> Result<(), String> {
        let o = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
    };
    run(Command::new("mkfs.ext4").arg("-q").arg(img))
        .map_err(|e| format!("{e} (apt-get install e2fsprogs)"))?;
    run(Command::new("mount")
        .arg("-o")
        .arg("loop")
        .arg(img)
        .arg(mount))
    .map_err(|e| format!("{e} (loop mounts not allowed here?)"))?;
    Ok(LoopFs {
        mount: mount.to_path_buf(),
    })
}

/// Writes `path` until the filesystem refuses (ENOSPC); returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler file");
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0xa5u8; chunk];
        while f.write_all(&buf).and_then(|_| f.sync_data()).is_ok() {
            written += chunk as u64;
        }
    }
    written
}

#[test]
fn fault_disk_full_playback_goes_on_and_status_says_why() {
    let test = "fault_disk_full_playback_goes_on_and_status_says_why";
    let started = Instant::now();
    let tmp = TestDir::new("fault_disk_full");
    let pdir = tmp.path().join(SCREEN);
    let data = pdir.join("data");
    let _fs = match loop_fs(&tmp.path().join("disk.img"), &data, 24) {
        Ok(fs) => fs,
        Err(why) => return skip(test, &why),
    };
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    // Slides of 1.5 s at speed 2: the controller records at most one status a second per
    // screen (the latest wins), so a slide that changed every 0.5 s could hide the other one.
    let content = standard_content(&ctl, "lao-cai", 3000);
    let p = ctl.enrol_player(SCREEN, "lao-cai", &pdir);
    p.edit_config(|c| c.ack_timeout_ms = 2000);
    assert_eq!(p.data_dir(), data);
    let mut p = FaultPlayer::new(p, 2.0);
    p.start();
    let v1 = ctl.publish_version(&[SCREEN], SCREEN);
    ctl.wait_status(SCREEN, "playing v1", |s| {
        s["manifest_version"].as_u64() == Some(v1) && s["state"] == "playing"
    });
    wait_until("receipts acknowledged", Duration::from_secs(30), || {
        (p.acked_upto() >= 3).then_some(())
    });

    // Fill the disk to the last block, then ask for a new file.
    let filler = data.join("filler");
    let filled = fill(&filler);
    let big = png(7, 300_000);
    let rec = ctl.upload(&big, "image/png", "slide", "vi", "New");
    let new_sha = rec["sha256"].as_str().expect("sha256").to_string();
    let mut items: Vec<_> = content
        .media
        .iter()
        .map(|(s, _)| json!({"media": s, "duration_ms": 1000}))
        .collect();
    items.push(json!({"media": new_sha, "duration_ms": 1000}));
    ctl.api(
        "PUT",
        "/api/v1/playlists/p1",
        json!({"id": "p1", "name": "Main", "items": items}),
        200,
    );
    let v2 = ctl.publish_version(&[SCREEN], SCREEN);
    let st = ctl.wait_status(SCREEN, "last_error names the full disk", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left on device"))
    });
    eprintln!(
        "{test}: filled {filled} bytes; status last_error: {}",
        st["last_error"]
    );
    assert_eq!(
        st["manifest_version"].as_u64(),
        Some(v1),
        "the cached manifest stays active"
    );
    // Playback goes on: the status shows both cached slides in turn while the disk is full.
    let cached: Vec<&str> = content.media.iter().map(|(s, _)| s.as_str()).collect();
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    ctl.wait_status(SCREEN, "both cached slides on screen while full", |s| {
        if s["last_error"].is_string() && s["manifest_version"].as_u64() == Some(v1) {
            if let Some(c) = s["current"].as_str() {
                assert!(cached.contains(&c), "playing something not cached: {s}");
                seen.borrow_mut().insert(c.to_string());
            }
        }
        seen.borrow().len() == 2
    });
    let st = ctl.wait_status(SCREEN, "status says what to do", |s| {
        s["last_error"].as_str().is_some_and(|e| {
            e.contains("disk full in") && e.contains("playback continues from cache")
        })
    });
    assert_eq!(st["manifest_version"].as_u64(), Some(v1));
    assert_ne!(
        st["pending_version"].as_u64(),
        Some(v2),
        "v2 cannot be pending: it could not be stored"
    );
    assert!(
        p.is_running(),
        "the player died on a full disk:\n{}",
        p.log_tail()
    );
    // Plays go on while the journal cannot be written: their receipts wait in memory.
    let st = ctl.wait_status(SCREEN, "plays waiting in memory for the journal", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("plays wait in memory for the journal"))
    });
    eprintln!("{test}: while full: {}", st["last_error"]);
    assert!(
        p.is_running(),
        "the player died on a full disk:\n{}",
        p.log_tail()
    );

    // Free the space: the player recovers by itself.
    std::fs::remove_file(&filler).expect("removing the filler");
    let st = ctl.wait_status(SCREEN, "v2 active and the error cleared", |s| {
        s["manifest_version"].as_u64() == Some(v2)
            && s["last_error"].is_null()
            && s["state"] == "playing"
    });
    eprintln!("{test}: recovered: {st}");
    let before = p.acked_upto();
    wait_until(
        "receipts acknowledged after recovery",
        Duration::from_secs(30),
        || (p.acked_upto() > before + 2).then_some(()),
    );
    p.stop();
    let tip = p.player.journal().tip_seq.expect("journaled");
    let (hashed, corrupted) = check_cache(&data);
    assert_eq!(corrupted, 0);
    p.speed = 0.001;
    p.start();
    ctl.wait_status(SCREEN, "journal drained", |s| s["journal_backlog"] == 0);
    let acked = p.acked_upto();
    let c = check_store(&ctl, SCREEN, acked, "after the disk-full episode");
    assert_eq!(c.top, tip, "every journaled receipt is at the controller");
    p.stop();
    report(&format!(
        "test=fault_disk_full cycles=1 receipts_acked={acked} files_hashed={hashed} \
         corrupted_activations={corrupted} lost=0 duplicated=0 secs={}",
        started.elapsed().as_secs()
    ));
}
