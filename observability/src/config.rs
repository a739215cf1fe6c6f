//! [`TelemetryConfig`]: the telemetry section of a service's configuration,
//! with per-environment defaults, the standard variable names and the
//! production policy rules.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use appenv_config::{Check, redact_url};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracing_subscriber::filter::EnvFilter;

use crate::choice::{Choice, Named, unsupported};
use crate::error::Error;

/// The telemetry section: log level and format, filter directives, service
/// identity, OTLP export and sampling.
///
/// | key | variable | local | staging | production |
/// |---|---|---|---|---|
/// | `log_level` | `LOG_LEVEL` | debug | debug | info |
/// | `log_format` | `LOG_FORMAT` (`pretty`, `compact`, `json`) | pretty | json | json |
/// | `rust_log` | `RUST_LOG` (overrides `log_level`) | unset | unset | unset |
/// | `service_name` | `OTEL_SERVICE_NAME`, `SERVICE_NAME` | `unknown_service` | | |
/// | `service_version` | `SERVICE_VERSION` | unset | | |
/// | `otlp_endpoint` | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset (no export) | | |
/// | `otlp_traces_endpoint` … | `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` | unset | | |
/// | `otlp_protocol` | `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`; each needs its feature, `grpc` or `http-proto`) | grpc (http/protobuf in a build without `grpc`) | same | same |
/// | `traces_exporter`, `metrics_exporter`, `logs_exporter` | `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` (`otlp`, `console`, `none`) | otlp | otlp | otlp |
/// | `otlp_compression` | `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`, `none`) | none | none | none |
/// | `otlp_timeout_ms` | `OTEL_EXPORTER_OTLP_TIMEOUT` | 10000 | 10000 | 10000 |
/// | `traces_sampler` | `OTEL_TRACES_SAMPLER` | parentbased_always_on | parentbased_always_on | parentbased_traceidratio |
/// | `traces_sampler_arg` | `OTEL_TRACES_SAMPLER_ARG` | 1.0 | 1.0 | 0.1 |
/// | `sdk_disabled` | `OTEL_SDK_DISABLED` | false | false | false |
/// | `metric_export_interval_ms` | `OTEL_METRIC_EXPORT_INTERVAL` | 60000 | 60000 | 60000 |
/// | `shutdown_timeout_ms` | `OTEL_SHUTDOWN_TIMEOUT` | 5000 | 5000 | 5000 |
/// | `redact_fields` | `LOG_REDACT_FIELDS` (comma list) | empty | empty | empty |
/// | `propagators` | `OTEL_PROPAGATORS` (`tracecontext`, `baggage`, `none`) | tracecontext,baggage | tracecontext,baggage | tracecontext,baggage |
/// | `log_access` | `LOG_ACCESS` (`on`, `off`, `all` = with health probes) | on | on | on |
/// | `span_details` | `TRACE_SPAN_DETAILS` | false | false | false |
/// | `trace_response_header` | `TRACE_RESPONSE_HEADER` | false | false | false |
///
/// Empty strings mean "unset". The generic `otlp_endpoint` is a base URL: for
/// `http/protobuf` the signal path (`/v1/traces`, …) is appended, as the
/// OpenTelemetry specification says; the per-signal endpoints are used as
/// they are. `otlp_compression` applies to every signal and both protocols
/// (gRPC's `grpc-encoding`, HTTP's `Content-Encoding`); `zstd` is refused by
/// name (this build carries no zstd codec). OTLP headers and certificates,
/// and the per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_COMPRESSION`
/// when `otlp_compression` is `none`, are read by the exporter itself from
/// the standard variables of the process.
///
/// Policy rules (waivable by id with `policy.allow`):
/// `telemetry.debug-level`, `telemetry.pretty-format` and
/// `telemetry.console-exporter` (production violations), `telemetry.otlp-missing` (production warning) and
/// `telemetry.otlp-plaintext` (an `http://` endpoint to a host other than
/// loopback, in production).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, appenv_config::Section)]
#[serde(deny_unknown_fields)]
#[config(rule(id = "telemetry.invalid", check = invalid))]
#[config(rule(id = "telemetry.debug-level", check = debug_level))]
#[config(rule(id = "telemetry.pretty-format", check = pretty_format))]
#[config(rule(id = "telemetry.otlp-missing", check = otlp_missing))]
#[config(rule(id = "telemetry.console-exporter", check = console_exporter))]
#[config(rule(id = "telemetry.otlp-plaintext", check = otlp_plaintext))]
pub struct TelemetryConfig {
    /// The level below which events are dropped (unless `rust_log` is set).
    #[config(alias = "LOG_LEVEL", default = LogLevel::Debug, production = LogLevel::Info)]
    pub log_level: LogLevel,
    /// The console format.
    #[config(alias = "LOG_FORMAT", default = LogFormat::Json, local = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// `tracing` filter directives (`RUST_LOG` syntax); when set they replace
    /// `log_level` for the console and the log export.
    #[config(alias = "RUST_LOG")]
    pub rust_log: String,
    /// `service.name`.
    #[config(
        alias = "SERVICE_NAME",
        alias = "OTEL_SERVICE_NAME",
        default = "unknown_service"
    )]
    pub service_name: String,
    /// `service.version` (empty: not reported).
    #[config(alias = "SERVICE_VERSION")]
    pub service_version: String,
    /// Base OTLP endpoint for all signals (empty: no export unless a
    /// per-signal endpoint is set).
    #[config(alias = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: String,
    /// OTLP endpoint for traces, used as is.
    #[config(alias = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: String,
    /// OTLP endpoint for metrics, used as is.
    #[config(alias = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")]
    pub otlp_metrics_endpoint: String,
    /// OTLP endpoint for logs, used as is.
    #[config(alias = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")]
    pub otlp_logs_endpoint: String,
    /// OTLP transport.
    #[config(alias = "OTEL_EXPORTER_OTLP_PROTOCOL", default = OtlpProtocol::default_for_build().into())]
    pub otlp_protocol: Choice<OtlpProtocol>,
    /// `otlp` (when an endpoint is set), `console` (stdout, for local
    /// debugging) or `none`: where traces are exported.
    #[config(alias = "OTEL_TRACES_EXPORTER", default = ExporterKind::Otlp.into())]
    pub traces_exporter: Choice<ExporterKind>,
    /// `otlp`, `console` or `none`: where metrics are exported.
    #[config(alias = "OTEL_METRICS_EXPORTER", default = ExporterKind::Otlp.into())]
    pub metrics_exporter: Choice<ExporterKind>,
    /// `otlp`, `console` or `none`: where log records are exported.
    #[config(alias = "OTEL_LOGS_EXPORTER", default = ExporterKind::Otlp.into())]
    pub logs_exporter: Choice<ExporterKind>,
    /// Compression of OTLP export requests, for every signal.
    #[config(alias = "OTEL_EXPORTER_OTLP_COMPRESSION", default = OtlpCompression::None.into())]
    pub otlp_compression: Choice<OtlpCompression>,
    /// Timeout of one export, in milliseconds.
    #[config(alias = "OTEL_EXPORTER_OTLP_TIMEOUT", default = 10_000)]
    pub otlp_timeout_ms: u64,
    /// The trace sampler.
    #[config(alias = "OTEL_TRACES_SAMPLER", default = SamplerKind::ParentBasedAlwaysOn.into(), production = SamplerKind::ParentBasedTraceIdRatio.into())]
    pub traces_sampler: Choice<SamplerKind>,
    /// The ratio for the `traceidratio` samplers, between 0 and 1.
    #[config(alias = "OTEL_TRACES_SAMPLER_ARG", default = 1.0, production = 0.1)]
    pub traces_sampler_arg: f64,
    /// Turns every OpenTelemetry signal off (console logging stays).
    #[config(alias = "OTEL_SDK_DISABLED")]
    pub sdk_disabled: bool,
    /// Interval between metric exports, in milliseconds.
    #[config(alias = "OTEL_METRIC_EXPORT_INTERVAL", default = 60_000)]
    pub metric_export_interval_ms: u64,
    /// Deadline for flushing everything at shutdown, in milliseconds.
    #[config(alias = "OTEL_SHUTDOWN_TIMEOUT", default = 5_000)]
    pub shutdown_timeout_ms: u64,
    /// Field names redacted in addition to the built-in ones (password,
    /// secret, token, authorization, cookie, api_key, jwt).
    #[config(alias = "LOG_REDACT_FIELDS")]
    pub redact_fields: Vec<String>,
    /// The context propagators for incoming requests: W3C `tracecontext`,
    /// W3C `baggage`, or `none`.
    #[config(alias = "OTEL_PROPAGATORS", default = vec![Propagator::TraceContext.into(), Propagator::Baggage.into()])]
    pub propagators: Vec<Choice<Propagator>>,
    /// The access log: one INFO line per request (`on`, health probes
    /// left out), `all` (probes too) or `off`.
    #[config(alias = "LOG_ACCESS", default = AccessLog::On)]
    pub log_access: AccessLog,
    /// Whether exported spans (and their events) carry `tracing`'s details:
    /// the source location (`code.file.path`, `code.line.number`,
    /// `code.module.name`), the thread (`thread.id`, `thread.name`) and the
    /// busy and idle times (`busy_ns`, `idle_ns`). Off by default: they
    /// repeat on every span, name registry paths, and say little that the
    /// span's name and timing do not.
    #[config(alias = "TRACE_SPAN_DETAILS")]
    pub span_details: bool,
    /// Whether responses carry the server span's W3C `traceparent`, so a
    /// client (a browser's developer tools, a support ticket) can name the
    /// trace of its request. Off by default: it tells every caller the
    /// trace id and whether it was sampled.
    #[config(alias = "TRACE_RESPONSE_HEADER")]
    pub trace_response_header: bool,
}

