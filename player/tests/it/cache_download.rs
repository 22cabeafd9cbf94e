//! The media cache against a real local HTTP server (warp on port 0).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gatecast_player::cache::{Cache, CacheProgress, RetryPolicy, Wanted};
use gatecast_player::store::Store;
use playlists::hex::sha256_hex as hex_sha;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use warp::http::{Response, StatusCode};
use warp::{Filter, Reply};

/// What one request looked like.
#[derive(Debug, Clone)]
struct Seen {
    sha: String,
    range: Option<String>,
}

type Handler = dyn Fn(usize, &Seen) -> warp::reply::Response + Send + Sync;

/// A media server whose answers the test decides; records every request.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(
        handler: impl Fn(usize, &Seen) -> warp::reply::Response + Send + Sync + 'static,
    ) -> Server {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let log = seen.clone();
        let route = warp::get()
            .and(warp::path!("media" / String))
            .and(warp::header::optional::<String>("range"))
            .map(move |sha: String, range: Option<String>| {
                let s = Seen { sha, range };
                let n = {
                    let mut l = log.lock().unwrap();
                    l.push(s.clone());
                    l.len() - 1
                };
                handler(n, &s)
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Server {
            base: format!("http://{addr}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Deterministic, non-repeating test content.
fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut h = Sha256::digest([seed]);
    while out.len() < len {
        out.extend_from_slice(&h);
        h = Sha256::digest(h);
    }
    out.truncate(len);
    out
}

/// A correct answer for `data` honouring a `bytes=N-` Range header.
fn serve_range(data: &[u8], range: Option<&str>) -> warp::reply::Response {
    if let Some(start) = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
    {
        if start >= data.len() {
            return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        }
        return Response::builder()
            .status(206)
            .header(
                "content-range",
                format!("bytes {start}-{}/{}", data.len() - 1, data.len()),
            )
            .body(Bytes::copy_from_slice(&data[start..]))
            .unwrap()
            .into_response();
    }
    Response::new(Bytes::copy_from_slice(data)).into_response()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    }
}

/// Waits (up to 20 s) until `cond` holds for the progress.
async fn wait_progress(
    rx: &mut watch::Receiver<CacheProgress>,
    cond: impl FnMut(&CacheProgress) -> bool,
) -> CacheProgress {
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(cond))
        .await
        .expect("progress condition not reached within 20 s")
        .expect("progress sender dropped")
        .clone()
}

/// Waits (up to 20 s) until `cond` holds, polling every 20 ms.
async fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn downloads_verifies_and_uses_mirrors_in_order() {
    let a = content(300_000, 1);
    let b = content(10, 2);
    let (sa, sb) = (hex_sha(&a), hex_sha(&b));
    let broken = Server::start(|_, _| StatusCode::INTERNAL_SERVER_ERROR.into_response()).await;
    let (a2, b2, sa2) = (a.clone(), b.clone(), sa.clone());
    let good = Server::start(move |_, s| {
        let data = if s.sha == sa2 { &a2 } else { &b2 };
        serve_range(data, s.range.as_deref())
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(fast_retry());
    let want = vec![
        Wanted {
            sha256: sa.clone(),
            bytes: a.len() as u64,
        },
        Wanted {
            sha256: sb.clone(),
            bytes: b.len() as u64,
        },
    ];
    assert!(cache.path(&sa).is_none());
    let (tx, rx) = watch::channel(CacheProgress::default());
    cache
        .sync(&want, &[broken.base.clone(), good.base.clone()], &tx)
        .await
        .unwrap();

    assert_eq!(std::fs::read(cache.path(&sa).unwrap()).unwrap(), a);
    assert_eq!(std::fs::read(cache.path(&sb).unwrap()).unwrap(), b);
    assert_eq!(
        cache.path(&sa).unwrap(),
        dir.path().join("cache/sha256").join(&sa)
    );
    let p = rx.borrow().clone();
    assert_eq!(p.need_bytes, 300_010);
    assert_eq!(p.have_bytes, 300_010);
    // The broken first mirror was tried first for each file, then the good one.
    assert_eq!(broken.seen().len(), 2);
    assert_eq!(good.seen().len(), 2);
    assert!(good.seen().iter().all(|s| s.range.is_none()));
    assert!(cache.missing(&want).await.unwrap().is_empty());
    assert!(cache.verify_file(&sa).await.unwrap());

    // A second sync fetches nothing.
    cache
        .sync(&want, std::slice::from_ref(&good.base), &tx)
        .await
        .unwrap();
    assert_eq!(good.seen().len(), 2);
}

#[tokio::test]
async fn resumes_after_a_kill_with_a_range_request() {
    const CUT: usize = 100_000;
    let data = content(250_000, 3);
    let sha = hex_sha(&data);
    let d2 = data.clone();
    let server = Server::start(move |n, s| {
        if n == 0 {
            // First request: send CUT bytes, then stall forever (the client is "killed").
            let first = Bytes::copy_from_slice(&d2[..CUT]);
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(first)])
                .chain(futures_util::stream::pending());
            let mut r = warp::reply::stream(body).into_response();
            r.headers_mut().insert("content-length", d2.len().into());
            r
        } else {
            serve_range(&d2, s.range.as_deref())
        }
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: data.len() as u64,
    }];
    let mirrors = vec![server.base.clone()];
    {
        let cache = Cache::open(dir.path(), &store, None)
            .unwrap()
            .with_retry(fast_retry());
        let (tx, mut rx) = watch::channel(CacheProgress::default());
        let (w, m) = (want.clone(), mirrors.clone());
        let task = tokio::spawn(async move { cache.sync(&w, &m, &tx).await });
        wait_progress(&mut rx, |p| p.have_bytes == CUT as u64).await;
        task.abort();
        let _ = task.await;
    }
    let part = dir.path().join("cache/sha256").join(format!("{sha}.part"));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), CUT as u64);

    // "Restart": a new cache over the same directory resumes from the part file.
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(fast_retry());
    let (tx, _rx) = watch::channel(CacheProgress::default());
    cache.sync(&want, &mirrors, &tx).await.unwrap();
    assert_eq!(std::fs::read(cache.path(&sha).unwrap()).unwrap(), data);
    assert!(!part.exists());
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=100000-"));
}

