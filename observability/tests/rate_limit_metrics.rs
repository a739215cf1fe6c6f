//! appenv-rate-limit decisions exported as metrics to the in-process
//! collector.

mod support;

use appenv_config::{AppEnv, Section};
use appenv_observability::{TelemetryBuilder, TelemetryConfig, rate_limit_metrics};
use appenv_rate_limit::{KeyKind, RateLimitConfig, RateLimitLayer};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use support::{Collector, attr, wait_for};
use tower::ServiceExt;

#[tokio::test]
async fn allowed_and_limited_decisions_reach_the_collector() {
    let collector = Collector::start();
    let mut telemetry = TelemetryConfig::defaults(AppEnv::Staging);
    telemetry.otlp_endpoint = collector.grpc_endpoint();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &telemetry)
        .with_writer(support::Capture::default())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);

    let mut limits = RateLimitConfig::defaults(AppEnv::Staging);
    limits.enabled = true;
    limits.max = 2;
    limits.burst = 2;
    limits.window_ms = 60_000;
    limits.key = KeyKind::Global;
    let layer = RateLimitLayer::new(&limits).unwrap();
    let metrics = rate_limit_metrics(&layer, "api", guard.meter_provider().unwrap());
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = app
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        1
    );

    drop(_scope);
    guard.shutdown().unwrap();
    drop(metrics);
    wait_for("metrics", || {
        collector
            .metrics()
            .iter()
            .any(|m| m.name == "appenv.rate_limit.decisions")
    });
    let all = collector.metrics();
    let decisions = all
        .iter()
        .find(|m| m.name == "appenv.rate_limit.decisions")
        .unwrap();
    let Some(Data::Sum(sum)) = &decisions.data else {
        panic!("not a sum: {decisions:?}")
    };
    let value = |decision: &str| {
        sum.data_points
            .iter()
            .find(|p| attr(&p.attributes, "decision").as_deref() == Some(decision))
            .map(|p| match p.value {
                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                    i,
                )) => i,
                ref other => panic!("{other:?}"),
            })
    };
    assert_eq!(value("allowed"), Some(2));
    assert_eq!(value("limited"), Some(1));
    assert_eq!(value("allow_listed"), Some(0));
    // Memory backend: no outage, but the instrument is there.
    assert!(
        all.iter()
            .any(|m| m.name == "appenv.rate_limit.backend_outages"),
        "{:?}",
        all.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    assert!(
        sum.data_points
            .iter()
            .all(|p| attr(&p.attributes, "rate_limit.policy").as_deref() == Some("api"))
    );
}
