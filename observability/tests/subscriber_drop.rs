//! Dropping the subscriber [`TelemetryBuilder::build`] made emits nothing on
//! the dropping thread.
//!
//! tracing-core may drop a `Dispatch` while it holds its callsite registry's
//! lock (when another thread registers a callsite and upgrades the last
//! reference; tokio-rs/tracing#3269). An event emitted by that drop (the
//! OpenTelemetry SDK's own diagnostics when its providers go away) registers
//! its callsite, waits for the same lock and hangs the process. Tests that
//! build a subscriber per test on parallel threads hit it under load.

mod support;

use appenv_config::{AppEnv, Loader};
use appenv_observability::{TelemetryBuilder, TelemetryConfig};
use support::{Capture, Collector};

#[test]
fn dropping_the_subscriber_emits_nothing_on_the_dropping_thread() {
    let collector = Collector::start();
    let endpoint = collector.grpc_endpoint();
    let config = Loader::hermetic([
        ("APP_ENV", "staging"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
    ])
    .load::<TelemetryConfig>()
    .unwrap()
    .into_config();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &config)
        .with_writer(Capture::default())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("request").in_scope(|| tracing::info!("handled"));
    });
    guard.shutdown().unwrap();

    let seen = Capture::default();
    let recorder = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(seen.clone())
            .finish(),
    );
    tracing::dispatcher::with_default(&recorder, || drop(dispatch));
    assert_eq!(
        seen.text(),
        "",
        "events emitted while the subscriber dropped"
    );
}