#[tokio::test]
async fn a_server_ignoring_range_restarts_from_zero() {
    let data = content(50_000, 4);
    let sha = hex_sha(&data);
    let d2 = data.clone();
    // Always answers 200 with the whole file.
    let server =
        Server::start(move |_, _| Response::new(Bytes::copy_from_slice(&d2)).into_response()).await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(fast_retry());
    // A part file with wrong bytes: if it were kept and appended to, the hash would not match.
    let part = cache.dir().join(format!("{sha}.part"));
    std::fs::write(&part, vec![0xAA; 20_000]).unwrap();
    let (tx, rx) = watch::channel(CacheProgress::default());
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: data.len() as u64,
    }];
    cache
        .sync(&want, std::slice::from_ref(&server.base), &tx)
        .await
        .unwrap();

    assert_eq!(std::fs::read(cache.path(&sha).unwrap()).unwrap(), data);
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "one request was enough: {seen:?}");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=20000-"));
    assert_eq!(rx.borrow().last_error, None);
}

#[tokio::test]
async fn a_hash_mismatch_never_completes_and_is_retried() {
    let good = content(40_000, 5);
    let sha = hex_sha(&good);
    let bad = content(40_000, 6);
    let server = Server::start(move |_, s| serve_range(&bad, s.range.as_deref())).await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(fast_retry());
    let (tx, mut rx) = watch::channel(CacheProgress::default());
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: good.len() as u64,
    }];
    let (c2, base) = (cache.clone(), server.base.clone());
    let task = tokio::spawn(async move { c2.sync(&want, &[base], &tx).await });

    let p = wait_progress(&mut rx, |p| {
        p.last_error
            .as_deref()
            .is_some_and(|e| e.contains("hash mismatch"))
    })
    .await;
    assert!(p.last_error.unwrap().contains(&sha));
    wait_until(|| server.seen().len() >= 3).await;
    assert!(
        !task.is_finished(),
        "sync must not finish with unverifiable media"
    );
    task.abort();
    let _ = task.await;
    assert!(cache.path(&sha).is_none());
    assert!(!cache.dir().join(&sha).exists());
    // Every retry started from zero: a mismatching part file is discarded, never resumed.
    assert!(
        server.seen().iter().all(|s| s.range.is_none()),
        "{:?}",
        server.seen()
    );
}

