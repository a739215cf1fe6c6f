//! Console output per environment and format, level filtering, `RUST_LOG`,
//! and redaction, each test with its own scoped subscriber.

mod support;

use appenv_config::{AppEnv, SecretString, Section};
use appenv_observability::{Error, LogFormat, TelemetryBuilder, TelemetryConfig};
use serde_json::Value;
use support::Capture;

const SENTINEL: &str = "SENTINEL-c0ns0le";

/// Runs `body` under the subscriber built for `env`/`config`, returns the
/// console output.
fn run(env: AppEnv, config: &TelemetryConfig, body: impl FnOnce()) -> String {
    let capture = Capture::default();
    let (dispatch, guard) = TelemetryBuilder::new(env, config)
        .with_writer(capture.clone())
        .build()
        .expect("builds");
    tracing::dispatcher::with_default(&dispatch, body);
    drop(guard);
    capture.text()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn staging_writes_json_lines_with_span_trace_ids_environment_and_service() {
    let config = TelemetryConfig::defaults(AppEnv::Staging).with_service("orders", "1.0.0");
    let out = run(AppEnv::Staging, &config, || {
        let span = tracing::info_span!("checkout", order_id = 42);
        let _in = span.enter();
        tracing::info!(target: "shop", items = 3, "placed order");
    });
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    let line = &lines[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], "shop");
    assert_eq!(line["message"], "placed order");
    assert_eq!(line["fields"]["items"], 3);
    assert_eq!(line["span"]["name"], "checkout");
    assert_eq!(line["span"]["order_id"], 42);
    assert_eq!(line["environment"], "staging");
    assert_eq!(line["service"], "orders");
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "{line}");
    assert_eq!(line["span_id"].as_str().unwrap().len(), 16, "{line}");
}

#[test]
fn events_outside_spans_have_no_trace_ids() {
    let config = TelemetryConfig::defaults(AppEnv::Production);
    let out = run(AppEnv::Production, &config, || {
        tracing::warn!("no span here")
    });
    let line = &json_lines(&out)[0];
    assert_eq!(line["environment"], "production");
    assert!(line.get("trace_id").is_none(), "{line}");
    assert!(line.get("span").is_none(), "{line}");
}

#[test]
fn local_writes_pretty_human_output() {
    let config = TelemetryConfig::defaults(AppEnv::Local);
    assert_eq!(config.log_format, LogFormat::Pretty);
    let out = run(AppEnv::Local, &config, || {
        let span = tracing::info_span!("checkout", order_id = 42);
        let _in = span.enter();
        tracing::info!(items = 3, "placed order");
    });
    assert!(
        serde_json::from_str::<Value>(out.lines().next().unwrap()).is_err(),
        "{out}"
    );
    assert!(out.contains("INFO"), "{out}");
    assert!(out.contains("placed order"), "{out}");
    assert!(out.contains("items: 3"), "{out}");
    assert!(out.contains("in checkout with order_id=42"), "{out}");
    assert!(out.lines().count() >= 3, "multi-line: {out}");
    assert!(
        !out.contains('\x1b'),
        "no colours into a non-terminal writer"
    );
}

#[test]
fn compact_format_is_one_line_per_event() {
    let mut config = TelemetryConfig::defaults(AppEnv::Production);
    config.log_format = LogFormat::Compact;
    let out = run(AppEnv::Production, &config, || {
        tracing::info!(items = 3, "placed order");
    });
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("placed order") && out.contains("items=3"),
        "{out}"
    );
}

#[test]
fn production_drops_debug_and_staging_keeps_it() {
    let emit = || {
        tracing::debug!("debug detail");
        tracing::info!("info line");
    };
    let prod = run(
        AppEnv::Production,
        &TelemetryConfig::defaults(AppEnv::Production),
        emit,
    );
    assert!(!prod.contains("debug detail"), "{prod}");
    assert!(prod.contains("info line"), "{prod}");
    let staging = run(
        AppEnv::Staging,
        &TelemetryConfig::defaults(AppEnv::Staging),
        emit,
    );
    assert!(staging.contains("debug detail"), "{staging}");
}

#[test]
fn rust_log_directives_override_the_level() {
    let mut config = TelemetryConfig::defaults(AppEnv::Production);
    config.rust_log = "warn,chatty=trace".into();
    let out = run(AppEnv::Production, &config, || {
        tracing::info!(target: "quiet", "quiet info");
        tracing::warn!(target: "quiet", "quiet warning");
        tracing::trace!(target: "chatty", "chatty trace");
    });
    assert!(!out.contains("quiet info"), "{out}");
    assert!(out.contains("quiet warning"), "{out}");
    assert!(out.contains("chatty trace"), "{out}");
}

#[test]
fn invalid_rust_log_is_an_error_naming_the_variable() {
    let mut config = TelemetryConfig::defaults(AppEnv::Staging);
    config.rust_log = "my_app=loudest".into();
    let err = TelemetryBuilder::new(AppEnv::Staging, &config)
        .build()
        .unwrap_err();
    // The same check as the `telemetry.invalid` rule (tests/preflight.rs).
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                key: "rust_log",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("RUST_LOG"), "{err}");
}

#[test]
fn sensitive_fields_and_secrets_are_redacted_in_every_format() {
    for format in [LogFormat::Json, LogFormat::Pretty, LogFormat::Compact] {
        let mut config = TelemetryConfig::defaults(AppEnv::Staging);
        config.log_format = format;
        config.redact_fields = vec!["iban".into()];
        let out = run(AppEnv::Staging, &config, || {
            let secret = SecretString::from(SENTINEL.to_owned());
            let span = tracing::info_span!("login", password = SENTINEL, user = "ada");
            let _in = span.enter();
            tracing::info!(
                password = SENTINEL,
                db_password = %SENTINEL,
                token = ?SENTINEL,
                authorization = SENTINEL,
                cookie = SENTINEL,
                api_key = SENTINEL,
                jwt = SENTINEL,
                client_secret = SENTINEL,
                iban = SENTINEL,
                key = ?secret,
                shown = "visible-value",
                "user signed in"
            );
        });
        assert!(out.contains("user signed in"), "{format}: {out}");
        assert!(out.contains("visible-value"), "{format}: {out}");
        assert!(out.contains("[REDACTED]"), "{format}: {out}");
        assert!(!out.contains(SENTINEL), "{format} leaked a secret:\n{out}");
    }
}

#[test]
fn sdk_disabled_still_logs_to_the_console() {
    let mut config = TelemetryConfig::defaults(AppEnv::Staging);
    config.sdk_disabled = true;
    config.otlp_endpoint = "http://127.0.0.1:4317".into();
    let out = run(AppEnv::Staging, &config, || {
        let span = tracing::info_span!("work");
        let _in = span.enter();
        tracing::info!("still here");
    });
    let line = &json_lines(&out)[0];
    assert_eq!(line["message"], "still here");
    assert!(
        line.get("trace_id").is_none(),
        "no OpenTelemetry, no trace id: {line}"
    );
}
