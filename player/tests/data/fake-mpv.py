#!/usr/bin/env python3
"""A scripted stand-in for mpv's JSON IPC, to replay one race deterministically.

Real mpv does not start an entry appended to its playlist after it went idle. When a file
fails (or ends) right after its `playback-restart`, the player's `loadfile ... append` of the
next item races with mpv going idle. This fake always loses that race for the player:

- `*.wav`: `start-file`, `playback-restart`, then at once `end-file` (error "audio output
  initialization failed") and `idle`, before the next command is read;
- `*.short.png`: the same, but the file ends with `eof` (a file shorter than the round trip);
- anything else: `start-file`, `file-loaded`, `playback-restart`, and `end-file` (`eof`) after
  its `image-display-duration` (default 0.3 s), then the next playlist entry or `idle`.

Run with `--idle=no` (the player's audio probe) it exits 0 at once: the audio output
"works" at start and breaks later.
"""
import json
import os
import socket
import sys
import threading

args = sys.argv[1:]
if "--idle=no" in args:
    sys.exit(0)
path = next(a.split("=", 1)[1] for a in args if a.startswith("--input-ipc-server="))

lock = threading.RLock()
state = {"next_id": 1, "playlist": [], "current": None, "timer": None}
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(1)
conn, _ = server.accept()


def send(obj):
    with lock:
        conn.sendall((json.dumps(obj) + "\n").encode())


def end(entry, reason, error=None):
    ev = {"event": "end-file", "reason": reason, "playlist_entry_id": entry["id"]}
    if error:
        ev["file_error"] = error
    send(ev)


def advance(after):
    """After `after` ended: the next entry in the playlist, or idle."""
    pl = state["playlist"]
    i = pl.index(after) if after in pl else len(pl)
    if i + 1 < len(pl):
        start(pl[i + 1])
    else:
        state["current"] = None
        send({"event": "idle"})


def finish(entry):
    with lock:
        if state["current"] is not entry:
            return
        end(entry, "eof")
        advance(entry)


def start(entry):
    state["current"] = entry
    send({"event": "start-file", "playlist_entry_id": entry["id"]})
    name = entry["path"]
    if name.endswith(".wav") or name.endswith(".short.png"):
        send({"event": "playback-restart"})
        if name.endswith(".wav"):
            end(entry, "error", "audio output initialization failed")
        else:
            end(entry, "eof")
        advance(entry)
        return
    send({"event": "file-loaded"})
    send({"event": "playback-restart"})
    t = threading.Timer(entry["secs"], finish, [entry])
    t.daemon = True
    state["timer"] = t
    t.start()


def command(cmd):
    name = cmd[0]
    if name == "get_property" and cmd[1] == "mpv-version":
        return "mpv 0.35.1"
    if name == "loadfile":
        secs = 0.3
        for opt in cmd[3:]:
            if isinstance(opt, str) and opt.startswith("image-display-duration="):
                secs = float(opt.split("=", 1)[1])
        entry = {"id": state["next_id"], "path": cmd[1], "secs": secs}
        state["next_id"] += 1
        return entry
    if name == "stop":
        cur = state["current"]
        state["playlist"] = []
        if cur:
            state["current"] = None
            end(cur, "stop")
            send({"event": "idle"})
        return None
    if name == "quit":
        os._exit(0)
    return None


buf = b""
while True:
    data = conn.recv(65536)
    if not data:
        break
    buf += data
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        msg = json.loads(line)
        cmd, rid = msg["command"], msg.get("request_id", 0)
        with lock:
            out = command(cmd)
            if cmd[0] == "loadfile":
                send({"data": {"playlist_entry_id": out["id"]}, "request_id": rid, "error": "success"})
                if cmd[2] == "replace":
                    cur = state["current"]
                    state["playlist"] = [out]
                    if cur:
                        state["current"] = None
                        end(cur, "stop")
                    start(out)
                else:
                    # Appended: played when the current entry ends; never started while idle.
                    state["playlist"].append(out)
            else:
                send({"data": out, "request_id": rid, "error": "success"})
