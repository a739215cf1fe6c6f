//! `OTEL_{TRACES,METRICS,LOGS}_EXPORTER=console`: spans, metrics and log
//! records printed to stdout (opentelemetry-stdout) with secrets redacted,
//! no collector needed; a production violation.
//!
//! The exporter writes to the process's stdout, so the test runs itself as
//! a child process and reads what the child printed.

use std::process::Command;

use appenv_config::{AppEnv, Loader};
use appenv_observability::{TelemetryBuilder, TelemetryConfig};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use tower::ServiceExt;

const CHILD: &str = "APPENV_CONSOLE_EXPORTER_CHILD";
const SENTINEL: &str = "SENTINEL-c0n5";

fn console_vars(env: &'static str) -> [(&'static str, &'static str); 5] {
    [
        ("APP_ENV", env),
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "console"),
        ("OTEL_LOGS_EXPORTER", "console"),
    ]
}

/// In the child: one request through the telemetry layer, then shutdown
/// (which flushes the metrics).
async fn serve_one_request() {
    let config = Loader::hermetic(console_vars("local"))
        .load::<TelemetryConfig>()
        .expect("loads")
        .into_config();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Local, &config)
        .with_writer(std::io::sink)
        .build()
        .expect("builds without an endpoint");
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let app = Router::new()
        .route(
            "/orders/{id}",
            get(|| async {
                tracing::info!(password = SENTINEL, user = "ada", "handling order");
                "ok"
            }),
        )
        .layer(guard.http_layer());
    let response = app
        .oneshot(Request::get("/orders/7").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(response.status().is_success());
    drop(_scope);
    guard.shutdown().expect("shutdown");
}

#[tokio::test]
async fn console_exporters_print_spans_metrics_and_logs_to_stdout_redacted() {
    if std::env::var_os(CHILD).is_some() {
        serve_one_request().await;
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "console_exporters_print_spans_metrics_and_logs_to_stdout_redacted",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Spans"), "{stdout}");
    assert!(
        stdout.contains("GET /orders/{id}"),
        "the request span: {stdout}"
    );
    assert!(stdout.contains("http.route"), "{stdout}");
    assert!(stdout.contains("Metrics"), "{stdout}");
    assert!(stdout.contains("http.server.request.duration"), "{stdout}");
    assert!(stdout.contains("Logs"), "{stdout}");
    assert!(
        stdout.contains("handling order"),
        "the log record: {stdout}"
    );
    assert!(
        stdout.contains("service.name=String(Owned(\"orders\"))"),
        "the resource: {stdout}"
    );
    assert!(
        stdout.contains("password: String(Static(\"[REDACTED]\"))"),
        "the secret field is printed redacted: {stdout}"
    );
    assert!(
        !stdout.contains(SENTINEL),
        "a secret was printed:\n{stdout}"
    );
}

#[test]
fn the_console_exporter_is_a_production_violation_and_fine_elsewhere() {
    for env in ["local", "staging"] {
        let loaded = Loader::hermetic(console_vars(env))
            .load::<TelemetryConfig>()
            .unwrap();
        assert!(loaded.policy().is_ok(), "{env}: {}", loaded.policy());
    }
    let loaded = Loader::hermetic(console_vars("production"))
        .load::<TelemetryConfig>()
        .unwrap();
    let report = loaded.policy();
    let keys: Vec<&str> = report
        .violations
        .iter()
        .filter(|f| f.rule == "telemetry.console-exporter")
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(keys.len(), 3, "one per signal: {report}");
    for key in ["traces_exporter", "metrics_exporter", "logs_exporter"] {
        assert!(keys.iter().any(|k| k.ends_with(key)), "{key}: {report}");
    }
}
