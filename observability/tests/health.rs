//! `/healthz` and `/readyz` through the axum router.

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

#[test]
fn the_default_check_timeout_is_below_the_kubernetes_probe_timeout() {
    assert!(appenv_observability::DEFAULT_CHECK_TIMEOUT < Duration::from_secs(1));
}
