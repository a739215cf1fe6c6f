//! The crate's one error type.

use std::time::Duration;

/// Everything that can go wrong while setting up or shutting down telemetry.
///
/// Configuration errors name the configuration key and the environment
/// variable that sets it. No variant carries a credential: endpoints are
/// shown with their password redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is not acceptable.
    #[error("invalid {variable} (telemetry.{key}) = \"{value}\": {expected}")]
    InvalidConfig {
        /// The key relative to the telemetry section (`otlp_endpoint`).
        key: &'static str,
        /// The environment variable that sets it (`OTEL_EXPORTER_OTLP_ENDPOINT`).
        variable: &'static str,
        /// The offending value (URLs with their password redacted).
        value: String,
        /// What was expected.
        expected: String,
    },

    /// The log filter directives (`RUST_LOG` or `LOG_LEVEL`) do not parse.
    #[error("invalid log filter directives in {variable} (\"{value}\"): {source}")]
    Filter {
        /// `RUST_LOG` or `LOG_LEVEL`.
        variable: &'static str,
        /// The directives.
        value: String,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },

    /// [`init`](crate::init) was called when a global subscriber (from this
    /// crate or another) is already installed.
    #[error(
        "telemetry is already initialised: a global tracing subscriber is installed; call init once per process (tests can use TelemetryBuilder::build and a scoped dispatcher)"
    )]
    AlreadyInitialized,

    /// An OTLP exporter could not be built.
    #[error("cannot build the OTLP {signal} exporter: {source}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The exporter's error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },

    /// The HTTP client of the HTTP/protobuf exporters could not be built.
    #[error("cannot build the OTLP HTTP client: {source}")]
    HttpClient {
        /// The TLS or client error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The background runtime that drives the gRPC exporters could not start.
    #[error("cannot start the telemetry export runtime: {source}")]
    Runtime {
        /// The I/O error from spawning the runtime.
        #[source]
        source: std::io::Error,
    },

    /// Shutdown did not finish within its deadline; telemetry not yet
    /// exported may be lost.
    #[error(
        "telemetry shutdown did not finish within {deadline:?}; unexported telemetry may be lost"
    )]
    ShutdownTimeout {
        /// The deadline that passed.
        deadline: Duration,
    },

    /// The thread that runs the telemetry shutdown could not be started, so
    /// nothing was flushed.
    #[error("cannot start the telemetry shutdown thread: {source}")]
    ShutdownThread {
        /// The I/O error from spawning the thread.
        #[source]
        source: std::io::Error,
    },

    /// The SIGTERM/SIGINT handlers of [`Server`](crate::Server) could not be
    /// installed.
    #[error("cannot install the SIGTERM/SIGINT handlers: {source}")]
    Signal {
        /// The I/O error from the signal driver.
        #[source]
        source: std::io::Error,
    },

    /// A provider reported an error while flushing or shutting down.
    #[error("telemetry shutdown of {signal} failed: {source}")]
    Shutdown {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The SDK's error.
        #[source]
        source: opentelemetry_sdk::error::OTelSdkError,
    },
}

impl Error {
    pub(crate) fn signal(source: std::io::Error) -> Self {
        Error::Signal { source }
    }
}

/// 78 (`EX_CONFIG`) for a configuration `init` cannot use, 1 for everything
/// else (a second `init`, an exporter or runtime that failed to start, a
/// shutdown that missed its deadline).
impl appenv_config::ExitCoded for Error {
    fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidConfig { .. } | Error::Filter { .. } => appenv_config::EXIT_CONFIG,
            _ => 1,
        }
    }
}
