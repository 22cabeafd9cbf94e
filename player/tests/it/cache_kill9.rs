//! kill -9 during a download, then restart: the download resumes from the part file with a
//! Range request (asserted from what the server saw) and the result is verified.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gatecast_player::cache::{Cache, CacheProgress, Wanted};
use gatecast_player::store::Store;
use tokio::sync::watch;
use warp::http::Response;
use warp::{Filter, Reply};

const CHILD_ENV: &str = "GATECAST_CACHE_CHILD";
const CUT: usize = 64 * 1024;

fn data() -> Vec<u8> {
    (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// Child: syncs one file from the URL in the environment (never returns: the server stalls).
#[tokio::test]
#[ignore = "run only as the child process of resumes_after_kill_9"]
async fn cache_child_downloads() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, url) = spec.split_once('|').unwrap();
    let d = data();
    let store = Store::open(Path::new(dir)).unwrap();
    let cache = Cache::open(Path::new(dir), &store, None).unwrap();
    let (tx, _rx) = watch::channel(CacheProgress::default());
    let want = [Wanted {
        sha256: playlists::hex::sha256_hex(&d),
        bytes: d.len() as u64,
    }];
    cache.sync(&want, &[url.to_owned()], &tx).await.unwrap();
}

#[tokio::test]
async fn resumes_after_kill_9() {
    let d = data();
    let sha = playlists::hex::sha256_hex(&d);
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let (log, served) = (seen.clone(), d.clone());
    let route = warp::path!("media" / String)
        .and(warp::header::optional::<String>("range"))
        .map(move |_sha: String, range: Option<String>| {
            log.lock().unwrap().push(range.clone());
            match range {
                None => {
                    // Send CUT bytes, then stall until the client dies.
                    let first = Bytes::copy_from_slice(&served[..CUT]);
                    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(first)])
                        .chain(futures_util::stream::pending());
                    let mut r = warp::reply::stream(body).into_response();
                    r.headers_mut()
                        .insert("content-length", served.len().into());
                    r
                }
                Some(r) => {
                    let start: usize = r
                        .strip_prefix("bytes=")
                        .and_then(|r| r.strip_suffix('-'))
                        .unwrap()
                        .parse()
                        .unwrap();
                    Response::builder()
                        .status(206)
                        .header(
                            "content-range",
                            format!("bytes {start}-{}/{}", served.len() - 1, served.len()),
                        )
                        .body(Bytes::copy_from_slice(&served[start..]))
                        .unwrap()
                        .into_response()
                }
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cache_kill9::cache_child_downloads",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{base}", dir.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let part = dir.path().join("cache/sha256").join(format!("{sha}.part"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < CUT as u64 {
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child never wrote {CUT} bytes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(std::fs::metadata(&part).unwrap().len(), CUT as u64);

    // Restart (in-process this time) over the same data dir.
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None).unwrap();
    let (tx, _rx) = watch::channel(CacheProgress::default());
    let want = [Wanted {
        sha256: sha.clone(),
        bytes: d.len() as u64,
    }];
    cache.sync(&want, &[base], &tx).await.unwrap();
    assert_eq!(std::fs::read(cache.path(&sha).unwrap()).unwrap(), d);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![None, Some(format!("bytes={CUT}-"))]);
}
