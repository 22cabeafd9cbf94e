//! A child process started by a test: in its own process group, its stdout and stderr appended
//! to a log file, and its whole group killed when the guard is dropped — so that a failing test
//! leaves nothing behind (chromedriver's Chromium, a player's mpv), and a test that panics
//! mid-way still stops what it started. Signals always go to ids we started, never by name.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::wait::tail;

/// A running child process and its log; the process group is killed (SIGKILL) on drop.
pub struct ChildGuard {
    child: Option<Child>,
    /// The process group id (the child's own id: it leads its group).
    pgid: u32,
    log: PathBuf,
    name: String,
}

impl ChildGuard {
    /// Starts `cmd` (stdin null, stdout and stderr appended to `log`) as the leader of a new
    /// process group. `name` is used in failure messages. Panics when it cannot be started.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> ChildGuard {
        ChildGuard::spawn_stderr_to_log(name, cmd.stdout(log_file(log)), log)
    }

    /// Like [`ChildGuard::spawn`], but stdout is a pipe handed to the caller (for programs
    /// that announce something on stdout, such as `gatecast-controller`'s `listening` line);
    /// only stderr goes to `log`.
    pub fn spawn_piped_stdout(
        name: &str,
        cmd: &mut Command,
        log: &Path,
    ) -> (ChildGuard, ChildStdout) {
        let mut guard = ChildGuard::spawn_stderr_to_log(name, cmd.stdout(Stdio::piped()), log);
        let stdout = guard
            .child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("piped stdout");
        (guard, stdout)
    }

    /// Like [`ChildGuard::spawn`], but only stderr goes to `log`: stdout stays what `cmd` says
    /// (by default inherited).
    pub fn spawn_stderr_to_log(name: &str, cmd: &mut Command, log: &Path) -> ChildGuard {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stderr(log_file(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        ChildGuard {
            pgid: child.id(),
            child: Some(child),
            log: log.to_path_buf(),
            name: name.to_string(),
        }
    }

    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.pgid
    }

    /// The log file its output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }

    /// Its exit status if it has exited (reaped), `None` while it runs.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// Sends SIGTERM to the process itself (not its group: it stops its own children).
    pub fn sigterm(&self) {
        signal("-TERM", &self.pgid.to_string());
    }

    /// SIGTERM, then waits up to `grace` for the exit; SIGKILL to the group after that.
    /// Returns the exit status when the process exited by itself.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.try_wait() {
            return Some(st);
        }
        self.sigterm();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill_group();
        None
    }

    /// SIGTERM and a clean stop within `grace`: panics (after SIGKILL to the group) with the
    /// tail of the log when the process needed more.
    pub fn stop(&mut self, grace: Duration) {
        if self.terminate(grace).is_none() {
            panic!(
                "{} did not stop on SIGTERM within {grace:?}; log:\n{}",
                self.name,
                self.log_tail(60)
            );
        }
    }

    /// SIGKILL to the process itself (a crash or power cut; what it started lives on until the
    /// guard is dropped), and reaps it.
    pub fn kill9(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL to the whole process group, and reaps the leader.
    pub fn kill_group(&mut self) {
        signal("-KILL", &format!("-{}", self.pgid));
        self.kill9();
    }

    /// Waits until its log holds a line containing `needle` and returns that line. Panics when
    /// `timeout` passes first or when the process exits, with the tail of the log.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            if let Some(st) = self.try_wait() {
                panic!(
                    "{} exited ({st}) before logging {needle:?}; log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {} to log {needle:?}; log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill_group();
        }
    }
}

/// `kill <sig> -- <target>` (a pid, or `-pgid` for a group); errors are ignored (it may be
/// gone already).
fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `path` opened for appending (created if missing): where a process's output goes.
pub fn log_file(path: &Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pid` runs (a zombie waiting for a reaper does not).
    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    }

    #[test]
    fn output_goes_to_the_log_and_a_line_is_awaited() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let mut child = ChildGuard::spawn(
            "sh",
            Command::new("sh").args(["-c", "echo out; echo err >&2; echo ready; sleep 30"]),
            &log,
        );
        assert_eq!(
            child.wait_for_log("ready", Duration::from_secs(10)),
            "ready"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out") && text.contains("err"), "{text}");
        assert!(child.is_running());
        assert!(child.terminate(Duration::from_secs(10)).is_some());
        assert!(!child.is_running());
    }

    #[test]
    fn drop_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let grandchild = {
            let mut child = ChildGuard::spawn(
                "sh",
                Command::new("sh").args(["-c", "sleep 30 & echo \"pid $!\"; wait"]),
                &log,
            );
            let line = child.wait_for_log("pid ", Duration::from_secs(10));
            line.trim_start_matches("pid ").to_string()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(&grandchild) {
            assert!(Instant::now() < deadline, "the group outlived its guard");
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    #[should_panic(expected = "exited")]
    fn waiting_for_a_line_a_dead_process_never_writes_panics() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = ChildGuard::spawn(
            "true",
            &mut Command::new("true"),
            &dir.path().join("true.log"),
        );
        child.wait_for_log("never", Duration::from_secs(10));
    }
}
