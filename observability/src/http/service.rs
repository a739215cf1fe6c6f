//! The service.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};
use opentelemetry::KeyValue;
use tower_service::Service;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::{Access, ActiveGuard, ResponseFuture};
use super::layer::HttpTelemetryLayer;
use super::request_id::{REQUEST_ID_HEADER, RequestId};
use crate::config::AccessLog;

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

/// The authority behind `server.address` and `server.port`: the
/// `:authority` of an HTTP/2 request (or an absolute-form URI), else the
/// `Host` header, as the client wrote it. A malformed one yields nothing.
/// The port is reported only when the client named one: a default port is
/// not guessed, since behind a TLS-terminating proxy the scheme seen here
/// is not the client's.
fn server_authority<B>(req: &Request<B>) -> Option<http::uri::Authority> {
    match req.uri().authority() {
        Some(authority) => Some(authority.clone()),
        None => req
            .headers()
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|host| host.parse().ok()),
    }
}

/// `network.protocol.version` as the semantic conventions spell it.
fn protocol_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
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

/// The connection's peer: axum's `ConnectInfo`, or a `SocketAddr`
/// extension (as [`Server`](crate::Server) sets both).
fn peer_address<B>(req: &Request<B>) -> Option<std::net::IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    req.extensions()
        .get::<std::net::SocketAddr>()
        .map(std::net::SocketAddr::ip)
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
        let scheme: &'static str = match req.uri().scheme_str() {
            Some("https") => "https",
            _ => "http",
        };
        let name: std::borrow::Cow<'static, str> = match (&route, method) {
            (Some(route), "_OTHER") => format!("HTTP {route}").into(),
            (Some(route), method) => format!("{method} {route}").into(),
            (None, "_OTHER") => "HTTP".into(),
            (None, method) => method.into(),
        };
        let client = peer_address(&req).map(|peer| {
            self.layer
                .client_addr
                .resolve(peer, req.headers())
                .to_string()
        });
        let authority = server_authority(&req);
        // An IPv6 literal without its brackets, as `client.address` is.
        let server_address = authority
            .as_ref()
            .map(|a| a.host().trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty());
        let server_port = authority.as_ref().and_then(|a| a.port_u16());
        let version = protocol_version(req.version());
        let method_original = (method == "_OTHER").then(|| req.method().as_str());
        let agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());

        let path = req.uri().path();
        let probe = self.layer.is_probe(path);
        let span = if probe && !self.layer.trace_probes {
            tracing::Span::none()
        } else {
            let span = tracing::info_span!(
                target: "appenv_observability::http",
                "HTTP request",
                otel.name = &*name,
                otel.kind = "server",
                otel.status_code = Empty,
                http.request.method = method,
                http.request.method_original = method_original,
                url.path = path,
                url.scheme = scheme,
                http.route = route.as_deref(),
                http.response.status_code = Empty,
                client.address = client.as_deref(),
                server.address = server_address,
                server.port = server_port,
                network.protocol.version = version,
                user_agent.original = agent,
                error.type = Empty,
                request_id = request_id.as_str(),
            );
            if let Some(parent) = self.layer.propagation.extract(req.headers()) {
                // Fails only when no OpenTelemetry layer sees the span (SDK
                // disabled), where there is nothing to continue.
                let _ = span.set_parent(parent);
            }
            span
        };
        let access = match self.layer.access_log {
            AccessLog::Off => None,
            AccessLog::On if probe => None,
            _ => Some(Access {
                method,
                path: route.is_none().then(|| path.to_owned()),
                client,
            }),
        };

        let active = ActiveGuard::new(
            self.layer.metrics.clone(),
            [
                KeyValue::new("http.request.method", method),
                KeyValue::new("url.scheme", scheme),
            ],
        );
        req.extensions_mut().insert(request_id.clone());

        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let mut future =
            ResponseFuture::new(future, span, start, request_id, route, active, access);
        future.set_response_traceparent(self.layer.response_traceparent);
        future
    }
}
