//! Building the subscriber ([`TelemetryBuilder`]), installing it ([`init`])
//! and shutting it down ([`TelemetryGuard`]).

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use appenv_config::{AppEnv, Environment};
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Dispatch;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::{
    AccessLog, LogFormat, LogLevel, Signal, TelemetryConfig, directives_are_verbose,
};
use crate::db::{DatabaseIdentity, DbSpans, SQLX_QUERY_TARGET};
use crate::error::Error;
use crate::format::{JsonFields, JsonFormat, PrettyFormat};
use crate::http::{ACCESS_LOG_TARGET, HTTP_SPAN_TARGET, HttpTelemetryLayer, Propagation};
use crate::logs::{EXPORTER_TARGETS, LogBridge};
use crate::otel::{self, Providers};
use crate::redact::{RedactingFields, Redactor};

const INSTRUMENTATION_NAME: &str = "appenv-observability";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Set by the first successful [`init`]; a second call fails fast, before
/// building anything.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Sets up logging and OpenTelemetry for `env` from `config`, installs it as
/// the global `tracing` subscriber and returns the guard that flushes
/// everything when dropped (or on [`TelemetryGuard::shutdown`]).
///
/// Also installs the W3C trace-context propagator and the tracer and meter
/// providers as OpenTelemetry's globals. Console output goes to stdout.
///
/// # Errors
///
/// [`Error::AlreadyInitialized`] when called a second time in the process
/// (or after another crate installed a global subscriber); configuration
/// and exporter errors as [`TelemetryBuilder::build`].
pub fn init(
    env: impl Into<Environment>,
    config: &TelemetryConfig,
) -> Result<TelemetryGuard, Error> {
    TelemetryBuilder::new(env, config).init()
}

/// Builds the telemetry stack, either installed globally ([`init`](Self::init))
/// or as a [`Dispatch`] for a scope ([`build`](Self::build)), which is what
/// tests use to run in parallel with their own writer.
#[must_use]
pub struct TelemetryBuilder<'a> {
    env: AppEnv,
    /// The environment's name: the tier's, or a named environment's
    /// (`preview`), reported as `deployment.environment.name` and in JSON
    /// logs.
    name: String,
    config: &'a TelemetryConfig,
    writer: Option<BoxMakeWriter>,
    database: Option<DatabaseIdentity>,
}

impl fmt::Debug for TelemetryBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("env", &self.env)
            .field("name", &self.name)
            .field("config", &self.config)
            .field("custom_writer", &self.writer.is_some())
            .field("database", &self.database)
            .finish()
    }
}

impl<'a> TelemetryBuilder<'a> {
    /// Starts from `env` (a tier, or a named [`Environment`] such as
    /// `loaded.environment().clone()`, whose name is reported) and `config`.
    pub fn new(env: impl Into<Environment>, config: &'a TelemetryConfig) -> Self {
        let environment = env.into();
        TelemetryBuilder {
            env: environment.tier(),
            name: environment.name().to_owned(),
            config,
            writer: None,
            database: None,
        }
    }

    /// The database the service's sqlx statements go to, reported as
    /// `db.system.name` and `db.namespace` on their spans (for example
    /// `DatabaseIdentity::from_url(&config.database.url)`). Without it,
    /// statements say `other_sql`, with no namespace: sqlx's statement
    /// events do not name their backend.
    pub fn with_database(mut self, database: DatabaseIdentity) -> Self {
        self.database = Some(database);
        self
    }

