//! `cache`: SHA-256 of a large file by the player's cache code versus `openssl dgst -sha256`;
//! download + verify from a real controller over loopback by the player's cache versus `curl`
//! then `openssl`; and a download cut in the middle that must resume, not restart.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use gatecast_player::cache::{Cache, CacheProgress, RetryPolicy, Wanted};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::common::{program_path, temp_dir, CtlProc, Opts, Report};

/// Writes `size` pseudo-random bytes (PNG magic first, so the controller accepts it as a
/// slide) to `path`.
pub(super) fn write_file(path: &Path, size: u64) -> Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    buf[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut written = 0u64;
    let mut first = true;
    while written < size {
        let from = if first { 8 } else { 0 };
        for c in buf[from..].chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        first = false;
        let n = (size - written).min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        written += n as u64;
    }
    f.flush()?;
    Ok(())
}

use playlists::hex::encode as hex;

/// Runs a shell command; returns its seconds and stdout.
pub(super) fn timed_sh(cmd: &str) -> Result<(f64, String)> {
    let t = Instant::now();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()?;
    let s = t.elapsed().as_secs_f64();
    if !o.status.success() {
        // The command may hold the bench controller's token: name only the program.
        let prog = cmd.split_whitespace().next().unwrap_or("sh");
        bail!("{prog} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok((s, String::from_utf8_lossy(&o.stdout).into_owned()))
}

pub(super) fn openssl_hash(out: &str) -> String {
    out.split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Plain sha2 over a file with a 1 MiB buffer (the library's own speed).
fn sha2_file(path: &Path) -> Result<String> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// sha2 over tokio::fs reads of `buf` bytes (how the player's cache reads files).
async fn sha2_tokio(path: &Path, buf: usize) -> Result<String> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut b = vec![0u8; buf];
    loop {
        let n = f.read(&mut b).await?;
        if n == 0 {
            break;
        }
        h.update(&b[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// A TCP proxy to `upstream` that cuts its first connection after `cut_after` bytes towards
/// the client; counts the bytes it passed to clients.
struct CutProxy {
    port: u16,
    down_bytes: Arc<AtomicU64>,
}

async fn start_proxy(upstream: std::net::SocketAddr, cut_after: u64) -> Result<CutProxy> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    let down_bytes = Arc::new(AtomicU64::new(0));
    let cut_done = Arc::new(AtomicBool::new(false));
    let counter = down_bytes.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            let counter = counter.clone();
            let cut = !cut_done.swap(true, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = up.into_split();
                let to_up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut uw).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                let mut sent = 0u64;
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let n = if cut {
                        n.min((cut_after - sent) as usize)
                    } else {
                        n
                    };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    sent += n as u64;
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    if cut && sent >= cut_after {
                        break;
                    }
                }
                to_up.abort();
                let _ = cw.shutdown().await;
            });
        }
    });
    Ok(CutProxy { port, down_bytes })
}

async fn player_sync(data: &Path, sha: &str, bytes: u64, mirror: &str) -> Result<(f64, PathBuf)> {
    player_sync_tls(data, sha, bytes, mirror, None).await
}

/// The player's `Cache::sync` of one file from `mirror`, with `tls` for an `https://` one;
/// returns its seconds and the cached file.
pub(super) async fn player_sync_tls(
    data: &Path,
    sha: &str,
    bytes: u64,
    mirror: &str,
    tls: Option<&Arc<gatecast_tls::rustls::ClientConfig>>,
) -> Result<(f64, PathBuf)> {
    std::fs::create_dir_all(data)?;
    let store = gatecast_player::store::Store::open(data)?;
    let mut cache = Cache::open(data, &store, None)?.with_retry(RetryPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    });
    if let Some(tls) = tls {
        cache = cache.with_tls(tls)?;
    }
    let (tx, _rx) = tokio::sync::watch::channel(CacheProgress::default());
    let want = [Wanted {
        sha256: sha.to_string(),
        bytes,
    }];
    let t = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(300),
        cache.sync(&want, &[mirror.to_string()], &tx),
    )
    .await
    .map_err(|_| anyhow!("player cache sync did not finish in 300 s"))??;
    let s = t.elapsed().as_secs_f64();
    let p = cache
        .path(sha)
        .ok_or_else(|| anyhow!("the cache has no verified file after sync"))?;
    Ok((s, p))
}

