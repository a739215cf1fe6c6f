//! The response future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::Response;
use opentelemetry::KeyValue;
use pin_project_lite::pin_project;
use tracing::Span;

use super::ACCESS_LOG_TARGET;
use super::layer::HttpMetrics;
use super::request_id::{REQUEST_ID_HEADER, RequestId};

/// What the access line needs beyond the span's own data.
#[derive(Debug)]
pub(crate) struct Access {
    pub(crate) method: &'static str,
    /// The path, only when no route matched (a route names the request
    /// without unbounded cardinality; the path is the fallback).
    pub(crate) path: Option<String>,
    pub(crate) client: Option<String>,
}

/// Writes the access line: INFO, one per request.
fn access_line(
    access: &Access,
    route: Option<&str>,
    status: Option<u16>,
    error: Option<&str>,
    elapsed_s: f64,
    request_id: &RequestId,
) {
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        // Microsecond resolution, without float noise in the text.
        duration_ms = (elapsed_s * 1_000_000.0).round() / 1000.0,
        http.request.method = access.method,
        http.route = route,
        url.path = access.path.as_deref(),
        http.response.status_code = status,
        error.type = error,
        request_id = request_id.as_str(),
        client.address = access.client.as_deref(),
        "request completed"
    );
}

/// Counts the request as active until dropped (completed or cancelled).
#[derive(Debug)]
pub(crate) struct ActiveGuard {
    metrics: Arc<HttpMetrics>,
    /// `http.request.method` and `url.scheme` (static strings: no allocation).
    attributes: [KeyValue; 2],
}

impl ActiveGuard {
    pub(crate) fn new(metrics: Arc<HttpMetrics>, attributes: [KeyValue; 2]) -> Self {
        metrics.active.add(1, &attributes);
        ActiveGuard {
            metrics,
            attributes,
        }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.metrics.active.add(-1, &self.attributes);
    }
}

pin_project! {
    /// The future of [`HttpTelemetry`](super::HttpTelemetry): polls the
    /// inner future inside the request span, then records the status, the
    /// duration and the request id header.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        start: Instant,
        request_id: RequestId,
        route: Option<String>,
        active: Option<ActiveGuard>,
        access: Option<Access>,
        traceparent: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        span: Span,
        start: Instant,
        request_id: RequestId,
        route: Option<String>,
        active: ActiveGuard,
        access: Option<Access>,
    ) -> Self {
        ResponseFuture {
            inner,
            span,
            start,
            request_id,
            route,
            active: Some(active),
            access,
            traceparent: false,
        }
    }

    pub(crate) fn set_response_traceparent(&mut self, enabled: bool) {
        self.traceparent = enabled;
    }
}

/// The span's `traceparent` (and `tracestate`), unless the response has one.
fn insert_traceparent(span: &Span, headers: &mut http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if span.is_none() || headers.contains_key("traceparent") {
        return;
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    let mut fields = std::collections::HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new().inject_context(&cx, &mut fields);
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = std::task::ready!(this.inner.poll(cx));
        let elapsed = this.start.elapsed().as_secs_f64();
        let active = this.active.take();
        if let Some(access) = this.access.take() {
            let (status, error) = match &result {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(_) => (None, Some(std::any::type_name::<E>())),
            };
            access_line(
                &access,
                this.route.as_deref(),
                status,
                error,
                elapsed,
                this.request_id,
            );
        }
        let mut attributes = Vec::with_capacity(5);
        if let Some(active) = &active {
            attributes.extend_from_slice(&active.attributes);
        }
        if let Some(route) = this.route.take() {
            attributes.push(KeyValue::new("http.route", route));
        }
        let result = match result {
            Ok(mut response) => {
                let status = response.status();
                this.span
                    .record("http.response.status_code", i64::from(status.as_u16()));
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
                if status.is_server_error() {
                    this.span.record("error.type", status.as_str());
                    this.span.record("otel.status_code", "ERROR");
                    attributes.push(KeyValue::new("error.type", status.as_str().to_owned()));
                    tracing::error!(
                        target: "appenv_observability::http",
                        status = status.as_u16(),
                        duration_s = elapsed,
                        "request failed"
                    );
                }
                response
                    .headers_mut()
                    .entry(REQUEST_ID_HEADER)
                    .or_insert_with(|| this.request_id.header_value().clone());
                if *this.traceparent {
                    insert_traceparent(this.span, response.headers_mut());
                }
                Ok(response)
            }
            Err(err) => {
                let kind = std::any::type_name::<E>();
                this.span.record("error.type", kind);
                this.span.record("otel.status_code", "ERROR");
                attributes.push(KeyValue::new("error.type", kind));
                tracing::error!(
                    target: "appenv_observability::http",
                    error_type = kind,
                    duration_s = elapsed,
                    "request failed in the service"
                );
                Err(err)
            }
        };
        if let Some(active) = active {
            active.metrics.duration.record(elapsed, &attributes);
        }
        Poll::Ready(result)
    }
}
