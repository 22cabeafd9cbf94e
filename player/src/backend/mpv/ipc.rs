//! mpv's JSON IPC: a Unix socket, one JSON object per line; requests carry a `request_id`
//! that the reply echoes, everything else is an event.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::{MpvError, COMMAND_TIMEOUT, EVENT_QUEUE, MAX_LINE};

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
