//! `OTEL_PROPAGATORS`: `tracecontext` continues the caller's trace,
//! `baggage` reaches the handler's context, `none` starts a new trace; the
//! context injected into outgoing requests and (`TRACE_RESPONSE_HEADER`)
//! into responses, as the collector sees the spans.

mod support;

use std::convert::Infallible;

use appenv_config::{AppEnv, Loader};
use appenv_observability::{TelemetryBuilder, TelemetryConfig};
use http::{Request, Response};
use opentelemetry::baggage::BaggageExt;
use serde_json::Value;
use support::{Capture, Collector};
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

const PARENT_ID: &str = "00f067aa0ba902b7";

/// A service whose handler calls another service: the `traceparent` and
/// `baggage` it would send, and its response, exported to a collector.
async fn call_through(
    vars: &[(&'static str, &str)],
    collector: &Collector,
) -> (http::HeaderMap, http::HeaderMap) {
    let endpoint = collector.grpc_endpoint();
    let mut all = vec![
        ("APP_ENV", "staging"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
    ];
    all.extend_from_slice(vars);
    let config = Loader::hermetic(all)
        .load::<TelemetryConfig>()
        .unwrap()
        .into_config();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &config)
        .with_writer(Capture::default())
        .build()
        .unwrap();
    let guard = std::sync::Arc::new(guard);
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let outgoing = std::sync::Arc::new(std::sync::Mutex::new(http::HeaderMap::new()));
    let svc = guard.http_layer().layer(service_fn({
        let guard = guard.clone();
        let outgoing = outgoing.clone();
        move |_req: Request<String>| {
            let guard = guard.clone();
            let outgoing = outgoing.clone();
            async move {
                let mut request = Request::get("http://inventory.internal/v1/stock")
                    .body(())
                    .unwrap();
                guard.inject_context(request.headers_mut());
                *outgoing.lock().unwrap() = request.headers().clone();
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        }
    }));
    let request = Request::get("/")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .header("baggage", "tenant=acme")
        .body(String::new())
        .unwrap();
    let response = svc.oneshot(request).await.unwrap();
    drop(_scope);
    std::sync::Arc::into_inner(guard)
        .expect("the service is gone")
        .shutdown()
        .unwrap();
    let sent = outgoing.lock().unwrap().clone();
    (sent, response.headers().clone())
}

fn server_span_id(collector: &Collector) -> String {
    let spans = collector.spans();
    let span = spans
        .iter()
        .find(|s| s.kind == 2)
        .unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(support::hex(&span.trace_id), TRACE_ID);
    support::hex(&span.span_id)
}

#[tokio::test]
async fn outgoing_requests_continue_the_trace_from_the_server_span_with_baggage() {
    let collector = Collector::start();
    let (sent, response) = call_through(&[], &collector).await;
    let span_id = server_span_id(&collector);
    assert_eq!(
        sent["traceparent"],
        format!("00-{TRACE_ID}-{span_id}-01").as_str(),
        "the callee becomes a child of this request's span"
    );
    assert_eq!(sent["baggage"], "tenant=acme");
    assert!(
        !response.contains_key("traceparent"),
        "no traceparent in responses by default: {response:?}"
    );
}

#[tokio::test]
async fn outgoing_injection_follows_otel_propagators() {
    let collector = Collector::start();
    let (sent, _) = call_through(&[("OTEL_PROPAGATORS", "tracecontext")], &collector).await;
    assert!(sent.contains_key("traceparent"), "{sent:?}");
    assert!(!sent.contains_key("baggage"), "{sent:?}");
}

#[tokio::test]
async fn trace_response_header_answers_with_the_server_spans_traceparent() {
    let collector = Collector::start();
    let (_, response) = call_through(&[("TRACE_RESPONSE_HEADER", "true")], &collector).await;
    let span_id = server_span_id(&collector);
    assert_eq!(
        response["traceparent"],
        format!("00-{TRACE_ID}-{span_id}-01").as_str(),
        "{response:?}"
    );
}