impl TelemetryConfig {
    /// Sets the service name and version, typically from the binary's
    /// `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`. Values set by configuration
    /// take precedence when applied after this.
    #[must_use]
    pub fn with_service(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.service_name = name.into();
        self.service_version = version.into();
        self
    }

    /// The deadline for flushing at shutdown.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// The endpoint for `signal`, resolved as the specification says, or
    /// `None` when that signal is not exported.
    pub fn endpoint_for(&self, signal: Signal) -> Option<String> {
        let exporter = match signal {
            Signal::Traces => &self.traces_exporter,
            Signal::Metrics => &self.metrics_exporter,
            Signal::Logs => &self.logs_exporter,
        };
        if exporter.known() != Some(ExporterKind::Otlp) {
            return None;
        }
        let specific = match signal {
            Signal::Traces => &self.otlp_traces_endpoint,
            Signal::Metrics => &self.otlp_metrics_endpoint,
            Signal::Logs => &self.otlp_logs_endpoint,
        };
        if !specific.trim().is_empty() {
            return Some(specific.trim().to_owned());
        }
        let base = self.otlp_endpoint.trim();
        if base.is_empty() {
            return None;
        }
        Some(match self.otlp_protocol.known() {
            Some(OtlpProtocol::HttpProtobuf) => {
                format!("{}/{}", base.trim_end_matches('/'), signal.http_path())
            }
            _ => base.to_owned(),
        })
    }

