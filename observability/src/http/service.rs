//! The service.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Method, Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower_service::Service;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::{ActiveGuard, ResponseFuture};
use super::layer::HttpTelemetryLayer;
use super::request_id::{REQUEST_ID_HEADER, RequestId};

/// The service made by [`HttpTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct HttpTelemetry<S> {
    inner: S,
    layer: HttpTelemetryLayer,
}

impl<S> HttpTelemetry<S> {
    pub(crate) fn new(inner: S, layer: HttpTelemetryLayer) -> Self {
        HttpTelemetry { inner, layer }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The method as the semantic conventions want it: known methods as is,
/// anything else `_OTHER`.
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

fn route<B>(req: &Request<B>) -> Option<String> {
    #[cfg(feature = "axum")]
    if let Some(path) = req.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str().to_owned());
    }
    let _ = req;
    None
}

fn client_address<B>(req: &Request<B>) -> Option<String> {
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(info.0.ip().to_string());
    }
    req.extensions()
        .get::<std::net::SocketAddr>()
        .map(|addr| addr.ip().to_string())
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpTelemetry<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let request_id = RequestId::accept_or_generate(req.headers().get(REQUEST_ID_HEADER));
        req.headers_mut()
            .insert(REQUEST_ID_HEADER, request_id.header_value().clone());

        let method = method_name(req.method());
        let route = route(&req);
        let scheme = req.uri().scheme_str().unwrap_or("http").to_owned();
        let name = match (&route, method) {
            (Some(route), "_OTHER") => format!("HTTP {route}"),
            (Some(route), method) => format!("{method} {route}"),
            (None, "_OTHER") => "HTTP".to_owned(),
            (None, method) => method.to_owned(),
        };

        let span = tracing::info_span!(
            target: "appenv_observability::http",
            "HTTP request",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method,
            url.path = req.uri().path(),
            url.scheme = %scheme,
            http.route = Empty,
            http.response.status_code = Empty,
            client.address = Empty,
            user_agent.original = Empty,
            error.type = Empty,
            request_id = request_id.as_str(),
        );
        if let Some(route) = &route {
            span.record("http.route", route.as_str());
        }
        if let Some(addr) = client_address(&req) {
            span.record("client.address", addr.as_str());
        }
        if let Some(agent) = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            span.record("user_agent.original", agent);
        }
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
        if opentelemetry::trace::TraceContextExt::has_active_span(&parent) {
            // Fails only when no OpenTelemetry layer sees the span (SDK
            // disabled), where there is nothing to continue.
            let _ = span.set_parent(parent);
        }

        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.scheme", scheme),
        ];
        let active = ActiveGuard::new(self.layer.metrics.clone(), attributes.clone());
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route));
        }
        req.extensions_mut().insert(request_id.clone());

        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(future, span, start, request_id, attributes, active)
    }
}
