//! Tracing and OpenTelemetry per `APP_ENV`: console formats, OTLP export,
//! redaction, an HTTP telemetry layer and health checks.
#![doc = include_str!("docs/overview.md")]

#[cfg(not(any(feature = "grpc", feature = "http-proto")))]
compile_error!(
    "appenv-observability needs an OTLP exporter: enable its `grpc` or `http-proto` feature (both are on by default)"
);

mod choice;
mod config;
mod db;
mod error;
mod format;
mod health;
mod http;
mod init;
mod logs;
#[cfg(feature = "migrate")]
mod migration_metrics;
mod otel;
#[cfg(feature = "rate-limit")]
mod rate_limit;
mod redact;
mod serve;

pub use choice::Choice;
pub use config::{
    AccessLog, ExporterKind, LogFormat, LogLevel, OtlpCompression, OtlpProtocol, Problem,
    Propagator, SamplerKind, Signal, TelemetryConfig,
};
pub use db::DatabaseIdentity;
pub use error::Error;
#[cfg(feature = "migrate")]
pub use health::MIGRATIONS_STATUS_TTL;
pub use health::{CheckResult, CheckStatus, DEFAULT_CHECK_TIMEOUT, Health, PROBE_PATHS, Readiness};
pub use http::{
    ACCESS_LOG_TARGET, HTTP_SPAN_TARGET, HttpTelemetry, HttpTelemetryLayer, REQUEST_ID_HEADER,
    RequestId, ResponseFuture, inject_context,
};
pub use init::{TelemetryBuilder, TelemetryGuard, init};
#[cfg(feature = "migrate")]
pub use migration_metrics::{MigrationMetrics, migration_metrics};
#[cfg(feature = "rate-limit")]
pub use rate_limit::{RateLimitMetrics, rate_limit_metrics};
pub use serve::{EXIT_BUDGET, LifecycleConfig, Server, serve};