async fn assert_too_long_is_aborted(with_length: bool) {
    let declared = content(30_000, 7);
    let sha = hex_sha(&declared);
    let mut longer = declared.clone();
    longer.extend_from_slice(&content(5_000, 8));
    let server = Server::start(move |_, _| {
        if with_length {
            Response::new(Bytes::copy_from_slice(&longer)).into_response()
        } else {
            // Chunked, no Content-Length: the overflow is seen only while streaming.
            let chunks: Vec<Result<Bytes, std::io::Error>> = longer
                .chunks(7_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            warp::reply::stream(futures_util::stream::iter(chunks)).into_response()
        }
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // A long backoff: after the first failed round the sync sleeps, so the state is stable.
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(RetryPolicy {
            initial: Duration::from_secs(600),
            max: Duration::from_secs(600),
        });
    let (tx, mut rx) = watch::channel(CacheProgress::default());
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: declared.len() as u64,
    }];
    let (c2, base) = (cache.clone(), server.base.clone());
    let task = tokio::spawn(async move { c2.sync(&want, &[base], &tx).await });
    let p = wait_progress(&mut rx, |p| p.last_error.is_some()).await;
    let err = p.last_error.unwrap();
    assert!(err.contains("more bytes than the 30000 declared"), "{err}");
    assert!(!task.is_finished());
    task.abort();
    let _ = task.await;
    assert!(cache.path(&sha).is_none());
    assert!(!cache.dir().join(format!("{sha}.part")).exists());
}

#[tokio::test]
async fn longer_than_declared_is_aborted_with_content_length() {
    assert_too_long_is_aborted(true).await;
}

#[tokio::test]
async fn longer_than_declared_is_aborted_while_streaming() {
    assert_too_long_is_aborted(false).await;
}

#[tokio::test]
async fn wrong_size_files_are_removed_and_fetched_again() {
    let data = content(5_000, 9);
    let sha = hex_sha(&data);
    let d2 = data.clone();
    let server = Server::start(move |_, s| serve_range(&d2, s.range.as_deref())).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(fast_retry());
    std::fs::write(cache.dir().join(&sha), &data[..100]).unwrap();
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: data.len() as u64,
    }];
    assert_eq!(cache.missing(&want).await.unwrap(), want);
    assert!(!cache.dir().join(&sha).exists());
    let (tx, _rx) = watch::channel(CacheProgress::default());
    cache
        .sync(&want, std::slice::from_ref(&server.base), &tx)
        .await
        .unwrap();
    assert_eq!(std::fs::read(cache.path(&sha).unwrap()).unwrap(), data);
}

#[tokio::test]
async fn invalid_hashes_never_become_paths() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None).unwrap();
    assert!(cache.path("../../etc/passwd").is_none());
    assert!(cache.mark_played("../x").is_err());
    let (tx, _rx) = watch::channel(CacheProgress::default());
    let want = vec![Wanted {
        sha256: "../../x".into(),
        bytes: 1,
    }];
    assert!(cache
        .sync(&want, &["http://127.0.0.1:9".into()], &tx)
        .await
        .is_err());
}

