//! `OTEL_PROPAGATORS`: `tracecontext` continues the caller's trace,
//! `baggage` reaches the handler's context, `none` starts a new trace.

mod support;

use std::convert::Infallible;

use appenv_config::{AppEnv, Loader};
use appenv_observability::{TelemetryBuilder, TelemetryConfig};
use http::{Request, Response};
use opentelemetry::baggage::BaggageExt;
use serde_json::Value;
use support::Capture;
use tower::{Layer, ServiceExt, service_fn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn handler(_req: Request<String>) -> Result<Response<String>, Infallible> {
    let cx = tracing::Span::current().context();
    let tenant = cx
        .baggage()
        .get("tenant")
        .map(|v| v.to_string())
        .unwrap_or_default();
    tracing::info!(tenant = %tenant, "in the handler");
    Ok(Response::new(String::new()))
}

async fn handler_line(propagators: &str) -> Value {
    let config = Loader::hermetic([("APP_ENV", "staging"), ("OTEL_PROPAGATORS", propagators)])
        .load::<TelemetryConfig>()
        .unwrap()
        .into_config();
    let capture = Capture::default();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &config)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let svc = guard.http_layer().layer(service_fn(handler));
    let request = Request::get("/")
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .header("baggage", "tenant=acme")
        .body(String::new())
        .unwrap();
    svc.oneshot(request).await.unwrap();
    drop(_scope);
    guard.shutdown().unwrap();
    capture
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "in the handler")
        .expect("handler line")
}

#[tokio::test]
async fn tracecontext_and_baggage_by_default() {
    let line = handler_line("tracecontext,baggage").await;
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["fields"]["tenant"], "acme", "{line}");
}

#[tokio::test]
async fn tracecontext_alone_ignores_baggage() {
    let line = handler_line("tracecontext").await;
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["fields"]["tenant"], "", "{line}");
}

#[tokio::test]
async fn none_starts_a_new_trace() {
    let line = handler_line("none").await;
    assert_ne!(line["trace_id"], TRACE_ID, "{line}");
    assert!(
        line["trace_id"].as_str().is_some_and(|t| t.len() == 32),
        "{line}"
    );
    assert_eq!(line["fields"]["tenant"], "", "{line}");
}
