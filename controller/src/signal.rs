//! The shutdown signal of the binaries that run a controller (`gatecast-controller serve` and
//! the demo): one place that decides which signals mean "stop cleanly".

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what systemd and `kill` send). When the
/// SIGTERM handler cannot be installed, Ctrl-C alone stops the process.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
