//! `tls`: what TLS costs (`docs/BENCHMARKS.md`), with certificates of a test CA
//! (`gatecast_testkit::pki`) and the one rustls (ring) of `gatecast-tls`:
//! - fan-out to N screens over the controller's `--mqtts` listener versus its plaintext
//!   `--mqtt` listener (goal: p99 over TLS ≤ 1.3 × plaintext);
//! - a reconnect storm: N TLS screens connecting at once (every handshake concurrent, as after
//!   a controller restart or a site's power cut), against the same storm in plaintext;
//! - download + verify of one large file over HTTPS by the player's cache versus
//!   `curl --cacert … https://… && openssl dgst -sha256` (goal ≥ 0.9×), from a test HTTPS
//!   file server (`gatecast_testkit::tls_front::HttpsFileServer`).

use anyhow::{bail, Result};
use gatecast_testkit::tls_front::HttpsFileServer;
use gatecast_testkit::TestPki;
use serde_json::json;

use super::cache::{openssl_hash, player_sync_tls, timed_sh, write_file};
use super::common::{program_path, temp_dir, CtlTls, Opts, Report};
use super::fanout::{run_one_with, Broker, FanoutResult, Link};

fn row(r: &FanoutResult) -> serde_json::Value {
    json!({"screens": r.n, "accepted": r.accepted, "connect_s": r.connect_s,
           "connect_p50_ms": r.connect_p50_ms, "connect_p99_ms": r.connect_p99_ms,
           "connect_controller_cpu_s": r.connect_cpu_s,
           "connect_retries": r.connect_retries,
           "publish_call_ms": r.publish_call_ms, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
           "max_ms": r.max_ms, "controller_cpu_s": r.ctl_cpu_s,
           "controller_rss_kib": r.ctl_rss_kib.0})
}

/// The scenario: `screens` for the fan-out and the storm, a `size_mib` file for HTTPS.
pub async fn run(opts: &Opts, screens: usize, size_mib: u64) -> Result<Report> {
    let mut rep = Report::new("tls", opts);
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let ctl_tls = CtlTls {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
        ca: pki.ca_pem.clone(),
    };
    let client =
        gatecast_tls::client_config(&gatecast_tls::ClientTrust::CaFile(pki.ca_pem.clone()))?;
    let mut details = Vec::new();

    // --- fan-out, plaintext then TLS (the default 64-at-a-time connection ramp).
    let mut p99 = [0.0f64; 2];
    for (i, tls) in [None, Some((ctl_tls.clone(), client.clone()))]
        .into_iter()
        .enumerate()
    {
        let name = if tls.is_some() { "tls" } else { "plain" };
        eprintln!("tls: fan-out to {screens} screens, {name} ...");
        let link = Link {
            tls,
            concurrent_connects: 0,
        };
        let Some(r) = run_one_with(opts, screens, Broker::Embedded, &link).await? else {
            bail!("the embedded broker always runs");
        };
        rep.row(format!("fan-out {name} n={screens} p50"), r.p50_ms, "ms");
        rep.row(format!("fan-out {name} n={screens} p99"), r.p99_ms, "ms");
        rep.row(
            format!("fan-out {name} n={screens} controller CPU"),
            r.ctl_cpu_s,
            "s",
        );
        p99[i] = r.p99_ms;
        details.push(json!({"case": format!("fanout-{name}"), "run": row(&r)}));
    }
    let ratio = p99[1] / p99[0].max(f64::MIN_POSITIVE);
    rep.goal(
        format!("fan-out p99 TLS / plaintext, n={screens}"),
        ratio,
        "x",
        "<= 1.3",
        ratio <= 1.3,
    );

    // --- reconnect storm: every screen at once.
    for tls in [None, Some((ctl_tls.clone(), client.clone()))] {
        let name = if tls.is_some() { "tls" } else { "plain" };
        eprintln!("tls: storm of {screens} screens connecting at once, {name} ...");
        let link = Link {
            tls,
            concurrent_connects: screens,
        };
        let Some(r) = run_one_with(opts, screens, Broker::Embedded, &link).await? else {
            bail!("the embedded broker always runs");
        };
        let tag = format!("storm {name} n={screens}");
        rep.row(format!("{tag}: all subscribed"), r.connect_s, "s");
        rep.row(format!("{tag}: connect p50"), r.connect_p50_ms, "ms");
        rep.row(format!("{tag}: connect p99"), r.connect_p99_ms, "ms");
        rep.row(format!("{tag}: controller CPU"), r.connect_cpu_s, "s");
        rep.row(
            format!("{tag}: failed connection attempts, retried"),
            r.connect_retries as f64,
            "",
        );
        rep.row(format!("{tag}: fan-out p99 after"), r.p99_ms, "ms");
        details.push(json!({"case": format!("storm-{name}"), "run": row(&r)}));
    }

    // --- download + verify over HTTPS.
    for p in ["openssl", "curl"] {
        if program_path(p).is_none() {
            bail!("{p} not found (apt-get install {p}): the tls scenario compares against it");
        }
    }
    let dir = temp_dir("tls")?;
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served)?;
    let file = dir.path().join("big.bin");
    eprintln!("tls: writing a {size_mib} MiB file ...");
    let size = size_mib << 20;
    tokio::task::spawn_blocking({
        let file = file.clone();
        move || write_file(&file, size)
    })
    .await??;
    let (_, out) = timed_sh(&format!("openssl dgst -sha256 '{}'", file.display()))?;
    let sha = openssl_hash(&out);
    std::fs::rename(&file, served.join(&sha))?;
    let server = HttpsFileServer::start(&pki.server, &served);
    let url = format!("{}/media/{sha}", server.url());
    let ca = pki.ca_pem.display();
    let runs = if opts.quick { 1 } else { 3 };
    let dl = dir.path().join("dl.bin");
    let (mut curl_s, mut ours_s) = (f64::MAX, f64::MAX);
    for i in 0..runs {
        eprintln!("tls: HTTPS download {}/{runs} ...", i + 1);
        let dls = dl.display();
        let (s, out) = timed_sh(&format!(
            "curl -sS -f --cacert '{ca}' -o '{dls}' '{url}' && openssl dgst -sha256 '{dls}'"
        ))?;
        if openssl_hash(&out) != sha {
            bail!("curl's HTTPS download hashed wrong");
        }
        curl_s = curl_s.min(s);
        std::fs::remove_file(&dl)?;
        let pdir = dir.path().join(format!("player-{i}"));
        let (s, path) = player_sync_tls(&pdir, &sha, size, &server.url(), Some(&client)).await?;
        ours_s = ours_s.min(s);
        std::fs::remove_file(path)?;
    }
    let mib = size as f64 / (1 << 20) as f64;
    rep.row("HTTPS curl --cacert + openssl", mib / curl_s, "MiB/s");
    rep.row(
        "HTTPS player Cache::sync (download+verify)",
        mib / ours_s,
        "MiB/s",
    );
    let ratio = curl_s / ours_s;
    rep.goal(
        "HTTPS download+verify player / curl+openssl",
        ratio,
        "x",
        ">= 0.9",
        ratio >= 0.9,
    );
    details.push(
        json!({"case": "https-download", "size_mib": size_mib, "runs": runs,
                        "curl_openssl_s": curl_s, "player_sync_s": ours_s}),
    );
    rep.detail("runs", json!(details));
    Ok(rep)
}
