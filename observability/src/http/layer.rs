//! The layer.

use std::sync::Arc;

use appenv_config::ClientAddrResolver;
use opentelemetry::metrics::{Histogram, MeterProvider, UpDownCounter};
use tower_layer::Layer;

use super::DURATION_BUCKETS;
use super::propagation::Propagation;
use super::service::HttpTelemetry;
use crate::config::{AccessLog, Propagator};
use crate::health::PROBE_PATHS;

/// A tower layer that traces and measures HTTP requests, for any
/// `Service<http::Request<B>, Response = http::Response<B2>>` (axum, hyper,
/// tonic).
///
/// For each request it:
/// - takes `x-request-id` when well-formed or generates one, records it on
///   the span as `request_id`, makes it available as a
///   [`RequestId`](super::RequestId) extension and echoes it in the response;
/// - continues the trace of an incoming W3C `traceparent`/`tracestate` and
///   carries its W3C `baggage` (as `OTEL_PROPAGATORS` says);
/// - opens a server span named `{method} {route}` (the route from axum's
///   `MatchedPath` when the `axum` feature is on and the layer is added with
///   `Router::layer`; the method alone otherwise) with `http.request.method`,
///   `http.request.method_original` (for a method outside the standard
///   set, when `http.request.method` is `_OTHER`), `url.path`, `url.scheme`,
///   `http.route`, `http.response.status_code`, `server.address` and
///   `server.port` (from the HTTP/2 `:authority` or the `Host` header; the
///   port only when written), `network.protocol.version` (`1.1`, `2`),
///   `client.address` (the peer from axum's `ConnectInfo` or a `SocketAddr`
///   extension, resolved through trusted proxies by
///   [`with_client_addr`](Self::with_client_addr)), `user_agent.original`
///   and `error.type` on 5xx; the span
///   status is Error only on 5xx (and on service errors);
/// - records `http.server.request.duration` (seconds, advised buckets) and
///   `http.server.active_requests`;
/// - writes one INFO access line per request (target
///   [`ACCESS_LOG_TARGET`](super::ACCESS_LOG_TARGET)) with
///   `http.request.method`, `http.route` (or `url.path` when no route
///   matched), `http.response.status_code`, `duration_ms`, `request_id` and
///   `client.address`; the console formats add the trace id;
/// - optionally answers with the server span's `traceparent`
///   ([`with_response_traceparent`](Self::with_response_traceparent)).
///
/// Health probes ([`PROBE_PATHS`](crate::PROBE_PATHS) unless
/// [`with_probe_paths`](Self::with_probe_paths) says otherwise) get neither
/// a span nor an access line by default ([`with_access_log`](Self::with_access_log)`(AccessLog::All)`,
/// [`with_probe_tracing`](Self::with_probe_tracing)); their request id and
/// metrics stay.
///
/// The query string and headers other than `user-agent` are never
/// recorded. The span's target is [`HTTP_SPAN_TARGET`](super::HTTP_SPAN_TARGET),
/// which the OpenTelemetry layer always admits, so the console level never
/// breaks propagation.
///
/// Create it after [`init`](crate::init) (its metrics use OpenTelemetry's
/// global meter provider at creation), or from the guard with
/// [`TelemetryGuard::http_layer`](crate::TelemetryGuard::http_layer).
#[derive(Debug, Clone)]
pub struct HttpTelemetryLayer {
    pub(crate) metrics: Arc<HttpMetrics>,
    pub(crate) access_log: AccessLog,
    pub(crate) probes: Arc<[String]>,
    pub(crate) trace_probes: bool,
    pub(crate) propagation: Propagation,
    pub(crate) client_addr: ClientAddrResolver,
    pub(crate) response_traceparent: bool,
}

#[derive(Debug)]
pub(crate) struct HttpMetrics {
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
}

impl HttpTelemetryLayer {
    /// A layer whose metrics go to OpenTelemetry's global meter provider.
    pub fn new() -> Self {
        Self::from_meter(opentelemetry::global::meter("appenv-observability"))
    }

    /// A layer whose metrics go to `provider`.
    pub fn with_meter_provider<P: MeterProvider + ?Sized>(provider: &P) -> Self {
        Self::from_meter(provider.meter("appenv-observability"))
    }

    fn from_meter(meter: opentelemetry::metrics::Meter) -> Self {
        let duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let active = meter
            .i64_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .build();
        HttpTelemetryLayer {
            metrics: Arc::new(HttpMetrics { duration, active }),
            access_log: AccessLog::On,
            probes: PROBE_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            trace_probes: false,
            propagation: Propagation::default(),
            client_addr: ClientAddrResolver::direct(),
            response_traceparent: false,
        }
    }

    /// How `client.address` is found: the connection's peer unless it is a
    /// trusted proxy, then the configured header, walked as
    /// [`ClientAddrResolver`] documents (the same resolver the rate limiter
    /// uses; build it with
    /// [`ServerConfig::client_addr`](appenv_config::ServerConfig::client_addr)).
    /// Default: the peer address, no header read.
    #[must_use]
    pub fn with_client_addr(mut self, resolver: ClientAddrResolver) -> Self {
        self.client_addr = resolver;
        self
    }

    /// The propagators that read the remote context of a request (default
    /// W3C `tracecontext` and `baggage`, as `OTEL_PROPAGATORS`; an empty
    /// list or [`Propagator::None`] starts a new trace for every request).
    #[must_use]
    pub fn with_propagators(mut self, propagators: &[Propagator]) -> Self {
        self.propagation = Propagation::from_list(propagators);
        self
    }

    /// Whether responses carry the server span's W3C `traceparent`
    /// (`TRACE_RESPONSE_HEADER`; off by default, since it tells every caller
    /// the trace id and the sampling decision). Requests without a span
    /// (health probes, a disabled SDK) get none; a `traceparent` the
    /// service set itself is kept.
    #[must_use]
    pub fn with_response_traceparent(mut self, enabled: bool) -> Self {
        self.response_traceparent = enabled;
        self
    }

    /// Which requests get an access line (`LOG_ACCESS`; on by default).
    #[must_use]
    pub fn with_access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = access_log;
        self
    }

    /// The request paths that are health probes (default
    /// [`PROBE_PATHS`](crate::PROBE_PATHS)), matched exactly.
    #[must_use]
    pub fn with_probe_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.probes = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Whether health probes get a span (off by default: a probe every few
    /// seconds per replica would outnumber the real traffic in traces).
    #[must_use]
    pub fn with_probe_tracing(mut self, trace: bool) -> Self {
        self.trace_probes = trace;
        self
    }

    pub(crate) fn is_probe(&self, path: &str) -> bool {
        self.probes.iter().any(|p| p == path)
    }
}

impl Default for HttpTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for HttpTelemetryLayer {
    type Service = HttpTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTelemetry::new(inner, self.clone())
    }
}
