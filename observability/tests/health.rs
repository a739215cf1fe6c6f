//! `/healthz` and `/readyz` through the axum router.

mod support;

use std::time::Duration;

use appenv_observability::Health;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn get(app: axum::Router, path: &str) -> (StatusCode, Value) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(start_paused = true)]
async fn readyz_lists_failing_checks_with_503_and_healthz_stays_up() {
    let app = Health::new()
        .with_timeout(Duration::from_millis(500))
        .check("database", || async { Ok::<_, String>(()) })
        .check("cache", || async {
            Err::<(), _>("redis://:SENTINEL-pw@cache:6379 refused".to_owned())
        })
        .check("search", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, String>(())
        })
        .router::<()>();

    let (status, body) = get(app.clone(), "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    let (status, body) = get(app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["failing"], serde_json::json!(["cache", "search"]));
    assert_eq!(body["checks"][0]["status"], "ok");
    assert_eq!(body["checks"][1]["status"], "failed");
    assert_eq!(body["checks"][2]["status"], "timeout");
    assert!(!body.to_string().contains("SENTINEL"), "{body}");
}

#[tokio::test]
async fn readyz_is_200_when_every_check_passes() {
    let app = Health::new()
        .check("database", || async { Ok::<_, String>(()) })
        .router::<()>();
    let (status, body) = get(app, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["failing"], serde_json::json!([]));
}

#[tokio::test]
async fn a_failing_check_logs_one_warning_over_many_probes_and_one_info_on_recovery() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use appenv_config::{AppEnv, Section};
    use appenv_observability::{TelemetryBuilder, TelemetryConfig};

    let capture = support::Capture::default();
    let config = TelemetryConfig::defaults(AppEnv::Production);
    let (dispatch, _guard) = TelemetryBuilder::new(AppEnv::Production, &config)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);

    let up = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&up);
    let app = Health::new()
        .check("database", move || {
            let up = flag.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(())
                } else {
                    Err("connection refused".to_owned())
                }
            }
        })
        .router::<()>();
    let count = |message: &str| {
        capture
            .text()
            .lines()
            .filter(|l| l.contains(message))
            .count()
    };
    for _ in 0..10 {
        assert_eq!(
            get(app.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(count("readiness check failing"), 1, "{}", capture.text());
    let warning = capture.text();
    assert!(warning.contains("\"level\":\"WARN\"") && warning.contains("connection refused"));

    up.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(get(app.clone(), "/readyz").await.0, StatusCode::OK);
    }
    assert_eq!(count("readiness check recovered"), 1, "{}", capture.text());

    up.store(false, Ordering::SeqCst);
    get(app.clone(), "/readyz").await;
    assert_eq!(count("readiness check failing"), 2, "{}", capture.text());
}

#[test]
fn the_default_check_timeout_is_below_the_kubernetes_probe_timeout() {
    assert!(appenv_observability::DEFAULT_CHECK_TIMEOUT < Duration::from_secs(1));
}