    /// Sends console output to `writer` instead of stdout (colours off).
    pub fn with_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        self.writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// Builds the subscriber without installing it. Use it with
    /// [`tracing::dispatcher::with_default`] or
    /// [`tracing::dispatcher::set_default`]. Nothing global is touched.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] and [`Error::Filter`] naming the variable at
    /// fault, [`Error::Exporter`] when an OTLP exporter cannot be built,
    /// [`Error::Runtime`] when the export runtime cannot start.
    pub fn build(self) -> Result<(Dispatch, TelemetryGuard), Error> {
        let config = self.config;
        config.validate()?;
        let redactor = Redactor::new(&config.redact_fields);
        let directives = Directives::new(config);

        let ansi = self.writer.is_none()
            && config.log_format == LogFormat::Pretty
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stdout().is_terminal();
        let writer = self
            .writer
            .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));

        let mut layers: Vec<BoxedLayer> = Vec::with_capacity(5);
        let console = console_layer(&self.name, config, &redactor, writer, ansi);
        layers.push(console.with_filter(directives.console()?).boxed());

        let providers = if config.sdk_disabled {
            None
        } else {
            Some(otel::build(&self.name, config)?)
        };
        if let Some(providers) = &providers {
            let tracer = providers.tracer.tracer(INSTRUMENTATION_NAME);
            // The request span always reaches OpenTelemetry, whatever the
            // console level, so propagation never breaks.
            let filter = directives
                .export()?
                .or(MetadataFilter(
                    |meta| meta.is_span() && meta.target() == HTTP_SPAN_TARGET,
                    LevelFilter::INFO,
                ))
                .and(MetadataFilter(
                    // The access line is not a span event: the request
                    // span already carries each of its fields.
                    |meta| {
                        !is_exporter_target(meta.target())
                            && meta.target() != SQLX_QUERY_TARGET
                            && meta.target() != ACCESS_LOG_TARGET
                    },
                    LevelFilter::TRACE,
                ));
            let details = config.span_details;
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_location(details)
                    .with_threads(details)
                    .with_tracked_inactivity(details)
                    .with_filter(filter)
                    .boxed(),
            );
            // sqlx statements as CLIENT spans (whatever the console level),
            // and so neither span events nor log records.
            let db_spans = !config.sdk_disabled
                && (config.endpoint_for(Signal::Traces).is_some()
                    || config.console_for(Signal::Traces));
            if db_spans {
                let full_text = self.env.is_local()
                    && if config.rust_log.trim().is_empty() {
                        config.log_level.is_verbose()
                    } else {
                        directives_are_verbose(&config.rust_log)
                    };
                layers.push(
                    DbSpans::new(
                        providers.tracer.tracer(INSTRUMENTATION_NAME),
                        self.database.clone(),
                        full_text,
                    )
                    // Not `is_event()`: sqlx first asks `enabled!`, whose
                    // metadata is a hint, not an event.
                    .with_filter(MetadataFilter(
                        |meta| meta.target() == SQLX_QUERY_TARGET,
                        LevelFilter::TRACE,
                    ))
                    .boxed(),
                );
            }
            if let Some(logger_provider) = &providers.logger {
                let bridge = LogBridge::new(
                    logger_provider.logger(INSTRUMENTATION_NAME),
                    redactor.clone(),
                );
                let filter = if db_spans {
                    directives.export()?.and(MetadataFilter(
                        |meta| {
                            !is_exporter_target(meta.target()) && meta.target() != SQLX_QUERY_TARGET
                        },
                        LevelFilter::TRACE,
                    ))
                } else {
                    directives.export()?.and(MetadataFilter(
                        |meta| !is_exporter_target(meta.target()),
                        LevelFilter::TRACE,
                    ))
                };
                layers.push(bridge.with_filter(filter).boxed());
            }
        }

        if let Some(providers) = &providers {
            // Last in the list, so dropped after every layer above it.
            layers.push(ReleaseOffThread::new(providers).boxed());
        }
        let dispatch = Dispatch::new(Registry::default().with(layers));
        let guard = TelemetryGuard {
            providers,
            deadline: config.shutdown_timeout(),
            access_log: config.log_access,
            propagation: Propagation::from_config(&config.propagators),
            response_traceparent: config.trace_response_header,
        };
        Ok((dispatch, guard))
    }

    /// Builds the subscriber and installs it globally, with the W3C
    /// propagator and the providers as OpenTelemetry's globals.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyInitialized`] on a second call; otherwise as
    /// [`build`](Self::build).
    pub fn init(self) -> Result<TelemetryGuard, Error> {
        if INSTALLED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialized);
        }
        let env = self.name.clone();
        let service = self.config.service_name.clone();
        let (dispatch, guard) = match self.build() {
            Ok(built) => built,
            Err(err) => {
                INSTALLED.store(false, Ordering::SeqCst);
                return Err(err);
            }
        };
        if tracing::dispatcher::set_global_default(dispatch).is_err() {
            // Another crate installed a subscriber first; keep INSTALLED set,
            // the process cannot be initialised by us any more.
            return Err(Error::AlreadyInitialized);
        }
        opentelemetry::global::set_text_map_propagator(guard.propagation.composite());
        if let Some(providers) = &guard.providers {
            opentelemetry::global::set_tracer_provider(providers.tracer.clone());
            if let Some(meter) = &providers.meter {
                opentelemetry::global::set_meter_provider(meter.clone());
            }
        }
        tracing::info!(
            target: "appenv_observability",
            environment = %env,
            service = %service,
            "telemetry initialised"
        );
        Ok(guard)
    }
}

