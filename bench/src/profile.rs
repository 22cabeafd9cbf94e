//! Profiles of one measured window. With `GATECAST_BENCH_PERF=<dir>` set, a scenario attaches
//! `perf record` to the controller (or player) before its clock starts, with events disabled,
//! enables them when the window opens and stops perf when it closes; `<dir>/<name>.data` then
//! holds samples of that window only (not of registration or connecting). Without the variable
//! nothing happens. How to turn the data into a flame graph: `docs/BENCHMARKS.md`, "Profiles".
//!
//! perf is told to start disabled (`--delay=-1`) and to answer every command on a FIFO
//! (`--control fifo:ctl,ack`), so enabling waits for perf's own `ack` instead of guessing how
//! long it takes to attach.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

/// A `perf record` attached to one process, recording only between [`Window::open`] and
/// [`Window::close`].
pub struct Window {
    child: Child,
    ctl: PathBuf,
    ack: PathBuf,
    data: PathBuf,
    /// Both FIFOs, opened on the first command and kept open (perf stops listening when the
    /// writer of its control FIFO goes away).
    fifos: Option<(tokio::fs::File, tokio::fs::File)>,
}

impl Window {
    /// Attaches perf to `pid` (events disabled) when `GATECAST_BENCH_PERF` names a directory;
    /// `None` otherwise. `name` names the data file.
    pub async fn attach(name: &str, pid: u32) -> Result<Option<Window>> {
        let Some(dir) = std::env::var_os("GATECAST_BENCH_PERF").map(PathBuf::from) else {
            return Ok(None);
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let data = dir.join(format!("{name}.data"));
        let ctl = dir.join(format!("{name}.ctl"));
        let ack = dir.join(format!("{name}.ack"));
        for fifo in [&ctl, &ack] {
            let _ = std::fs::remove_file(fifo);
            let made = Command::new("mkfifo").arg(fifo).status().await?;
            if !made.success() {
                bail!("mkfifo {} failed", fifo.display());
            }
        }
        let child = Command::new("perf")
            .args([
                "record",
                "-F",
                "999",
                "--call-graph",
                "dwarf,16384",
                "--delay=-1",
            ])
            .arg(format!(
                "--control=fifo:{},{}",
                ctl.display(),
                ack.display()
            ))
            .arg("-o")
            .arg(&data)
            .args(["-p", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting perf (apt-get install linux-perf)")?;
        Ok(Some(Window {
            child,
            ctl,
            ack,
            data,
            fifos: None,
        }))
    }

    /// Enables the events and waits for perf's acknowledgement.
    pub async fn open(&mut self) -> Result<()> {
        self.command("enable").await
    }

    /// Disables the events, stops perf and waits for it to write its file.
    pub async fn close(mut self) -> Result<PathBuf> {
        self.command("disable").await?;
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .await?;
        }
        tokio::time::timeout(Duration::from_secs(120), self.child.wait())
            .await
            .context("perf did not finish writing within 120 s")??;
        let _ = std::fs::remove_file(&self.ctl);
        let _ = std::fs::remove_file(&self.ack);
        eprintln!("profile of the window: {}", self.data.display());
        Ok(self.data.clone())
    }

    async fn command(&mut self, what: &str) -> Result<()> {
        if self.fifos.is_none() {
            // Opening a FIFO blocks until the other side has it open too: perf is attached and
            // listening once both return.
            let wait = Duration::from_secs(30);
            let ctl = tokio::time::timeout(
                wait,
                tokio::fs::OpenOptions::new().write(true).open(&self.ctl),
            )
            .await
            .context("perf did not open its control FIFO within 30 s")??;
            let ack = tokio::time::timeout(
                wait,
                tokio::fs::OpenOptions::new().read(true).open(&self.ack),
            )
            .await
            .context("perf did not open its ack FIFO within 30 s")??;
            self.fifos = Some((ctl, ack));
        }
        let (ctl, ack) = self.fifos.as_mut().expect("opened above");
        ctl.write_all(format!("{what}\n").as_bytes()).await?;
        ctl.flush().await?;
        // perf writes its answer with the string's terminating NUL: `ack\n\0`.
        let mut buf = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(30), ack.read_exact(&mut buf))
            .await
            .with_context(|| format!("perf did not acknowledge {what:?} within 30 s"))??;
        if !buf.starts_with(b"ack\n") {
            bail!("perf answered {buf:?} to {what:?}");
        }
        Ok(())
    }
}
