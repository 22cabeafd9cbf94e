//! Process logging for the binaries (controller, player, demo): one line per event, plain text
//! or JSON, colour only when a person reads the stream on a terminal (`docs/operations.md`,
//! "Logs").
//!
//! Why here: every binary that logs sets it up the same way, so the switch (`--log-format`) and
//! the terminal check live once.

use std::io::IsTerminal as _;
use std::str::FromStr;

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable text (`2026-12-07T02:51:48Z  INFO gatecast_controller::serve: …`).
    #[default]
    Text,
    /// One JSON object per line (journald, Loki, jq), with `timestamp`, `level`, `target`,
    /// `fields` and the span list.
    Json,
}

/// A `--log-format` value that is neither `text` nor `json`.
#[derive(Debug, thiserror::Error)]
#[error("unknown log format {0:?}: use text or json")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(UnknownLogFormat(other.to_owned())),
        }
    }
}

/// The filter from the environment variable `env_var` (e.g. `GATECAST_LOG=debug`), else `info`.
fn filter(env_var: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env(env_var)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Sends the process's logs to standard error in `format`, filtered by `env_var`. Text has ANSI
/// colours only when standard error is a terminal, so files and journald get plain lines.
/// Call once, from `main`.
pub fn init_stderr(format: LogFormat, env_var: &str) {
    let ansi = std::io::stderr().is_terminal();
    init(format, env_var, ansi, std::io::stderr);
}

/// Sends the process's logs to `writer` in `format`, without colour (a file or a pipe).
pub fn init_writer<W>(format: LogFormat, env_var: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    init(format, env_var, false, writer);
}

fn init<W>(format: LogFormat, env_var: &str, ansi: bool, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(env_var))
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(false)
            .with_current_span(true)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_formats_and_names_a_wrong_one() {
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        let e = "yaml".parse::<LogFormat>().unwrap_err().to_string();
        assert!(e.contains("yaml") && e.contains("text or json"), "{e}");
    }
}