    /// Whether `signal` is printed by the `console` exporter.
    pub fn console_for(&self, signal: Signal) -> bool {
        let exporter = match signal {
            Signal::Traces => &self.traces_exporter,
            Signal::Metrics => &self.metrics_exporter,
            Signal::Logs => &self.logs_exporter,
        };
        !self.sdk_disabled && exporter.known() == Some(ExporterKind::Console)
    }

    /// Whether any signal is exported over OTLP.
    pub fn exports(&self) -> bool {
        !self.sdk_disabled && Signal::ALL.iter().any(|s| self.endpoint_for(*s).is_some())
    }

    /// Refuses a configuration [`problems`](Self::problems) finds (the
    /// first one, naming the variable). [`init`](crate::init) calls it; a
    /// configuration the `telemetry.invalid` rule passed always passes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for the first problem.
    pub fn validate(&self) -> Result<(), Error> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(problem) => Err(Error::InvalidConfig {
                key: problem.key,
                variable: problem.variable,
                value: problem.value,
                expected: problem.expected,
            }),
        }
    }

    /// Every value this build cannot run with: the one check behind both
    /// the `telemetry.invalid` rule (so `config check` reports it with its
    /// key and source, in every environment) and [`validate`](Self::validate)
    /// (so [`init`](crate::init) never fails for a reason the rule passed).
    ///
    /// Covers the service name, endpoint URLs (absolute `http://` or
    /// `https://` with a host; `https://` needs the `tls` feature), the
    /// sampler ratio (0 to 1), zero durations, `RUST_LOG` syntax, and
    /// protocol, compression, exporter, sampler and propagator names this build does not
    /// support.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.service_name.trim().is_empty() {
            out.push(Problem::new(
                "service_name",
                "OTEL_SERVICE_NAME",
                &self.service_name,
                "a non-empty service name",
            ));
        }
        for (key, variable, value) in self.endpoints() {
            if let Some(expected) = endpoint_problem(value) {
                out.push(Problem::new(
                    key,
                    variable,
                    &redact_url(value.trim()),
                    expected,
                ));
            }
        }
        let ratio = self.traces_sampler_arg;
        if !(0.0..=1.0).contains(&ratio) || ratio.is_nan() {
            out.push(Problem::new(
                "traces_sampler_arg",
                "OTEL_TRACES_SAMPLER_ARG",
                &ratio.to_string(),
                "a ratio between 0 and 1",
            ));
        }
        for (key, variable, value) in [
            (
                "otlp_timeout_ms",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                self.otlp_timeout_ms,
            ),
            (
                "metric_export_interval_ms",
                "OTEL_METRIC_EXPORT_INTERVAL",
                self.metric_export_interval_ms,
            ),
            (
                "shutdown_timeout_ms",
                "OTEL_SHUTDOWN_TIMEOUT",
                self.shutdown_timeout_ms,
            ),
        ] {
            if value == 0 {
                out.push(Problem::new(
                    key,
                    variable,
                    "0",
                    "a positive number of milliseconds",
                ));
            }
        }
        if !self.rust_log.trim().is_empty()
            && let Err(err) = EnvFilter::builder()
                .with_regex(false)
                .parse(self.rust_log.trim())
        {
            out.push(Problem::new(
                "rust_log",
                "RUST_LOG",
                self.rust_log.trim(),
                format!("tracing filter directives ({err})"),
            ));
        }
        let choices = [
            (
                "otlp_protocol",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                unsupported(&self.otlp_protocol),
            ),
            (
                "otlp_compression",
                "OTEL_EXPORTER_OTLP_COMPRESSION",
                unsupported(&self.otlp_compression),
            ),
            (
                "traces_exporter",
                "OTEL_TRACES_EXPORTER",
                unsupported(&self.traces_exporter),
            ),
            (
                "metrics_exporter",
                "OTEL_METRICS_EXPORTER",
                unsupported(&self.metrics_exporter),
            ),
            (
                "logs_exporter",
                "OTEL_LOGS_EXPORTER",
                unsupported(&self.logs_exporter),
            ),
            (
                "traces_sampler",
                "OTEL_TRACES_SAMPLER",
                unsupported(&self.traces_sampler),
            ),
        ];
        let propagators = self.propagators.iter().map(unsupported);
        for (key, variable, problem) in choices
            .into_iter()
            .chain(propagators.map(|problem| ("propagators", "OTEL_PROPAGATORS", problem)))
        {
            if let Some((value, expected)) = problem {
                out.push(Problem::new(key, variable, &value, expected));
            }
        }
        if let Some(protocol) = self.otlp_protocol.known()
            && !protocol.is_compiled()
            && self.exports()
        {
            out.push(Problem::new(
                "otlp_protocol",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                protocol.as_str(),
                format!(
                    "a protocol this build exports with: {protocol} needs appenv-observability's `{}` feature, which this build lacks",
                    protocol.feature()
                ),
            ));
        }
        out
    }

    fn endpoints(&self) -> [(&'static str, &'static str, &str); 4] {
        [
            (
                "otlp_endpoint",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &self.otlp_endpoint,
            ),
            (
                "otlp_traces_endpoint",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &self.otlp_traces_endpoint,
            ),
            (
                "otlp_metrics_endpoint",
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &self.otlp_metrics_endpoint,
            ),
            (
                "otlp_logs_endpoint",
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                &self.otlp_logs_endpoint,
            ),
        ]
    }
}

