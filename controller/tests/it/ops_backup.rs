//! Online backup and restore with real parts (`docs/operations.md`, "Backups and restore"):
//! 20 stand-in screens upload signed receipt batches over MQTT to the in-process controller
//! while the real `gatecast-controller backup` binary copies it through the admin socket. The
//! archive restores (with the real `restore`) into a new data directory whose log and receipts
//! equal the original's up to the backup's log size, an audit export of the restored controller
//! verifies with `playlists::audit::verify_bundle` (what `gatecast-audit verify` runs), and a
//! screen keeps working with the restored controller. A damaged archive and a non-empty target
//! are refused.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::api_support;
use crate::ingest_support;

use api_support::*;
use ingest_support::*;
use playlists::keys::{PublicKey, SecretKey};

const SCREENS: usize = 20;
const PER_BATCH: usize = 10;
/// Batches each screen may send at most (its chain is made up front).
const MAX_BATCHES: usize = 40;

async fn cli(args: &[&str], data_flag: &Path) -> (bool, String) {
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatecast-controller"))
        .args(args)
        .arg("--data")
        .arg(data_flag)
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .expect("running gatecast-controller");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// The number after `label ` in `text`.
fn number_after(text: &str, label: &str) -> u64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn receipts(store: &gatecast_controller::store::Store, screen: &str) -> Vec<Vec<u8>> {
    store
        .receipts_of(screen, 1)
        .map(|r| r.unwrap().bytes)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_ingest_from_20_screens_restores_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ctl = start(test_config(&data)).await;
    let mut players = Vec::new();
    for i in 0..SCREENS {
        let id = format!("bk-{i:02}");
        let device = SecretKey::from_seed([i as u8 + 1; 32]);
        players.push(player(&ctl, &id, &format!("Cổng {i}"), device).await);
    }

    // Every screen uploads batch after batch until the backup is done, then two more.
    let stop = Arc::new(AtomicBool::new(false));
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut tasks = Vec::new();
    for mut p in players {
        let (stop, acked_tx) = (stop.clone(), acked_tx.clone());
        tasks.push(tokio::spawn(async move {
            let c = chain(&p.id, (MAX_BATCHES * PER_BATCH) as u64);
            let device = p.device.clone();
            let mut after_stop = 0;
            for b in 0..MAX_BATCHES {
                if stop.load(Ordering::SeqCst) {
                    after_stop += 1;
                    if after_stop > 2 {
                        break;
                    }
                }
                p.send(&c[b * PER_BATCH..(b + 1) * PER_BATCH], &device)
                    .await;
                assert_eq!(p.next_ack().await.0, ((b + 1) * PER_BATCH) as u64);
                let _ = acked_tx.send(());
            }
            p
        }));
    }
    // The backup starts once every screen could have sent a batch or two.
    for _ in 0..SCREENS * 2 {
        acked_rx.recv().await.expect("ingest running");
    }
    let archive = dir.path().join("during-ingest.tar");
    let (ok, out) = cli(&["backup", "--out", archive.to_str().unwrap()], &data).await;
    assert!(ok, "backup failed: {out}");
    stop.store(true, Ordering::SeqCst);
    let mut players = Vec::new();
    for t in tasks {
        players.push(t.await.expect("an uploading screen"));
    }
    let log_size = number_after(&out, "log size ");
    assert!(log_size > 0, "{out}");

    // Refusals: a damaged copy, a non-empty target.
    let damaged = dir.path().join("damaged.tar");
    let mut bytes = std::fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&damaged, &bytes).unwrap();
    std::fs::copy(
        dir.path().join("during-ingest.tar.sha256"),
        dir.path().join("damaged.tar.sha256"),
    )
    .unwrap();
    let target = dir.path().join("from-damaged");
    let (ok, out_d) = cli(&["restore", damaged.to_str().unwrap()], &target).await;
    assert!(!ok && out_d.contains("is damaged"), "{out_d}");
    assert!(std::fs::read_dir(&target).map_or(true, |mut d| d.next().is_none()));
    let (ok, out_n) = cli(&["restore", archive.to_str().unwrap()], &data).await;
    assert!(!ok && out_n.contains("is not empty"), "{out_n}");

    let restored_dir = dir.path().join("restored");
    let (ok, out_r) = cli(&["restore", archive.to_str().unwrap()], &restored_dir).await;
    assert!(ok, "restore failed: {out_r}");

    let original = ctl.running.store().clone();
    let restored = start(test_config(&restored_dir)).await;
    let rstore = restored.running.store();
    // The restored log is the original's first `log_size` leaves (the restored controller
    // appends its own start-up actions after them).
    assert!(rstore.log_size().unwrap() >= log_size);
    for i in 0..log_size {
        assert_eq!(
            rstore.log_leaf(i).unwrap(),
            original.log_leaf(i).unwrap(),
            "log leaf {i}"
        );
    }
    // Receipts: each screen's restored chain is a prefix of the original's, and the original
    // went on after the backup.
    let (mut total_restored, mut total_original) = (0, 0);
    for p in &players {
        let (r, o) = (receipts(rstore, &p.id), receipts(&original, &p.id));
        assert!(
            r.len() <= o.len() && r[..] == o[..r.len()],
            "{}: not a prefix",
            p.id
        );
        total_restored += r.len();
        total_original += o.len();
    }
    assert!(total_restored > 0, "nothing restored");
    assert!(
        total_restored < total_original,
        "the backup was taken during ingest: {total_restored} of {total_original}"
    );

    // The restored controller's audit export verifies.
    let auditor = restored.token("auditor").await;
    let (s, bundle) = restored
        .req(
            "GET",
            "/api/v1/audit/export?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 200, "{bundle}");
    let (_, keys) = restored.req("GET", "/api/v1/keys", None, None).await;
    let key = PublicKey::from_base64(keys["controller_key"].as_str().unwrap()).unwrap();
    let report = playlists::audit::verify_bundle(&serde_json::to_vec(&bundle).unwrap(), &key, None);
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.plays as usize, total_restored, "{report:#?}");

    // A screen keeps working with the restored controller: same password, next receipts acked.
    let p = &players[0];
    let tip = receipts(rstore, &p.id).len();
    let mut again = connect(&restored, &p.id, p.device.clone(), &p.password).await;
    let c = chain(&p.id, (tip + PER_BATCH) as u64);
    again.send(&c[tip..], &p.device).await;
    let want = (tip + PER_BATCH) as u64;
    loop {
        // A retained ack of the restored state may come first.
        let (upto, _) = again.next_ack().await;
        if upto == want {
            break;
        }
        assert!(upto <= tip as u64, "ack {upto} beyond what was sent");
    }
}
