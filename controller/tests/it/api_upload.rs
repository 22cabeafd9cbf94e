//! Media upload and download against the real binary and in-process: 50 MiB chunked upload
//! with hash check and memory figure, size limit, magic check, Range, ETag.

use crate::api_support;

use std::io::BufRead;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use api_support::*;
use futures_util::StreamExt;
use gatecast_testkit::{proc_kib, ChildGuard};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_gatecast-controller");
const CHUNK: usize = 64 * 1024;

/// Deterministic chunk `i` of a fake MP4 (only the first bytes matter to the controller).
fn mp4_chunk(i: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..CHUNK)
        .map(|j| ((i * 7919 + j * 31) % 251) as u8)
        .collect();
    if i == 0 {
        v[..12].copy_from_slice(b"\x00\x00\x00\x18ftypisom");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_upload_50mib_chunked_via_binary_hash_memory_range_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();

    // `token create` prints the token as the last word.
    let out = Command::new(BIN)
        .args(["token", "create", "--role", "operator", "--data", &data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let operator = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    assert!(operator.starts_with("gct_"));

    // Its log is not read: stderr goes nowhere.
    let (mut child, stdout) = ChildGuard::spawn_piped_stdout(
        "gatecast-controller serve",
        Command::new(BIN).args([
            "serve",
            "--data",
            &data,
            "--http",
            "127.0.0.1:0",
            "--mqtt",
            "127.0.0.1:0",
        ]),
        Path::new("/dev/null"),
    );
    let child_pid = child.id();
    let pid = child_pid.to_string();
    let line = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let mut l = String::new();
            std::io::BufReader::new(stdout).read_line(&mut l).unwrap();
            l
        }),
    )
    .await
    .expect("listening line within 30 s")
    .unwrap();
    assert!(
        line.starts_with("gatecast-controller listening http="),
        "{line}"
    );
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap()
        .to_string();
    assert!(line.contains(" mqtt=127.0.0.1:"), "{line}");
    let base = format!("http://{http}");
    let client = reqwest::Client::new();

    // 50 MiB, chunked (no Content-Length), generated on the fly.
    let chunks = 50 * 1024 * 1024 / CHUNK;
    let mut want = Sha256::new();
    for i in 0..chunks {
        want.update(mp4_chunk(i));
    }
    let want = playlists::hex::encode(&want.finalize());
    let before_rss = proc_kib(child_pid, "VmRSS:");
    let before_hwm = proc_kib(child_pid, "VmHWM:");
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        (0..chunks).map(|i| Ok::<_, std::io::Error>(mp4_chunk(i))),
    ));
    let resp = client
        .post(format!(
            "{base}/api/v1/media?kind=video&lang=vi&title=Big%20video"
        ))
        .bearer_auth(&operator)
        .header("content-type", "video/mp4")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(v["sha256"], want.as_str());
    assert_eq!(v["bytes"], 50 * 1024 * 1024);
    assert_eq!(v["title"], "Big video");
    let after_rss = proc_kib(child_pid, "VmRSS:");
    let after_hwm = proc_kib(child_pid, "VmHWM:");
    println!(
        "MEMORY: controller VmRSS {before_rss:?} -> {after_rss:?} KiB, VmHWM {before_hwm:?} -> {after_hwm:?} KiB for a 51200 KiB upload"
    );
    if let (Some(a), Some(b)) = (before_hwm, after_hwm) {
        assert!(
            b - a < 20 * 1024,
            "peak RSS grew by {} KiB for a 50 MiB upload",
            b - a
        );
    }
    let file = dir.path().join("media/sha256").join(&want);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 50 * 1024 * 1024);

    // Download streams the same bytes with immutable caching and a strong ETag.
    let resp = client
        .get(format!("{base}/media/{want}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["etag"], format!("\"{want}\"").as_str());
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let mut got = Sha256::new();
    let mut stream = resp.bytes_stream();
    while let Some(c) = stream.next().await {
        got.update(c.unwrap());
    }
    assert_eq!(playlists::hex::encode(&got.finalize()), want);

    // Range: 206 with exactly the bytes asked for; 416 past the end.
    let start = CHUNK + 10;
    let resp = client
        .get(format!("{base}/media/{want}"))
        .header("range", format!("bytes={start}-{}", start + 99))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes {start}-{}/{}", start + 99, 50 * 1024 * 1024).as_str()
    );
    assert_eq!(
        resp.bytes().await.unwrap().to_vec(),
        mp4_chunk(1)[10..110].to_vec()
    );
    let resp = client
        .get(format!("{base}/media/{want}"))
        .header("range", format!("bytes={}-", 50 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes */{}", 50 * 1024 * 1024).as_str()
    );

    // SIGTERM: graceful exit with status 0.
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "controller did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_upload_limit_magic_and_dedupe() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.upload_limit_bytes = 1024 * 1024;
    let ctl = start(cfg).await;
    let media_dir = dir.path().join("media/sha256");
    let count = || std::fs::read_dir(&media_dir).unwrap().count();

    // Chunked body past the limit: 413, no file (nor temp file) left behind.
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        (0..40).map(|i| Ok::<_, std::io::Error>(png(i as u8, 64 * 1024 - 8))),
    ));
    let resp = ctl
        .http
        .post(ctl.url("/api/v1/media?kind=slide&lang=vi"))
        .bearer_auth(&ctl.admin)
        .header("content-type", "image/png")
        .body(body)
        .send()
        .await;
    match resp {
        Ok(r) => {
            assert_eq!(r.status().as_u16(), 413);
            let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            assert_eq!(v["error"], "too_large");
        }
        // The server may close the connection before the client finished sending.
        Err(e) => println!("NOTE: client saw {e} instead of reading the 413"),
    }
    assert_eq!(count(), 0, "no file may remain after a refused upload");

    // With Content-Length past the limit: 413 before reading.
    let (s, v) = ctl
        .upload(png(1, 2 * 1024 * 1024), "image/png", "kind=slide&lang=vi")
        .await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(count(), 0);

    // Bytes that are not what Content-Type says: 415.
    let (s, v) = ctl
        .upload(
            b"GIF89a-not-a-png".to_vec(),
            "image/png",
            "kind=slide&lang=vi",
        )
        .await;
    assert_eq!(s, 415, "{v}");
    assert!(v["message"].as_str().unwrap().contains("gif"), "{v}");
    assert_eq!(count(), 0);

    // Unsupported type, bad kind, bad lang: 4xx naming the problem.
    let (s, _) = ctl
        .upload(b"hello".to_vec(), "text/plain", "kind=slide&lang=vi")
        .await;
    assert_eq!(s, 415);
    let (s, v) = ctl
        .upload(png(1, 10), "image/png", "kind=poster&lang=vi")
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("kind")));
    let (s, v) = ctl
        .upload(png(1, 10), "image/png", "kind=slide&lang=no_such_lang!")
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("lang")));
    let (s, v) = ctl
        .upload(png(1, 10), "image/png", "kind=video&lang=vi")
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("kind")));

    // Dedupe: the same bytes twice are one file.
    let (s, a) = ctl
        .upload(png(9, 5000), "image/png", "kind=slide&lang=en&title=A")
        .await;
    assert_eq!(s, 201, "{a}");
    let (s, b) = ctl
        .upload(png(9, 5000), "image/png", "kind=slide&lang=en&title=B")
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(count(), 1);

    // Bad hash in the download path never touches the filesystem.
    let r = ctl
        .http
        .get(ctl.url("/media/..%2F..%2Fetc%2Fpasswd"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    ctl.running.shutdown().await;
}