/// One OpenTelemetry signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }
}

/// Rule `telemetry.invalid`.
fn invalid(check: &mut Check<'_>, cfg: &TelemetryConfig) -> Result<(), appenv_config::Error> {
    for problem in cfg.problems() {
        check.forbid(
            problem.key,
            format!(
                "{} = \"{}\" cannot be used: expected {}",
                problem.variable, problem.value, problem.expected
            ),
            problem.fix(),
        );
    }
    Ok(())
}

/// Rule `telemetry.debug-level`.
fn debug_level(check: &mut Check<'_>, cfg: &TelemetryConfig) -> Result<(), appenv_config::Error> {
    if !check.env().is_production() {
        return Ok(());
    }
    if cfg.log_level.is_verbose() {
        check.violation(
            "log_level",
            format!(
                "log level {} in production logs request data and costs throughput",
                cfg.log_level
            ),
            "set LOG_LEVEL=info (or warn)",
        );
    }
    if directives_are_verbose(&cfg.rust_log) {
        check.violation(
            "rust_log",
            "RUST_LOG enables debug or trace output in production",
            "remove RUST_LOG or limit it to info and above",
        );
    }
    Ok(())
}

/// Rule `telemetry.pretty-format`.
fn pretty_format(check: &mut Check<'_>, cfg: &TelemetryConfig) -> Result<(), appenv_config::Error> {
    if check.env().is_production() && cfg.log_format == LogFormat::Pretty {
        check.violation(
            "log_format",
            "pretty multi-line logs cannot be parsed by log collectors",
            "set LOG_FORMAT=json (or unset it)",
        );
    }
    Ok(())
}

