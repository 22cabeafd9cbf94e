//! The auditing chain end to end (docs/auditing.md), with real processes: a `gatecast-player` (null
//! backend) plays what `gatecast-controller serve` published, its receipts are acknowledged, the
//! controller exports an audit bundle and the standalone `gatecast-audit verify` accepts it (exit
//! 0, summary naming the screen and the play count). One byte flipped inside a receipt of the
//! bundle makes it fail (non-zero exit, the problem names the screen and the seq), and so does the
//! removal of the screen's last batch (the signed scope, `docs/protocol.md` §15).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use gatecast_tests::{binary, standard_content, wait_until, Controller, ControllerOptions};
use playlists::audit::{Bundle, EntryKind, LogEntry};
use playlists::envelope::Envelope;
use serde_json::Value;

/// `gatecast-audit` lives in the `playlists` crate, which the harness's build of the
/// controller and player does not cover: build it once here (same profile), next to them.
fn audit_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = binary("gatecast-controller")
                .parent()
                .expect("binaries live in target/<profile>")
                .to_path_buf();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.current_dir(gatecast_tests::workspace_root()).args([
                "build",
                "-p",
                "playlists",
                "--bin",
                "gatecast-audit",
            ]);
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd
                .status()
                .expect("running cargo build for gatecast-audit");
            assert!(status.success(), "cargo build of gatecast-audit failed");
            let path = dir.join("gatecast-audit");
            assert!(
                path.is_file(),
                "{} not found after building",
                path.display()
            );
            path
        })
        .clone()
}

pub(crate) fn verify(bundle: &Path, key: &str) -> Output {
    Command::new(audit_binary())
        .arg("verify")
        .arg(bundle)
        .args(["--controller-key", key])
        .output()
        .expect("running gatecast-audit verify")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// Standard base64 (the bundle's encoding), kept here so the test needs no extra crate.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| {
        B64.iter()
            .position(|&b| b == c)
            .unwrap_or_else(|| panic!("not base64: {:?}", c as char)) as u32
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Flips one byte inside the first receipt of a receipts batch envelope (a digit of its media
/// hash, XOR 1, so the receipt stays readable JSON) and returns the new envelope bytes and the
/// seq of that receipt. The device signature is left as it was.
fn flip_byte_in_first_receipt(envelope: &[u8]) -> (Vec<u8>, u64) {
    let mut env = Envelope::parse(envelope).expect("a batch entry is an envelope");
    let payload: Value = serde_json::from_slice(&env.payload).expect("batch payload JSON");
    let first = payload["receipts"][0].as_str().expect("a receipt text");
    let receipt: Value = serde_json::from_str(first).expect("receipt JSON");
    let seq = receipt["seq"].as_u64().expect("receipt seq");
    // The receipt text sits JSON-escaped in the payload: `\"media\":\"<hex>`.
    let key = br#"\"media\":\""#;
    let at = env
        .payload
        .windows(key.len())
        .position(|w| w == key)
        .expect("the first receipt names its media")
        + key.len();
    let digit = (at..at + 64)
        .find(|&i| env.payload[i].is_ascii_digit())
        .expect("a digit in the media hash");
    env.payload[digit] ^= 1;
    assert!(env.payload[digit].is_ascii_digit());
    (env.to_json(), seq)
}

#[test]
fn audit_e2e_plays_export_verify_and_tamper() {
    let tmp = gatecast_tests::TestDir::new("audit-e2e");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    standard_content(&ctl, "lao-cai", 1000);
    let mut player = ctl.enrol_player("lc-a1", "lao-cai", &tmp.path().join("lc-a1"));
    // 1 s slides at 4x: a play every 250 ms.
    player.null_speed = 4.0;
    player.start();
    let version = ctl.publish_version(&["lc-a1"], "lc-a1");
    ctl.wait_status("lc-a1", "the published manifest playing", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    wait_until(
        "at least 6 receipts stored at the controller",
        gatecast_tests::DEADLINE,
        || (ctl.receipts("lc-a1")?.len() >= 6).then_some(()),
    );
    // Slow the player right down (a slide now lasts over 15 min) so the journal can drain:
    // it resends what is unacknowledged and then records nothing new.
    player.stop();
    player.null_speed = 0.001;
    let restarted = jiff::Timestamp::now();
    player.start();
    ctl.wait_status(
        "lc-a1",
        "journal_backlog 0 in a status sent after the restart",
        |s| {
            let fresh = s["at"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t >= restarted);
            fresh && s["journal_backlog"] == 0 && s["state"] == "playing"
        },
    );
    let plays = ctl.assert_receipts_contiguous("lc-a1");
    assert!(plays >= 6, "{plays} receipts");

    // Export (as an auditor would: any token) and verify with the controller's public key.
    let key = ctl.get("/api/v1/keys")["controller_key"]
        .as_str()
        .expect("controller_key")
        .to_string();
    let r = ctl.request("GET", "/api/v1/audit/export", "application/json", b"");
    assert_eq!(r.status, 200, "export: {}", r.text());
    let bundle_path = tmp.path().join("bundle.json");
    std::fs::write(&bundle_path, &r.body).unwrap();
    let out = verify(&bundle_path, &key);
    let report = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "gatecast-audit verify must accept the bundle:\n{report}"
    );
    assert!(report.contains("VERIFIED"), "{report}");
    assert!(
        report.contains(&format!("plays: {plays} receipts")),
        "the summary gives the play count {plays}:\n{report}"
    );
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with("lc-a1 "))
        .unwrap_or_else(|| panic!("the summary names screen lc-a1:\n{report}"));
    assert!(
        line.contains(&format!("{plays} receipts")) && line.contains("chain intact"),
        "{line}"
    );

    // Flip one byte inside a receipt of the first batch: verification fails and names the
    // screen and the seq.
    let mut bundle: Bundle = serde_json::from_slice(&r.body).expect("the bundle parses");
    let entry = bundle
        .log
        .entries
        .iter_mut()
        .find(|e| e.kind == EntryKind::Batch)
        .expect("the bundle holds receipts batches");
    let (tampered, seq) = flip_byte_in_first_receipt(&b64_decode(&entry.data));
    entry.data = LogEntry::new(entry.index, entry.kind, &tampered, &[]).data;
    let bad_path = tmp.path().join("bundle-tampered.json");
    std::fs::write(&bad_path, bundle.to_json()).unwrap();
    let out = verify(&bad_path, &key);
    let report = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a flipped byte must fail verification (exit 1):\n{report}"
    );
    assert!(report.contains("FAILED"), "{report}");
    assert!(
        report.contains(&format!("screen lc-a1 seq {seq}")),
        "the problem names screen lc-a1 and seq {seq}:\n{report}"
    );

    // Remove the last batch of the real export: the scope the controller signed says where the
    // screen's chain ends (docs/security.md row 47).
    let mut bundle: Bundle = serde_json::from_slice(&r.body).expect("the bundle parses");
    let last = bundle
        .log
        .entries
        .iter()
        .rposition(|e| e.kind == EntryKind::Batch)
        .expect("the bundle holds receipts batches");
    bundle.log.entries.remove(last);
    std::fs::write(&bad_path, bundle.to_json()).unwrap();
    let out = verify(&bad_path, &key);
    let report = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a removed last batch must fail:\n{report}"
    );
    assert!(
        report.contains(&format!("chain_end_mismatch screen lc-a1 seq {plays}")),
        "the problem names the end of lc-a1's chain, seq {plays}:\n{report}"
    );
}