/// A per-layer filter deciding from static metadata alone, so its verdict
/// is cached per callsite (unlike `filter_fn`, asked at every event), with
/// the most verbose level it can admit (so `tracing`'s global level check
/// still skips filtered-out events entirely).
struct MetadataFilter(fn(&tracing::Metadata<'_>) -> bool, LevelFilter);

impl<S> tracing_subscriber::layer::Filter<S> for MetadataFilter {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        (self.0)(meta)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if (self.0)(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.1)
    }
}

fn is_exporter_target(target: &str) -> bool {
    EXPORTER_TARGETS.iter().any(|crate_name| {
        target
            .strip_prefix(crate_name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

fn console_layer(
    env: &str,
    config: &TelemetryConfig,
    redactor: &Redactor,
    writer: BoxMakeWriter,
    ansi: bool,
) -> BoxedLayer {
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match config.log_format {
        LogFormat::Json => base
            .fmt_fields(JsonFields::new(redactor.clone()))
            .event_format(JsonFormat::new(
                env,
                config.service_name.trim(),
                redactor.clone(),
            ))
            .boxed(),
        LogFormat::Pretty => base
            .fmt_fields(RedactingFields::new(DefaultFields::new(), redactor.clone()))
            .event_format(PrettyFormat {
                redactor: redactor.clone(),
            })
            .boxed(),
        LogFormat::Compact => base
            .fmt_fields(RedactingFields::new(DefaultFields::new(), redactor.clone()))
            .compact()
            .boxed(),
    }
}

/// Dependencies whose debug output drowns a service's own in local
/// (statement logs, connection pools, HTTP/2 frames): capped at `info` on a
/// debug or trace console unless `RUST_LOG` is set.
const QUIET_DEPENDENCIES: &[&str] = &[
    "sqlx",
    "sqlx_core",
    "sqlx_postgres",
    "sqlx_mysql",
    "sqlx_sqlite",
    "refinery",
    "refinery_core",
    "hyper",
    "hyper_util",
    "h2",
    "tower",
    "tower_http",
    "tonic",
    "reqwest",
    "rustls",
    "mio",
    "tokio",
    "tokio_util",
    "want",
    "redis",
];

/// The OpenTelemetry SDK's internal events: `warn` and above only (no
/// "provider is set" INFO lines), unless `RUST_LOG` is set.
const SDK_TARGETS: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    // Internal events use the package name as their target.
    "opentelemetry-sdk",
    "opentelemetry-otlp",
    "opentelemetry-http",
];

/// The filter directives: `RUST_LOG` when set (exactly as written), else
/// `LOG_LEVEL` with the SDK at `warn` and, on a debug or trace console,
/// [`QUIET_DEPENDENCIES`] at `info`, so `debug` applies to the service's
/// own crates and appenv's.
struct Directives {
    text: String,
    variable: &'static str,
}

impl Directives {
    fn new(config: &TelemetryConfig) -> Self {
        if !config.rust_log.trim().is_empty() {
            return Directives {
                text: config.rust_log.trim().to_owned(),
                variable: "RUST_LOG",
            };
        }
        let mut text = config.log_level.as_str().to_owned();
        if config.log_level.is_verbose() {
            for dependency in QUIET_DEPENDENCIES {
                text.push_str(&format!(",{dependency}=info"));
            }
        }
        if !matches!(config.log_level, LogLevel::Error | LogLevel::Off) {
            for sdk in SDK_TARGETS {
                text.push_str(&format!(",{sdk}=warn"));
            }
        }
        Directives {
            text,
            variable: "LOG_LEVEL",
        }
    }

    fn parse(&self, text: &str) -> Result<EnvFilter, Error> {
        EnvFilter::builder()
            .with_regex(false)
            .parse(text)
            .map_err(|source| Error::Filter {
                variable: self.variable,
                value: self.text.clone(),
                source,
            })
    }

    fn console(&self) -> Result<EnvFilter, Error> {
        self.parse(&self.text)
    }

    fn export(&self) -> Result<EnvFilter, Error> {
        self.parse(&self.text)
    }
}

/// Holds the subscriber's own references to the providers and releases
/// them on a thread of their own when the subscriber drops.
///
/// tracing-core can drop a `Dispatch` while it holds its callsite
/// registry's lock: another thread registering a callsite upgrades the
/// subscriber's weak reference, and when the application drops its last
/// `Dispatch` meanwhile, the drop runs there (tokio-rs/tracing#3269). A
/// provider dropped in that drop logs through `tracing` (the SDK's
/// diagnostics), which needs the same lock: the process hangs. Tests that
/// build a subscriber per test on parallel threads hit it under load.
///
/// Layers drop in list order and this one comes last, so when the
/// subscriber goes, it holds the last of its references and nothing is
/// released (or logged) on the dropping thread. The guard keeps its own
/// references, released by shutdown on the shutdown thread.
struct ReleaseOffThread(Option<(SdkTracerProvider, Option<SdkLoggerProvider>)>);

impl ReleaseOffThread {
    fn new(providers: &Providers) -> Self {
        ReleaseOffThread(Some((providers.tracer.clone(), providers.logger.clone())))
    }
}

impl<S: tracing::Subscriber> Layer<S> for ReleaseOffThread {}

impl Drop for ReleaseOffThread {
    fn drop(&mut self) {
        let Some(providers) = self.0.take() else {
            return;
        };
        // When no thread can start, the closure and the providers with it
        // drop here: no better place is left.
        let _ = std::thread::Builder::new()
            .name("appenv-otel-release".into())
            .spawn(move || drop(providers));
    }
}

/// Keeps telemetry running; flushes and shuts down every signal when dropped
/// or on [`shutdown`](Self::shutdown), within the configured deadline
/// (`shutdown_timeout_ms`).
///
/// Shutdown runs on a separate OS thread and the exporters' connections on a
/// runtime of their own, so it neither deadlocks nor loses data on a
/// current-thread tokio runtime, and it never waits longer than the
/// deadline.
#[must_use = "dropping the guard shuts telemetry down at once"]
pub struct TelemetryGuard {
    providers: Option<Providers>,
    deadline: Duration,
    access_log: AccessLog,
    propagation: Propagation,
    response_traceparent: bool,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("otel", &self.providers.is_some())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl TelemetryGuard {
    /// The tracer provider (`None` when the SDK is disabled).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.providers.as_ref().map(|p| &p.tracer)
    }

    /// The meter provider (`None` when metrics are not exported).
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.providers.as_ref().and_then(|p| p.meter.as_ref())
    }

    /// The logger provider (`None` when logs are not exported).
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.providers.as_ref().and_then(|p| p.logger.as_ref())
    }

    /// An [`HttpTelemetryLayer`] recording its metrics through this guard's
    /// meter provider (OpenTelemetry's global one when metrics are not
    /// exported), with the access log as `LOG_ACCESS` says, the propagators
    /// of `OTEL_PROPAGATORS` and the response `traceparent` as
    /// `TRACE_RESPONSE_HEADER` says.
    pub fn http_layer(&self) -> HttpTelemetryLayer {
        let layer = match self.meter_provider() {
            Some(provider) => HttpTelemetryLayer::with_meter_provider(provider),
            None => HttpTelemetryLayer::new(),
        };
        let mut layer = layer
            .with_access_log(self.access_log)
            .with_response_traceparent(self.response_traceparent);
        layer.propagation = self.propagation;
        layer
    }

    /// Writes the OpenTelemetry context of the current `tracing` span into
    /// the headers of an outgoing request with this guard's propagators
    /// (`OTEL_PROPAGATORS`), as [`inject_context`](crate::inject_context)
    /// does with the global ones `init` installs; for a subscriber made with
    /// [`TelemetryBuilder::build`].
    pub fn inject_context(&self, headers: &mut http::HeaderMap) {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        self.propagation
            .inject(&tracing::Span::current().context(), headers);
    }

    /// The shutdown deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Flushes and shuts down traces, metrics and logs, waiting at most the
    /// deadline. Safe to call from async code on any runtime flavour (it
    /// blocks the calling thread for at most the deadline).
    ///
    /// # Errors
    ///
    /// [`Error::ShutdownTimeout`] when the deadline passed first,
    /// [`Error::ShutdownThread`] when the shutdown thread could not start,
    /// [`Error::Shutdown`] when a provider reported a failure (for example
    /// an unreachable collector).
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), Error> {
        let Some(providers) = self.providers.take() else {
            return Ok(());
        };
        let deadline = self.deadline;
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("appenv-otel-shutdown".into())
            .spawn(move || {
                let _ = tx.send(shutdown_providers(providers, deadline));
            });
        if let Err(source) = spawned {
            return Err(Error::ShutdownThread { source });
        }
        match rx.recv_timeout(deadline + Duration::from_millis(100)) {
            Ok(result) => result,
            Err(_) => Err(Error::ShutdownTimeout { deadline }),
        }
    }
}

fn shutdown_providers(providers: Providers, deadline: Duration) -> Result<(), Error> {
    let start = Instant::now();
    let remaining = || deadline.saturating_sub(start.elapsed());
    let mut first_error = None;
    let mut note = |signal: &'static str, result: opentelemetry_sdk::error::OTelSdkResult| {
        if let Err(source) = result
            && !matches!(
                source,
                opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown
            )
            && first_error.is_none()
        {
            first_error = Some(Error::Shutdown { signal, source });
        }
    };
    note(
        "traces",
        providers.tracer.shutdown_with_timeout(remaining()),
    );
    if let Some(meter) = &providers.meter {
        note("metrics", meter.shutdown_with_timeout(remaining()));
    }
    if let Some(logger) = &providers.logger {
        note("logs", logger.shutdown_with_timeout(remaining()));
    }
    let Providers {
        tracer,
        meter,
        logger,
        runtime,
    } = providers;
    drop((tracer, meter, logger));
    if let Some(runtime) = runtime {
        runtime.shutdown_timeout(remaining());
    }
    match first_error {
        Some(err) => Err(err),
        None if start.elapsed() > deadline => Err(Error::ShutdownTimeout { deadline }),
        None => Ok(()),
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown_inner() {
            eprintln!("appenv-observability: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_targets_match_crates_not_prefixes() {
        assert!(is_exporter_target("hyper"));
        assert!(is_exporter_target("hyper::proto::h1"));
        assert!(is_exporter_target("opentelemetry_sdk"));
        assert!(is_exporter_target("opentelemetry-otlp"));
        assert!(!is_exporter_target("hyperion"));
        assert!(!is_exporter_target("my_app"));
    }
}