/// Rule `telemetry.otlp-missing`.
fn otlp_missing(check: &mut Check<'_>, cfg: &TelemetryConfig) -> Result<(), appenv_config::Error> {
    if check.env().is_production() && !cfg.sdk_disabled && !cfg.exports() {
        check.warn(
            "otlp_endpoint",
            "no OTLP endpoint: traces, metrics and logs are not exported",
            "set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_SDK_DISABLED=true to say so)",
        );
    }
    Ok(())
}

/// Rule `telemetry.console-exporter`.
fn console_exporter(
    check: &mut Check<'_>,
    cfg: &TelemetryConfig,
) -> Result<(), appenv_config::Error> {
    if !check.env().is_production() {
        return Ok(());
    }
    for signal in Signal::ALL {
        if cfg.console_for(signal) {
            let key = match signal {
                Signal::Traces => "traces_exporter",
                Signal::Metrics => "metrics_exporter",
                Signal::Logs => "logs_exporter",
            };
            let what = match signal {
                Signal::Traces => "span",
                Signal::Metrics => "metric",
                Signal::Logs => "log record",
            };
            check.violation(
                key,
                format!(
                    "the console exporter prints every {what} to stdout as multi-line text, which log collectors cannot parse"
                ),
                "export over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) or set the exporter to none",
            );
        }
    }
    Ok(())
}

/// Rule `telemetry.otlp-plaintext`.
fn otlp_plaintext(
    check: &mut Check<'_>,
    cfg: &TelemetryConfig,
) -> Result<(), appenv_config::Error> {
    if !check.env().is_production() || cfg.sdk_disabled {
        return Ok(());
    }
    for (key, variable, value) in cfg.endpoints() {
        if is_plaintext_remote(value) {
            check.violation(
                key,
                format!(
                    "{variable} sends telemetry unencrypted to {}",
                    redact_url(value.trim())
                ),
                "use an https:// endpoint, or a collector on localhost",
            );
        }
    }
    Ok(())
}

pub(crate) fn directives_are_verbose(directives: &str) -> bool {
    directives.split(',').any(|d| {
        let level = d
            .rsplit('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        level == "debug" || level == "trace"
    })
}

fn is_plaintext_remote(endpoint: &str) -> bool {
    // appenv-config's one reading of URLs: loopback in every spelling
    // (`127.1`, `[::1]`, `*.localhost`) is local.
    let Ok(url) = appenv_config::ServiceUrl::parse(endpoint.trim()) else {
        return false;
    };
    url.scheme().eq_ignore_ascii_case("http") && !url.is_local()
}

/// What is wrong with an OTLP endpoint URL, if anything (empty means
/// unset).
fn endpoint_problem(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let parsed = match url::Url::parse(value) {
        Ok(parsed) => parsed,
        Err(err) => return Some(format!("an absolute http:// or https:// URL ({err})")),
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Some("an absolute http:// or https:// URL with a host".into());
    }
    if parsed.scheme() == "https" && !cfg!(feature = "tls") {
        return Some(
            "an http:// URL: https:// needs appenv-observability's `tls` feature, which this build lacks"
                .into(),
        );
    }
    None
}

/// One value [`TelemetryConfig::problems`] refuses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Problem {
    /// The key relative to the telemetry section (`otlp_endpoint`).
    pub key: &'static str,
    /// The standard variable that sets it (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub variable: &'static str,
    /// The value, URLs with their password redacted.
    pub value: String,
    /// What would be accepted.
    pub expected: String,
}

