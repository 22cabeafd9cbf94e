//! The `mpv` backend: one long-lived mpv process driven over its JSON IPC socket.
//!
//! We speak mpv's JSON IPC ourselves (the available crates are GPL or blocking): a Unix
//! socket, one JSON object per line, requests carry a `request_id` that the reply echoes,
//! everything else is an event. [`MpvIpc`] is that client; [`MpvBackend`] uses it to play
//! items:
//!
//! - mpv is started once with `--idle=yes --fullscreen --keep-open=no` and restarted if it dies.
//! - each item is `loadfile`d; slides get a per-file `image-display-duration`;
//! - while an item plays, the next one is queued with `loadfile … append` so that mpv moves
//!   on without a black gap (LESSONS #1); the gap between the previous item's `end-file` and
//!   the next `playback-restart` is measured ([`MpvBackend::last_gap`]);
//! - the real start is the `playback-restart` event of the item, the end its `end-file`
//!   event, both timestamped when the event arrives; `end-file` reasons map to outcomes
//!   (`eof` → completed, `stop`/`quit` → interrupted, `error` and others → failed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use super::{Backend, BackendKind, Ended, Interrupt, ItemKind, PlayItem, PlayOutcome};

/// How many mpv events may wait unread; beyond that the oldest news is dropped (with a warning).
const EVENT_QUEUE: usize = 1024;
/// How long a single IPC command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest IPC line we accept from mpv.
const MAX_LINE: usize = 1 << 20;

/// Errors of the mpv IPC client and process handling.
#[derive(Debug, thiserror::Error)]
pub enum MpvError {
    /// mpv could not be started.
    #[error("cannot start mpv ({program}): {source}; install mpv (apt-get install mpv) or use --backend null")]
    Spawn {
        /// Program that was run.
        program: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// mpv exited before its IPC socket came up.
    #[error(
        "mpv exited during start-up ({status}); run it by hand with the same arguments to see why"
    )]
    ExitedEarly {
        /// Exit status.
        status: String,
    },
    /// The IPC socket did not come up in time.
    #[error("mpv IPC socket {path} did not appear within {secs} s")]
    SocketTimeout {
        /// Socket path.
        path: PathBuf,
        /// Seconds waited.
        secs: u64,
    },
    /// Socket I/O failed.
    #[error("mpv IPC socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection to mpv is gone (mpv exited or closed the socket).
    #[error("mpv IPC connection closed (mpv exited?)")]
    Closed,
    /// A command got no reply in time.
    #[error("mpv did not answer command {command} within {secs} s")]
    Timeout {
        /// The command name.
        command: String,
        /// Seconds waited.
        secs: u64,
    },
    /// mpv answered a command with an error.
    #[error("mpv refused command {command}: {error}")]
    Command {
        /// The command name.
        command: String,
        /// mpv's error string.
        error: String,
    },
}

/// One event from mpv, stamped when it arrived.
#[derive(Debug, Clone)]
pub struct MpvEvent {
    /// Monotonic arrival time.
    pub at: Instant,
    /// Wall-clock arrival time.
    pub wall: jiff::Timestamp,
    /// Event name, e.g. `start-file`, `playback-restart`, `end-file`.
    pub name: String,
    /// `playlist_entry_id`, if the event has one.
    pub entry_id: Option<i64>,
    /// `reason` of an `end-file` event.
    pub reason: Option<String>,
    /// `file_error` of an `end-file` event with reason `error`.
    pub file_error: Option<String>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A small async client for mpv's JSON IPC.
#[derive(Debug)]
pub struct MpvIpc {
    writer: OwnedWriteHalf,
    pending: Pending,
    next_id: u64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for MpvIpc {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl MpvIpc {
    /// Connects to the socket at `path`; returns the client and the stream of events.
    ///
    /// The event stream ends when mpv closes the connection.
    pub async fn connect(path: &Path) -> Result<(MpvIpc, mpsc::Receiver<MpvEvent>), MpvError> {
        let stream = UnixStream::connect(path).await?;
        let (read, writer) = stream.into_split();
        let pending: Pending = Arc::default();
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let reader = tokio::spawn(read_loop(BufReader::new(read), pending.clone(), tx));
        Ok((
            MpvIpc {
                writer,
                pending,
                next_id: 1,
                reader,
            },
            rx,
        ))
    }

    /// Sends `command` (mpv's JSON command array) and waits for its reply's `data`.
    pub async fn command(&mut self, command: Vec<Value>) -> Result<Value, MpvError> {
        let name = command
            .first()
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let mut line = serde_json::to_vec(&json!({ "command": command, "request_id": id }))
            .expect("a JSON value always serialises");
        line.push(b'\n');
        let sent = self.writer.write_all(&line).await;
        if let Err(e) = sent {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Err(e.into());
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(error))) => Err(MpvError::Command {
                command: name,
                error,
            }),
            Ok(Err(_)) => Err(MpvError::Closed),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                Err(MpvError::Timeout {
                    command: name,
                    secs: COMMAND_TIMEOUT.as_secs(),
                })
            }
        }
    }
}

