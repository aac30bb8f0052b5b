//! Logging for linerate's binaries: silent unless `LINERATE_LOG` names a
//! level, because the runtime owns the container's stdout and stderr.

/// Sends `tracing` events at `LINERATE_LOG`'s level (`debug`, `info`, ...)
/// to stderr; does nothing when it is unset.
pub fn init() {
    let Ok(filter) = std::env::var("LINERATE_LOG") else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