impl Problem {
    fn new(
        key: &'static str,
        variable: &'static str,
        value: &str,
        expected: impl Into<String>,
    ) -> Self {
        Problem {
            key,
            variable,
            value: value.to_owned(),
            expected: expected.into(),
        }
    }

    /// How to fix it, for the policy finding.
    pub fn fix(&self) -> String {
        if let Some(feature) = ["grpc", "http-proto"]
            .into_iter()
            .find(|f| self.expected.contains(&format!("`{f}` feature")))
        {
            format!(
                "enable appenv-observability's `{feature}` feature, or set {} to the protocol this build has",
                self.variable
            )
        } else if self.expected.contains("`tls` feature") {
            "enable appenv-observability's `tls` feature (on by default) or use an http:// collector on the same host".to_owned()
        } else {
            format!("set {} to {}", self.variable, self.expected)
        }
    }
}

/// Declares a string enum parsed case-insensitively, with an error listing
/// the accepted spellings, and (de)serialized as its canonical name.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $canon:literal $(| $alt:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $canon),+ }
            }
        }

        impl Named for $name {
            const ACCEPTED: &'static [&'static str] = &[$($canon),+];
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let lower = s.trim().to_ascii_lowercase();
                $(if lower == $canon $(|| lower == $alt)* { return Ok($name::$variant); })+
                Err(format!(
                    concat!("\"{}\" is not a ", $what, "; accepted values: {}"),
                    s,
                    [$($canon),+].join(", ")
                ))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum! {
    /// A log level.
    LogLevel, "log level" {
        /// Everything.
        Trace => "trace",
        /// Debugging detail.
        Debug => "debug",
        /// Normal operation.
        Info => "info",
        /// Something unexpected that was handled.
        Warn => "warn" | "warning",
        /// A failure.
        Error => "error",
        /// Nothing.
        Off => "off",
    }
}

impl LogLevel {
    /// Whether this is `debug` or `trace`.
    pub fn is_verbose(self) -> bool {
        matches!(self, LogLevel::Trace | LogLevel::Debug)
    }
}

string_enum! {
    /// The console output format.
    LogFormat, "log format" {
        /// Multi-line, coloured, for people.
        Pretty => "pretty",
        /// One line per event, for people.
        Compact => "compact" | "text" | "full",
        /// One JSON object per line, for machines.
        Json => "json",
    }
}

string_enum! {
    /// A context propagator, as named by `OTEL_PROPAGATORS`.
    Propagator, "supported propagator" {
        /// W3C Trace Context (`traceparent`, `tracestate`).
        TraceContext => "tracecontext",
        /// W3C Baggage (`baggage`).
        Baggage => "baggage",
        /// No propagation: every request starts a new trace.
        None => "none",
    }
}

string_enum! {
    /// Which requests the access log records (`LOG_ACCESS`).
    AccessLog, "LOG_ACCESS setting" {
        /// One INFO line per request, health probes left out.
        On => "on" | "true" | "yes" | "1",
        /// No access log.
        Off => "off" | "false" | "no" | "0",
        /// One INFO line per request, health probes included.
        All => "all",
    }
}

string_enum! {
    /// The OTLP transport.
    OtlpProtocol, "supported OTLP protocol (http/json is not supported)" {
        /// gRPC (port 4317 by convention).
        Grpc => "grpc",
        /// Protobuf over HTTP (port 4318 by convention).
        HttpProtobuf => "http/protobuf" | "http" | "http/proto",
    }
}

