//! [`HttpTelemetryLayer`]: request ids, W3C trace-context extraction, a
//! semantic-convention server span and the HTTP server metrics, for any
//! tower HTTP service.

mod future;
mod layer;
mod propagation;
mod request_id;
mod service;

pub use future::ResponseFuture;
pub use layer::HttpTelemetryLayer;
pub(crate) use propagation::Propagation;
pub use propagation::inject_context;
pub use request_id::{REQUEST_ID_HEADER, RequestId};
pub use service::HttpTelemetry;

/// The `tracing` target of the request span. The OpenTelemetry layer always
/// admits spans with this target, whatever the console level.
pub const HTTP_SPAN_TARGET: &str = "appenv_observability::http";

/// The `tracing` target of the access log lines (one INFO event per
/// request).
pub const ACCESS_LOG_TARGET: &str = "appenv_observability::access";

/// Bucket boundaries advised by the semantic conventions for
/// `http.server.request.duration`, in seconds.
pub(crate) const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