async fn read_loop(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
    pending: Pending,
    events: mpsc::Sender<MpvEvent>,
) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut read)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let (at, wall) = (Instant::now(), jiff::Timestamp::now());
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            tracing::warn!(
                len = line.len(),
                "mpv sent a line that is not JSON; ignored"
            );
            continue;
        };
        if let Some(id) = v.get("request_id").and_then(Value::as_u64) {
            let waiter = pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            if let Some(w) = waiter {
                let error = v.get("error").and_then(Value::as_str).unwrap_or("success");
                let reply = if error == "success" {
                    Ok(v.get("data").cloned().unwrap_or(Value::Null))
                } else {
                    Err(error.to_owned())
                };
                let _ = w.send(reply);
            }
            continue;
        }
        let Some(name) = v.get("event").and_then(Value::as_str) else {
            continue;
        };
        let ev = MpvEvent {
            at,
            wall,
            name: name.to_owned(),
            entry_id: v.get("playlist_entry_id").and_then(Value::as_i64),
            reason: v.get("reason").and_then(Value::as_str).map(str::to_owned),
            file_error: v
                .get("file_error")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        if events.try_send(ev).is_err() && events.is_closed() {
            break;
        }
    }
    // Wake every waiting command: the connection is gone.
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Settings of the mpv backend.
#[derive(Debug, Clone)]
pub struct MpvConfig {
    /// The mpv program (default `mpv`, found on `PATH`).
    pub program: PathBuf,
    /// Where the IPC socket is created (e.g. `<data>/mpv.sock`; keep it short, Unix sockets
    /// are limited to about 100 bytes of path).
    pub socket_path: PathBuf,
    /// Extra arguments after ours, e.g. `--vo=null --ao=null` in tests, `--hwdec=auto` on a box.
    pub extra_args: Vec<String>,
    /// How long mpv may take to come up, and to start a file.
    pub start_timeout: Duration,
}

impl MpvConfig {
    /// Defaults: `mpv` from `PATH`, socket at `socket_path`, no extra args, 10 s start timeout.
    pub fn new(socket_path: impl Into<PathBuf>) -> MpvConfig {
        MpvConfig {
            program: PathBuf::from("mpv"),
            socket_path: socket_path.into(),
            extra_args: Vec::new(),
            start_timeout: Duration::from_secs(10),
        }
    }
}

struct MpvProcess {
    child: Child,
    ipc: MpvIpc,
    events: mpsc::Receiver<MpvEvent>,
    /// mpv ≥ 0.38 inserted an `index` argument before `options` in `loadfile`.
    loadfile_has_index: bool,
}

impl std::fmt::Debug for MpvProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpvProcess")
            .field("pid", &self.child.id())
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Queued {
    item: PlayItem,
    entry_id: i64,
}

/// Plays items in one long-lived mpv.
#[derive(Debug)]
pub struct MpvBackend {
    cfg: MpvConfig,
    proc: Option<MpvProcess>,
    queued: Option<Queued>,
    last_end: Option<Instant>,
    last_gap: Option<Duration>,
    starts: u64,
}

impl MpvBackend {
    /// A backend that starts mpv lazily on the first play.
    pub fn new(cfg: MpvConfig) -> MpvBackend {
        MpvBackend {
            cfg,
            proc: None,
            queued: None,
            last_end: None,
            last_gap: None,
            starts: 0,
        }
    }

    /// Starts mpv now (so that a missing mpv is reported at start-up, not at the first play).
    pub async fn start(&mut self) -> Result<(), MpvError> {
        self.ensure_running().await.map(|_| ())
    }

    /// Time between the end of the previous item and the first frame of the last one that
    /// started right after it (LESSONS #1), if two items have played back to back.
    pub fn last_gap(&self) -> Option<Duration> {
        self.last_gap
    }

    /// How many times mpv has been started (1 after the first play; more after crashes).
    pub fn process_starts(&self) -> u64 {
        self.starts
    }