impl OtlpProtocol {
    /// The crate feature that compiles this protocol's exporter in
    /// (`grpc`: tonic; `http-proto`: hyper).
    pub fn feature(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http-proto",
        }
    }

    /// Whether this build has the protocol's exporter.
    pub fn is_compiled(self) -> bool {
        match self {
            OtlpProtocol::Grpc => cfg!(feature = "grpc"),
            OtlpProtocol::HttpProtobuf => cfg!(feature = "http-proto"),
        }
    }

    /// The default: gRPC when this build has it, HTTP/protobuf otherwise.
    pub fn default_for_build() -> OtlpProtocol {
        if cfg!(feature = "grpc") || !cfg!(feature = "http-proto") {
            OtlpProtocol::Grpc
        } else {
            OtlpProtocol::HttpProtobuf
        }
    }
}

string_enum! {
    /// The compression of OTLP export requests (`OTEL_EXPORTER_OTLP_COMPRESSION`).
    OtlpCompression, "supported OTLP compression (zstd is not supported)" {
        /// gzip: `grpc-encoding: gzip` over gRPC, `Content-Encoding: gzip` over HTTP.
        Gzip => "gzip",
        /// Uncompressed.
        None => "none",
    }
}

string_enum! {
    /// Where a signal is exported, as named by `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`.
    ExporterKind, "supported exporter" {
        /// Export over OTLP when an endpoint is configured.
        Otlp => "otlp",
        /// Print to stdout (opentelemetry-stdout's multi-line form), for
        /// local debugging; a production violation (`telemetry.console-exporter`).
        Console => "console",
        /// Do not export this signal.
        None => "none",
    }
}

