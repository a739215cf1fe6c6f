//! The local console: debug for the service and appenv, dependencies at
//! info, the SDK at warn, unless `RUST_LOG` says otherwise; events without
//! a message still get one.

mod support;

use appenv_config::{AppEnv, Section};
use appenv_observability::{LogFormat, TelemetryBuilder, TelemetryConfig};
use support::Capture;

fn emit(config: &TelemetryConfig) -> String {
    let capture = Capture::default();
    let (dispatch, _guard) = TelemetryBuilder::new(AppEnv::Local, config)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::debug!(target: "sqlx::query", "SELECT 1 statement detail");
        tracing::debug!(target: "hyper::proto::h1", "parsed headers detail");
        tracing::debug!(target: "h2::codec", "frame detail");
        tracing::info!(target: "opentelemetry", "Global tracer provider is set");
        tracing::info!(target: "opentelemetry-otlp", "exporter internals");
        tracing::info!(target: "sqlx::pool", "pool info stays");
        tracing::debug!(target: "my_service::orders", "own debug stays");
        tracing::debug!(target: "appenv_config", "appenv debug stays");
        tracing::error!(
            name: "BatchSpanProcessor.ExportError",
            target: "opentelemetry_sdk",
            error = "connection refused"
        );
    });
    capture.text()
}

#[test]
fn local_debug_is_for_the_service_and_appenv_only() {
    let mut config = TelemetryConfig::defaults(AppEnv::Local);
    config.log_format = LogFormat::Compact;
    let out = emit(&config);
    for kept in ["own debug stays", "appenv debug stays", "pool info stays"] {
        assert!(out.contains(kept), "{kept}:\n{out}");
    }
    for dropped in [
        "statement detail",
        "parsed headers detail",
        "frame detail",
        "provider is set",
        "exporter internals",
    ] {
        assert!(!out.contains(dropped), "{dropped}:\n{out}");
    }
    let error = out
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(error.contains("connection refused"), "{error}");
}

#[test]
fn events_without_a_message_are_named_in_every_format() {
    for format in [LogFormat::Pretty, LogFormat::Json] {
        let mut config = TelemetryConfig::defaults(AppEnv::Local);
        config.log_format = format;
        let out = emit(&config);
        let error = out
            .lines()
            .find(|l| l.contains("ERROR"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            error.contains("opentelemetry_sdk: BatchSpanProcessor.ExportError")
                || error.contains("\"message\":\"BatchSpanProcessor.ExportError\""),
            "{format}: {error}"
        );
    }
}

#[test]
fn rust_log_says_otherwise() {
    let mut config = TelemetryConfig::defaults(AppEnv::Local);
    config.log_format = LogFormat::Compact;
    config.rust_log = "debug,opentelemetry=info".into();
    let out = emit(&config);
    assert!(out.contains("statement detail"), "{out}");
    assert!(out.contains("provider is set"), "{out}");
}