#[tokio::test]
async fn eviction_removes_least_recently_played_but_never_protected_media() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, Some(2_500)).unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| {
            let d = content(1_000, 20 + i);
            (hex_sha(&d), d)
        })
        .collect();
    for (sha, d) in &files {
        std::fs::write(cache.dir().join(sha), d).unwrap();
    }
    // Play order (oldest first): 0, 1, 2, 3 — with real clock gaps between marks.
    for (sha, _) in &files {
        cache.mark_played(sha).unwrap();
        let before = std::time::SystemTime::now();
        wait_until(|| before.elapsed().unwrap() >= Duration::from_millis(2)).await;
    }
    // 0 is the least recently played but protected (in the active manifest).
    let protected: HashSet<String> = [files[0].0.clone()].into();
    let removed = cache.evict(&protected).unwrap();
    assert_eq!(removed, vec![files[1].0.clone(), files[2].0.clone()]);
    assert!(cache.path(&files[0].0).is_some());
    assert!(cache.path(&files[3].0).is_some());
    assert_eq!(cache.size().unwrap(), 2_000);

    // Everything protected: nothing is removed even though the budget is exceeded.
    let small = Cache::open(dir.path(), &store, Some(10)).unwrap();
    let all: HashSet<String> = [files[0].0.clone(), files[3].0.clone()].into();
    assert!(small.evict(&all).unwrap().is_empty());
    assert_eq!(small.size().unwrap(), 2_000);
}

/// A bad mirror listed first sends the first half of a file with wrong bytes, then closes the
/// connection; the honest second mirror must not continue from that poisoned prefix (the hash
/// would fail and the same happen every round): the file completes from the honest mirror, and
/// the progress never claims bytes that did not verify (docs/security.md §3).
#[tokio::test]
async fn attack_poisoned_mirror_resume() {
    let data = content(200_000, 11);
    let sha = hex_sha(&data);
    let half = data.len() / 2;
    let poison = content(half, 12);
    let total = data.len();
    // A raw HTTP server: the head declares the whole file, the body is half of it with wrong
    // bytes, then the connection is closed.
    let bad_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad_base = format!("http://{}", bad_listener.local_addr().unwrap());
    let bad_requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = bad_requests.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut s, _) = bad_listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let hdr = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
            let _ = s.write_all(hdr.as_bytes()).await;
            let _ = s.write_all(&poison).await;
            let _ = s.flush().await;
            let _ = s.shutdown().await;
        }
    });
    let d2 = data.clone();
    let honest = Server::start(move |_, s| serve_range(&d2, s.range.as_deref())).await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(fast_retry());
    let (tx, rx) = watch::channel(CacheProgress::default());
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: data.len() as u64,
    }];
    let mirrors = [bad_base, honest.base.clone()];
    tokio::time::timeout(Duration::from_secs(20), cache.sync(&want, &mirrors, &tx))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the poisoned resume never completed in 20 s; honest mirror saw {:?}, progress {:?}",
                honest.seen(),
                rx.borrow()
            )
        })
        .unwrap();
    assert_eq!(std::fs::read(cache.path(&sha).unwrap()).unwrap(), data);
    assert!(
        honest.seen().iter().all(|s| s.range.is_none()),
        "the honest mirror was asked to continue another mirror's part: {:?}",
        honest.seen()
    );
    assert_eq!(
        bad_requests.lock().unwrap().len(),
        1,
        "the bad mirror is tried once"
    );
    let p = rx.borrow().clone();
    assert_eq!((p.have_bytes, p.need_bytes), (total as u64, total as u64));
}

/// After a hash failure the part is gone: the progress must say so, not keep counting the
/// discarded bytes as "have" (docs/security.md §3).
#[tokio::test]
async fn attack_poisoned_mirror_progress_after_hash_failure() {
    let good = content(40_000, 13);
    let sha = hex_sha(&good);
    let bad = content(40_000, 14);
    let server = Server::start(move |_, s| serve_range(&bad, s.range.as_deref())).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(RetryPolicy {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(30),
        });
    let (tx, mut rx) = watch::channel(CacheProgress::default());
    let want = vec![Wanted {
        sha256: sha.clone(),
        bytes: good.len() as u64,
    }];
    let (c2, base) = (cache.clone(), server.base.clone());
    let task = tokio::spawn(async move { c2.sync(&want, &[base], &tx).await });
    let p = wait_progress(&mut rx, |p| {
        p.last_error
            .as_deref()
            .is_some_and(|e| e.contains("hash mismatch"))
    })
    .await;
    assert_eq!(
        p.have_bytes, 0,
        "progress after the mismatching part was deleted: {p:?}"
    );
    task.abort();
    let _ = task.await;
}