string_enum! {
    /// The trace sampler, as named by `OTEL_TRACES_SAMPLER`.
    SamplerKind, "trace sampler" {
        /// Record every trace.
        AlwaysOn => "always_on",
        /// Record nothing.
        AlwaysOff => "always_off",
        /// Record a ratio of traces (`traces_sampler_arg`).
        TraceIdRatio => "traceidratio",
        /// Follow the parent's decision; record every root trace.
        ParentBasedAlwaysOn => "parentbased_always_on",
        /// Follow the parent's decision; record no root trace.
        ParentBasedAlwaysOff => "parentbased_always_off",
        /// Follow the parent's decision; record a ratio of root traces.
        ParentBasedTraceIdRatio => "parentbased_traceidratio",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appenv_config::{AppEnv, Section};

    #[test]
    fn defaults_follow_the_environment() {
        let local = TelemetryConfig::defaults(AppEnv::Local);
        assert_eq!(local.log_level, LogLevel::Debug);
        assert_eq!(local.log_format, LogFormat::Pretty);
        let staging = TelemetryConfig::defaults(AppEnv::Staging);
        assert_eq!(staging.log_level, LogLevel::Debug);
        assert_eq!(staging.log_format, LogFormat::Json);
        let prod = TelemetryConfig::defaults(AppEnv::Production);
        assert_eq!(prod.log_level, LogLevel::Info);
        assert_eq!(prod.log_format, LogFormat::Json);
        assert_eq!(prod.traces_sampler, SamplerKind::ParentBasedTraceIdRatio);
        assert!(!prod.exports());
        // The rest of the derived defaults, the same in every environment
        // but the sampler's ratio.
        for (cfg, ratio) in [(&local, 1.0), (&staging, 1.0), (&prod, 0.1)] {
            assert!((cfg.traces_sampler_arg - ratio).abs() < f64::EPSILON);
            assert_eq!(cfg.service_name, "unknown_service");
            assert_eq!(cfg.otlp_protocol, OtlpProtocol::default_for_build());
            assert_eq!(cfg.traces_exporter, ExporterKind::Otlp);
            assert_eq!(cfg.otlp_compression, OtlpCompression::None);
            assert_eq!(cfg.otlp_timeout_ms, 10_000);
            assert_eq!(cfg.metric_export_interval_ms, 60_000);
            assert_eq!(cfg.shutdown_timeout_ms, 5_000);
            assert_eq!(cfg.propagators.len(), 2);
            assert_eq!(cfg.log_access, AccessLog::On);
            assert!(!cfg.sdk_disabled && !cfg.span_details && !cfg.trace_response_header);
        }
        assert_eq!(local.traces_sampler, SamplerKind::ParentBasedAlwaysOn);
    }

    #[test]
    fn enums_parse_case_insensitively_and_list_accepted_values() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(
            "http/protobuf".parse::<OtlpProtocol>(),
            Ok(OtlpProtocol::HttpProtobuf)
        );
        let err = "xml".parse::<LogFormat>().unwrap_err();
        assert!(err.contains("pretty, compact, json"), "{err}");
        let err = "http/json".parse::<OtlpProtocol>().unwrap_err();
        assert!(err.contains("grpc"), "{err}");
    }

    #[test]
    fn http_endpoints_get_signal_paths_and_grpc_ones_do_not() {
        let mut cfg = TelemetryConfig::defaults(AppEnv::Staging);
        cfg.otlp_endpoint = "http://collector:4318/".into();
        cfg.otlp_protocol = OtlpProtocol::HttpProtobuf.into();
        cfg.otlp_logs_endpoint = "http://logs:9000/ingest".into();
        assert_eq!(
            cfg.endpoint_for(Signal::Traces).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            cfg.endpoint_for(Signal::Logs).as_deref(),
            Some("http://logs:9000/ingest")
        );
        cfg.otlp_protocol = OtlpProtocol::Grpc.into();
        assert_eq!(
            cfg.endpoint_for(Signal::Metrics).as_deref(),
            Some("http://collector:4318/")
        );
    }

    #[test]
    fn validation_names_the_variable() {
        let mut cfg = TelemetryConfig::defaults(AppEnv::Staging);
        cfg.otlp_endpoint = "collector:4317".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");

        let mut cfg = TelemetryConfig::defaults(AppEnv::Staging);
        cfg.service_name = " ".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("OTEL_SERVICE_NAME"), "{err}");

        let mut cfg = TelemetryConfig::defaults(AppEnv::Staging);
        cfg.otlp_timeout_ms = 0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{err}");

        let mut cfg = TelemetryConfig::defaults(AppEnv::Staging);
        cfg.traces_sampler_arg = 1.5;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("OTEL_TRACES_SAMPLER_ARG"), "{err}");
    }

    #[test]
    fn invalid_endpoint_error_redacts_the_password() {
        let mut cfg = TelemetryConfig::defaults(AppEnv::Staging);
        cfg.otlp_endpoint = "ftp://user:hunter2-sentinel@collector:4317".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(!err.contains("hunter2-sentinel"), "{err}");
    }

    /// A protocol whose exporter this build leaves out is refused naming
    /// the feature; the default is a protocol the build has.
    #[test]
    fn a_protocol_left_out_of_the_build_names_its_feature() {
        let mut cfg = TelemetryConfig::defaults(AppEnv::Production);
        assert!(
            cfg.otlp_protocol
                .known()
                .is_some_and(OtlpProtocol::is_compiled)
        );
        cfg.otlp_endpoint = "http://127.0.0.1:4317".into();
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            cfg.otlp_protocol = protocol.into();
            let result = cfg.validate();
            if protocol.is_compiled() {
                assert!(result.is_ok(), "{result:?}");
            } else {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{err}");
                assert!(
                    err.contains(&format!("`{}` feature", protocol.feature())),
                    "{err}"
                );
            }
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn https_without_the_tls_feature_is_a_config_error() {
        let mut cfg = TelemetryConfig::defaults(AppEnv::Production);
        cfg.otlp_traces_endpoint = "https://collector.example.com:4317".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "{err}");
        assert!(err.contains("`tls` feature"), "{err}");
    }

    #[test]
    fn plaintext_detection_allows_loopback() {
        assert!(is_plaintext_remote("http://collector.internal:4317"));
        assert!(!is_plaintext_remote("http://localhost:4317"));
        assert!(!is_plaintext_remote("http://127.0.0.1:4317"));
        assert!(!is_plaintext_remote("http://[::1]:4317"));
        assert!(!is_plaintext_remote("http://127.1:4317"));
        assert!(!is_plaintext_remote("http://otel.localhost:4318"));
        assert!(!is_plaintext_remote("https://collector.internal:4317"));
        assert!(!is_plaintext_remote(""));
    }

    #[test]
    fn verbose_directives_are_detected() {
        assert!(directives_are_verbose("info,my_app=debug"));
        assert!(directives_are_verbose("trace"));
        assert!(!directives_are_verbose("info,hyper=warn"));
        assert!(!directives_are_verbose(""));
    }
}
