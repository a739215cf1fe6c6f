//! Readiness logging: one WARN when a check turns failing, one INFO when it
//! recovers, nothing above debug in between. Its own test binary, so no
//! other test can race the callsites' interest (events are captured through
//! a scoped dispatcher).

mod support;

use appenv_observability::Health;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

async fn get(app: axum::Router, path: &str) -> (StatusCode, ()) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    (response.status(), ())
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