/// The scenario. `size_mib` is the test file's size.
pub async fn run(opts: &Opts, size_mib: u64) -> Result<Report> {
    let mut rep = Report::new("cache", opts);
    for p in ["openssl", "curl"] {
        if program_path(p).is_none() {
            bail!("{p} not found (apt-get install {p}): the cache scenario compares against it");
        }
    }
    let size = size_mib << 20;
    let dir = temp_dir("cache")?;
    let file = dir.path().join("big.bin");
    eprintln!("cache: writing a {size_mib} MiB file ...");
    tokio::task::spawn_blocking({
        let file = file.clone();
        move || write_file(&file, size)
    })
    .await??;
    let fs = file.display().to_string();
    let runs = if opts.quick { 1 } else { 3 };

    // --- hashing (page cache warm: the first openssl run reads it in).
    eprintln!("cache: hashing ...");
    let (_, out) = timed_sh(&format!("openssl dgst -sha256 '{fs}'"))?;
    let sha = openssl_hash(&out);
    let mut openssl_s = f64::MAX;
    let mut sha2_s = f64::MAX;
    let mut player_s = f64::MAX;
    let mut tokio64_s = f64::MAX;
    let mut tokio1m_s = f64::MAX;
    // The player's verify_file over a file in its cache directory (hard link, no copy).
    let pdata = dir.path().join("player-hash");
    let store = gatecast_player::store::Store::open(&pdata)?;
    let cache = Cache::open(&pdata, &store, None)?;
    std::fs::hard_link(&file, cache.dir().join(&sha)).context("linking into the cache")?;
    for _ in 0..runs {
        let (s, out) = timed_sh(&format!("openssl dgst -sha256 '{fs}'"))?;
        if openssl_hash(&out) != sha {
            bail!("openssl hash changed between runs");
        }
        openssl_s = openssl_s.min(s);
        let t = Instant::now();
        let h = tokio::task::spawn_blocking({
            let file = file.clone();
            move || sha2_file(&file)
        })
        .await??;
        sha2_s = sha2_s.min(t.elapsed().as_secs_f64());
        if h != sha {
            bail!("sha2 says {h}, openssl says {sha}");
        }
        let t = Instant::now();
        if !cache.verify_file(&sha).await? {
            bail!("the player's verify_file rejected a correct file");
        }
        player_s = player_s.min(t.elapsed().as_secs_f64());
        for (buf, best) in [(64 << 10, &mut tokio64_s), (1 << 20, &mut tokio1m_s)] {
            let t = Instant::now();
            if sha2_tokio(&file, buf).await? != sha {
                bail!("tokio::fs hashing disagrees with openssl");
            }
            *best = best.min(t.elapsed().as_secs_f64());
        }
    }
    drop(cache);
    drop(store);
    let mib = size as f64 / (1 << 20) as f64;
    rep.row("openssl dgst -sha256", mib / openssl_s, "MiB/s");
    rep.row("sha2 crate, 1 MiB reads", mib / sha2_s, "MiB/s");
    rep.row("sha2, tokio::fs 64 KiB reads", mib / tokio64_s, "MiB/s");
    rep.row("sha2, tokio::fs 1 MiB reads", mib / tokio1m_s, "MiB/s");
    rep.row("player Cache::verify_file", mib / player_s, "MiB/s");
    let ratio = openssl_s / player_s;
    rep.goal(
        "SHA-256 player / openssl",
        ratio,
        "x",
        ">= 0.9",
        ratio >= 0.9,
    );

    // --- download + verify over loopback from a real controller.
    eprintln!("cache: uploading to a controller ...");
    let ctl = CtlProc::start(&dir.path().join("ctl"), None).await?;
    let (_, out) = timed_sh(&format!(
        "curl -sS -f -X POST -H 'Authorization: Bearer {}' -H 'Content-Type: image/png' \
         -T '{fs}' '{}/api/v1/media?kind=slide&lang=vi&title=big'",
        ctl.token,
        ctl.url()
    ))?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    if v["sha256"] != sha.as_str() {
        bail!(
            "controller stored {} for a file whose sha256 is {sha}",
            v["sha256"]
        );
    }
    let url = format!("{}/media/{sha}", ctl.url());
    let mut curl_s = f64::MAX;
    let mut ours_s = f64::MAX;
    let dl = dir.path().join("dl.bin");
    for i in 0..runs {
        let dls = dl.display();
        let (s, out) = timed_sh(&format!(
            "curl -sS -f -o '{dls}' '{url}' && openssl dgst -sha256 '{dls}'"
        ))?;
        if openssl_hash(&out) != sha {
            bail!("curl download hashed wrong");
        }
        curl_s = curl_s.min(s);
        std::fs::remove_file(&dl)?;
        let pdir = dir.path().join(format!("player-dl-{i}"));
        let (s, path) = player_sync(&pdir, &sha, size, &ctl.url()).await?;
        ours_s = ours_s.min(s);
        std::fs::remove_file(path)?;
    }
    rep.row("curl + openssl", mib / curl_s, "MiB/s");
    rep.row(
        "player Cache::sync (download+verify)",
        mib / ours_s,
        "MiB/s",
    );
    let ratio = curl_s / ours_s;
    rep.goal(
        "download+verify player / curl+openssl",
        ratio,
        "x",
        ">= 0.8",
        ratio >= 0.8,
    );

    // --- resume after a cut in the middle.
    eprintln!("cache: resume after a cut ...");
    let proxy = start_proxy(ctl.http, size / 2).await?;
    let pdir = dir.path().join("player-resume");
    let (s, path) = player_sync(
        &pdir,
        &sha,
        size,
        &format!("http://127.0.0.1:{}", proxy.port),
    )
    .await?;
    let got = tokio::task::spawn_blocking(move || sha2_file(&path)).await??;
    if got != sha {
        bail!("resumed file hashes to {got}, expected {sha}");
    }
    let passed = proxy.down_bytes.load(Ordering::Relaxed) as f64;
    let overhead = passed / size as f64;
    // Headers add a little; a restart from zero would be >= 1.5.
    if overhead >= 1.25 {
        bail!("resume transferred {overhead:.2}x the file size: it restarted instead of resuming");
    }
    rep.row("resume: bytes transferred / file size", overhead, "x");
    rep.row("resume: total time incl. retry wait", s, "s");
    ctl.stop().await;
    rep.detail(
        "params",
        json!({"size_mib": size_mib, "runs": runs, "sha256": sha,
               "openssl_s": openssl_s, "sha2_s": sha2_s, "player_verify_s": player_s,
               "curl_openssl_s": curl_s, "player_sync_s": ours_s}),
    );
    Ok(rep)
}