    /// The pid of the running mpv, if any.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(|p| p.child.id())
    }

    async fn ensure_running(&mut self) -> Result<&mut MpvProcess, MpvError> {
        let alive = match self.proc.as_mut() {
            Some(p) => matches!(p.child.try_wait(), Ok(None)),
            None => false,
        };
        if !alive {
            if self.proc.take().is_some() {
                tracing::warn!("mpv is gone; restarting it");
            }
            self.queued = None;
            self.last_end = None;
            let p = self.spawn().await?;
            self.starts += 1;
            self.proc = Some(p);
        }
        Ok(self.proc.as_mut().expect("just set"))
    }

    async fn spawn(&self) -> Result<MpvProcess, MpvError> {
        let sock = &self.cfg.socket_path;
        match std::fs::remove_file(sock) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut child = Command::new(&self.cfg.program)
            .arg("--idle=yes")
            .arg("--fullscreen")
            .arg("--keep-open=no")
            .arg("--no-terminal")
            .arg("--image-display-duration=10")
            .arg(format!("--input-ipc-server={}", sock.display()))
            .args(&self.cfg.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| MpvError::Spawn {
                program: self.cfg.program.display().to_string(),
                source,
            })?;
        let deadline = Instant::now() + self.cfg.start_timeout;
        let (mut ipc, events) = loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(MpvError::ExitedEarly {
                    status: status.to_string(),
                });
            }
            if sock.exists() {
                if let Ok(c) = MpvIpc::connect(sock).await {
                    break c;
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(MpvError::SocketTimeout {
                    path: sock.clone(),
                    secs: self.cfg.start_timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let version = ipc
            .command(vec![json!("get_property"), json!("mpv-version")])
            .await?;
        let version = version.as_str().unwrap_or("");
        let loadfile_has_index = loadfile_has_index(version);
        tracing::info!(version, pid = child.id(), "mpv started");
        Ok(MpvProcess {
            child,
            ipc,
            events,
            loadfile_has_index,
        })
    }

    async fn loadfile(&mut self, item: &PlayItem, mode: &str) -> Result<i64, MpvError> {
        let p = self.proc.as_mut().ok_or(MpvError::Closed)?;
        let mut cmd = vec![
            json!("loadfile"),
            json!(item.path.to_string_lossy()),
            json!(mode),
        ];
        if item.kind == ItemKind::Slide {
            if p.loadfile_has_index {
                cmd.push(json!(-1));
            }
            let secs = item.nominal_duration().as_secs_f64();
            cmd.push(json!(format!("image-display-duration={secs:.3}")));
        }
        let reply = p.ipc.command(cmd).await?;
        // mpv ≥ 0.35 returns the new entry's id; older ones do not, then we take the next id.
        reply
            .get("playlist_entry_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| MpvError::Command {
                command: "loadfile".into(),
                error: "reply has no playlist_entry_id (mpv older than 0.35?)".into(),
            })
    }

    async fn stop(&mut self) {
        self.queued = None;
        if let Some(p) = self.proc.as_mut() {
            if let Err(e) = p.ipc.command(vec![json!("stop")]).await {
                tracing::warn!(error = %e, "mpv stop failed");
            }
        }
    }

    async fn play_inner(
        &mut self,
        item: &PlayItem,
        next: Option<&PlayItem>,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        let attempt_wall = jiff::Timestamp::now();
        let attempt_at = Instant::now();
        let fail =
            |why: String| PlayOutcome::new(attempt_wall, attempt_at.elapsed(), Ended::Failed(why));
        if let Err(e) = tokio::fs::metadata(&item.path).await {
            return fail(format!("cannot open {}: {e}", item.path.display()));
        }
        if let Err(e) = self.ensure_running().await {
            return fail(e.to_string());
        }
        let entry = match self.queued.take() {
            Some(q) if q.item == *item => q.entry_id,
            _ => match self.loadfile(item, "replace").await {
                Ok(id) => id,
                Err(MpvError::Command { command, error }) => {
                    return fail(format!("mpv refused {command}: {error}"));
                }
                Err(first) => {
                    // The connection broke (mpv died between plays): restart it once.
                    tracing::warn!(error = %first, "mpv IPC failed; restarting mpv");
                    self.proc = None;
                    let retry = match self.ensure_running().await {
                        Ok(_) => self.loadfile(item, "replace").await,
                        Err(e) => Err(e),
                    };
                    match retry {
                        Ok(id) => id,
                        Err(e) => {
                            self.proc = None;
                            return fail(e.to_string());
                        }
                    }
                }
            },
        };

        let mut seen_start: Option<(Instant, jiff::Timestamp)> = None;
        let mut started: Option<(Instant, jiff::Timestamp)> = None;
        let mut stopping = false;
        let mut stop_deadline = tokio::time::Instant::now();
        let start_deadline = tokio::time::Instant::from_std(attempt_at + self.cfg.start_timeout);
        loop {
            let p = self.proc.as_mut().expect("running");
            let ev = tokio::select! {
                ev = p.events.recv() => ev,
                _ = interrupt.fired(), if !stopping => {
                    stopping = true;
                    self.stop().await;
                    stop_deadline = tokio::time::Instant::now() + self.cfg.start_timeout;
                    continue;
                }
                _ = tokio::time::sleep_until(stop_deadline), if stopping => {
                    // mpv never reported the end of an item we stopped (e.g. stopped before it
                    // started): it is not on screen any more either way.
                    let (t, w) = started.or(seen_start).unwrap_or((attempt_at, attempt_wall));
                    return PlayOutcome::new(w, t.elapsed(), Ended::Interrupted);
                }
                _ = tokio::time::sleep_until(start_deadline), if started.is_none() && !stopping => {
                    self.stop().await;
                    return fail(format!(
                        "mpv did not start {} within {} s",
                        item.path.display(),
                        self.cfg.start_timeout.as_secs()
                    ));
                }
            };
            let Some(ev) = ev else {
                self.proc = None;
                self.queued = None;
                let (t, w) = started.or(seen_start).unwrap_or((attempt_at, attempt_wall));
                return PlayOutcome::new(
                    w,
                    t.elapsed(),
                    Ended::Failed("mpv exited during playback".into()),
                );
            };
            match ev.name.as_str() {
                "start-file" if ev.entry_id == Some(entry) => seen_start = Some((ev.at, ev.wall)),
                "playback-restart" if seen_start.is_some() && started.is_none() => {
                    started = Some((ev.at, ev.wall));
                    if let Some(end) = self.last_end.take() {
                        self.last_gap = Some(ev.at.saturating_duration_since(end));
                        tracing::debug!(
                            gap_ms = self.last_gap.unwrap_or_default().as_millis() as u64,
                            "gap between items"
                        );
                    }
                    if let (Some(n), false) = (next, stopping) {
                        match self.loadfile(n, "append").await {
                            Ok(id) => {
                                self.queued = Some(Queued {
                                    item: n.clone(),
                                    entry_id: id,
                                })
                            }
                            Err(e) => tracing::warn!(error = %e, "could not queue the next item"),
                        }
                    }
                }
                "end-file" if ev.entry_id == Some(entry) => {
                    let (t, w) = started.or(seen_start).unwrap_or((ev.at, ev.wall));
                    let duration = ev.at.saturating_duration_since(t);
                    let ended = match ev.reason.as_deref() {
                        Some("eof") if started.is_some() => Ended::Completed,
                        Some("eof") => {
                            Ended::Failed("mpv reached the end without showing anything".into())
                        }
                        Some("stop") | Some("quit") => Ended::Interrupted,
                        Some("error") => Ended::Failed(format!(
                            "mpv could not play {}: {}",
                            item.path.display(),
                            ev.file_error.as_deref().unwrap_or("unknown error")
                        )),
                        other => Ended::Failed(format!(
                            "mpv ended the file: {}",
                            other.unwrap_or("no reason")
                        )),
                    };
                    if ended == Ended::Completed {
                        self.last_end = Some(ev.at);
                    } else {
                        self.last_end = None;
                    }
                    return PlayOutcome::new(w, duration, ended);
                }
                _ => {}
            }
        }
    }
}

/// Whether this mpv's `loadfile` takes an `index` argument before `options` (mpv ≥ 0.38).
/// Unknown version strings (git builds) are assumed to be new.
fn loadfile_has_index(version: &str) -> bool {
    let digits = version.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = digits.split(|c: char| !c.is_ascii_digit());
    match (
        parts.next().and_then(|s| s.parse::<u32>().ok()),
        parts.next().and_then(|s| s.parse::<u32>().ok()),
    ) {
        (Some(0), Some(minor)) => minor >= 38,
        (Some(major), _) => major >= 1,
        _ => true,
    }
}

impl Backend for MpvBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Mpv
    }

    async fn play(
        &mut self,
        item: &PlayItem,
        next: Option<&PlayItem>,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        self.play_inner(item, next, interrupt).await
    }

    async fn shutdown(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.ipc.command(vec![json!("quit")]).await;
            if tokio::time::timeout(Duration::from_secs(3), p.child.wait())
                .await
                .is_err()
            {
                let _ = p.child.kill().await;
            }
        }
        let _ = std::fs::remove_file(&self.cfg.socket_path);
    }
}

#[cfg(test)]
mod tests {
    use super::loadfile_has_index;

    #[test]
    fn loadfile_syntax_by_version() {
        assert!(!loadfile_has_index("mpv 0.35.1"));
        assert!(!loadfile_has_index("mpv 0.37.0"));
        assert!(loadfile_has_index("mpv 0.38.0"));
        assert!(loadfile_has_index("mpv v0.39.0-12-gabc"));
        assert!(loadfile_has_index("mpv 1.0.0"));
        assert!(loadfile_has_index("weird"));
    }
}
