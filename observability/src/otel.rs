//! OpenTelemetry providers: resource, sampler, OTLP exporters (gRPC and
//! HTTP/protobuf), the console exporters and the redacting span exporter.

use std::time::Duration;

use opentelemetry::{KeyValue, Value};
#[cfg(feature = "grpc")]
use opentelemetry_otlp::WithTonicConfig;
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, SpanExporter, WithExportConfig,
};
#[cfg(feature = "http-proto")]
use opentelemetry_otlp::{Protocol, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData};

use crate::config::{OtlpCompression, OtlpProtocol, SamplerKind, Signal, TelemetryConfig};
use crate::error::Error;
use crate::redact::Redactor;

/// The built providers. The tracer provider always exists (it gives spans
/// their ids, for log correlation and propagation, even without export);
/// the meter and logger providers only when their signal is exported.
#[derive(Debug)]
pub(crate) struct Providers {
    pub(crate) tracer: SdkTracerProvider,
    pub(crate) meter: Option<SdkMeterProvider>,
    pub(crate) logger: Option<SdkLoggerProvider>,
    /// Drives the gRPC exporters' connections, so export does not depend on
    /// the application's runtime (or its flavour).
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

/// The resource; `env` is the environment's name (a tier's, or a named
/// environment's such as `preview`).
pub(crate) fn resource(env: &str, config: &TelemetryConfig) -> Resource {
    let mut attributes = vec![KeyValue::new("deployment.environment.name", env.to_owned())];
    if !config.service_version.trim().is_empty() {
        attributes.push(KeyValue::new(
            "service.version",
            config.service_version.trim().to_owned(),
        ));
    }
    Resource::builder()
        .with_service_name(config.service_name.trim().to_owned())
        .with_attributes(attributes)
        .build()
}

fn sampler(config: &TelemetryConfig) -> Sampler {
    let ratio = config.traces_sampler_arg;
    // `telemetry.invalid` refuses unsupported samplers before this runs.
    match config
        .traces_sampler
        .known()
        .unwrap_or(SamplerKind::ParentBasedAlwaysOn)
    {
        SamplerKind::AlwaysOn => Sampler::AlwaysOn,
        SamplerKind::AlwaysOff => Sampler::AlwaysOff,
        SamplerKind::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        SamplerKind::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerKind::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerKind::ParentBasedTraceIdRatio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// Builds the providers. Exporters are built on a separate OS thread inside
/// a dedicated runtime: the gRPC channels and the HTTP client's connections
/// must live on a runtime that keeps running while the application's
/// runtime is blocked in shutdown (and exist whatever its flavour).
pub(crate) fn build(env: &str, config: &TelemetryConfig) -> Result<Providers, Error> {
    let resource = resource(env, config);
    let redactor = Redactor::new(&config.redact_fields);
    let endpoint = |signal| {
        if config.sdk_disabled {
            None
        } else {
            config.endpoint_for(signal)
        }
    };
    let (traces, metrics, logs) = (
        endpoint(Signal::Traces),
        endpoint(Signal::Metrics),
        endpoint(Signal::Logs),
    );
    // `telemetry.invalid` refuses unsupported protocols before this runs.
    let protocol = config.otlp_protocol.known().unwrap_or(OtlpProtocol::Grpc);
    let runtime = if traces.is_some() || metrics.is_some() || logs.is_some() {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("appenv-otlp")
                .enable_all()
                .build()
                .map_err(|source| Error::Runtime { source })?,
        )
    } else {
        None
    };
    let timeout = Duration::from_millis(config.otlp_timeout_ms);
    // `telemetry.invalid` refuses unsupported compressions before this runs.
    let compression = match config.otlp_compression.known() {
        Some(OtlpCompression::Gzip) => Some(Compression::Gzip),
        Some(OtlpCompression::None) | None => None,
    };
    let handle = runtime.as_ref().map(|rt| rt.handle().clone());

    let exporters = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<_, Error> {
                // A runtime exists whenever an endpoint does.
                let Some(handle) = handle.as_ref() else {
                    return Ok((None, None, None));
                };
                let _entered = handle.enter();
                let span = traces
                    .as_deref()
                    .map(|ep| span_exporter(protocol, ep, timeout, compression, handle))
                    .transpose()?;
                let metric = metrics
                    .as_deref()
                    .map(|ep| metric_exporter(protocol, ep, timeout, compression, handle))
                    .transpose()?;
                let log = logs
                    .as_deref()
                    .map(|ep| log_exporter(protocol, ep, timeout, compression, handle))
                    .transpose()?;
                Ok((span, metric, log))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    let (span, metric, log) = match exporters {
        Ok(exporters) => exporters,
        Err(err) => {
            // Dropping a runtime blocks, which panics on an async thread.
            if let Some(runtime) = runtime {
                runtime.shutdown_background();
            }
            return Err(err);
        }
    };

    // `console` (opentelemetry-stdout) prints as each span ends and each
    // record is emitted: a simple processor, no batching to wait for.
    let console = |signal| config.console_for(signal);
    let mut tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(sampler(config));
    if let Some(exporter) = span {
        tracer = tracer.with_batch_exporter(RedactingSpanExporter {
            inner: exporter,
            redactor,
        });
    } else if console(Signal::Traces) {
        tracer = tracer.with_simple_exporter(RedactingSpanExporter {
            inner: opentelemetry_stdout::SpanExporter::default(),
            redactor,
        });
    }
    let interval = Duration::from_millis(config.metric_export_interval_ms);
    let meter = match metric {
        Some(exporter) => Some(meter_provider(
            &resource,
            PeriodicReader::builder(exporter)
                .with_interval(interval)
                .build(),
        )),
        None if console(Signal::Metrics) => Some(meter_provider(
            &resource,
            PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default())
                .with_interval(interval)
                .build(),
        )),
        None => None,
    };
    let logger = match log {
        Some(exporter) => Some(
            SdkLoggerProvider::builder()
                .with_resource(resource.clone())
                .with_batch_exporter(exporter)
                .build(),
        ),
        None if console(Signal::Logs) => Some(
            SdkLoggerProvider::builder()
                .with_resource(resource.clone())
                .with_simple_exporter(opentelemetry_stdout::LogExporter::default())
                .build(),
        ),
        None => None,
    };
    Ok(Providers {
        tracer: tracer.build(),
        meter,
        logger,
        runtime,
    })
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION` for gRPC (`grpc-encoding`). Set
/// explicitly, it wins over the process variables the exporter would read.
#[cfg(feature = "grpc")]
fn grpc_compression<B: WithTonicConfig>(builder: B, compression: Option<Compression>) -> B {
    match compression {
        Some(compression) => builder.with_compression(compression),
        None => builder,
    }
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION` for HTTP/protobuf (`Content-Encoding`).
#[cfg(feature = "http-proto")]
fn http_compression<B: WithHttpConfig>(builder: B, compression: Option<Compression>) -> B {
    match compression {
        Some(compression) => builder.with_compression(compression),
        None => builder,
    }
}

fn meter_provider<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>(
    resource: &Resource,
    reader: PeriodicReader<E>,
) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(reader)
        .build()
}

/// For `https://` gRPC endpoints: TLS trusting the webpki roots (the
/// exporter's default TLS configuration trusts nothing).
#[cfg(all(feature = "grpc", feature = "tls"))]
fn tls<B: opentelemetry_otlp::WithTonicConfig>(builder: B, endpoint: &str) -> B {
    if endpoint.starts_with("https://") {
        builder.with_tls_config(
            opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_enabled_roots(),
        )
    } else {
        builder
    }
}

/// Without the `tls` feature `https://` endpoints are refused by
/// [`TelemetryConfig::problems`].
#[cfg(all(feature = "grpc", not(feature = "tls")))]
fn tls<B>(builder: B, _endpoint: &str) -> B {
    builder
}

/// The HTTP/protobuf exporters' client: hyper (`https://` through rustls
/// with the ring provider and the webpki roots when the `tls` feature is
/// on, as the gRPC exporters), driven on the export runtime. The SDK calls
/// it from its own threads, where no tokio runtime is current; each request
/// is spawned onto the export runtime and awaited from there.
#[cfg(feature = "http-proto")]
#[derive(Debug, Clone)]
struct HttpExportClient {
    client: opentelemetry_http::hyper::HyperClient<HttpConnector>,
    handle: tokio::runtime::Handle,
}

#[cfg(all(feature = "http-proto", feature = "tls"))]
type HttpConnector =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
#[cfg(all(feature = "http-proto", not(feature = "tls")))]
type HttpConnector = hyper_util::client::legacy::connect::HttpConnector;

#[cfg(feature = "http-proto")]
impl HttpExportClient {
    fn new(handle: tokio::runtime::Handle, timeout: Duration) -> Result<Self, Error> {
        Ok(HttpExportClient {
            client: opentelemetry_http::hyper::HyperClient::new(connector()?, timeout, None),
            handle,
        })
    }
}

#[cfg(all(feature = "http-proto", feature = "tls"))]
fn connector() -> Result<HttpConnector, Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::HttpClient {
            source: Box::new(source),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build())
}

/// Without the `tls` feature: plain HTTP (`https://` endpoints are refused
/// by [`TelemetryConfig::problems`]).
#[cfg(all(feature = "http-proto", not(feature = "tls")))]
fn connector() -> Result<HttpConnector, Error> {
    Ok(hyper_util::client::legacy::connect::HttpConnector::new())
}

#[cfg(feature = "http-proto")]
#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HttpExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        self.handle
            .spawn(async move { client.send_bytes(request).await })
            .await
            .map_err(|join| Box::new(join) as opentelemetry_http::HttpError)?
    }
}

/// The exporter of a protocol this build leaves out: `telemetry.invalid`
/// refuses that configuration before `init` gets here.
#[cfg_attr(all(feature = "grpc", feature = "http-proto"), allow(dead_code))]
fn not_compiled(protocol: OtlpProtocol) -> Error {
    Error::InvalidConfig {
        key: "otlp_protocol",
        variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
        value: protocol.as_str().to_owned(),
        expected: format!(
            "a protocol this build exports with: {protocol} needs appenv-observability's `{}` feature, which this build lacks",
            protocol.feature()
        ),
    }
}

#[cfg_attr(not(feature = "http-proto"), allow(unused_variables))]
fn span_exporter(
    protocol: OtlpProtocol,
    endpoint: &str,
    timeout: Duration,
    compression: Option<Compression>,
    handle: &tokio::runtime::Handle,
) -> Result<SpanExporter, Error> {
    match protocol {
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => tls(
            grpc_compression(
                SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(timeout),
                compression,
            ),
            endpoint,
        )
        .build(),
        #[cfg(feature = "http-proto")]
        OtlpProtocol::HttpProtobuf => http_compression(
            SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .with_http_client(HttpExportClient::new(handle.clone(), timeout)?),
            compression,
        )
        .build(),
        #[allow(unreachable_patterns)] // a build with both protocols
        other => return Err(not_compiled(other)),
    }
    .map_err(|source| Error::Exporter {
        signal: "traces",
        source,
    })
}

#[cfg_attr(not(feature = "http-proto"), allow(unused_variables))]
fn metric_exporter(
    protocol: OtlpProtocol,
    endpoint: &str,
    timeout: Duration,
    compression: Option<Compression>,
    handle: &tokio::runtime::Handle,
) -> Result<MetricExporter, Error> {
    match protocol {
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => tls(
            grpc_compression(
                MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(timeout),
                compression,
            ),
            endpoint,
        )
        .build(),
        #[cfg(feature = "http-proto")]
        OtlpProtocol::HttpProtobuf => http_compression(
            MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .with_http_client(HttpExportClient::new(handle.clone(), timeout)?),
            compression,
        )
        .build(),
        #[allow(unreachable_patterns)] // a build with both protocols
        other => return Err(not_compiled(other)),
    }
    .map_err(|source| Error::Exporter {
        signal: "metrics",
        source,
    })
}

#[cfg_attr(not(feature = "http-proto"), allow(unused_variables))]
fn log_exporter(
    protocol: OtlpProtocol,
    endpoint: &str,
    timeout: Duration,
    compression: Option<Compression>,
    handle: &tokio::runtime::Handle,
) -> Result<LogExporter, Error> {
    match protocol {
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => tls(
            grpc_compression(
                LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(timeout),
                compression,
            ),
            endpoint,
        )
        .build(),
        #[cfg(feature = "http-proto")]
        OtlpProtocol::HttpProtobuf => http_compression(
            LogExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .with_http_client(HttpExportClient::new(handle.clone(), timeout)?),
            compression,
        )
        .build(),
        #[allow(unreachable_patterns)] // a build with both protocols
        other => return Err(not_compiled(other)),
    }
    .map_err(|source| Error::Exporter {
        signal: "logs",
        source,
    })
}

/// Replaces the values of sensitive attributes (span attributes and span
/// event attributes) with `[REDACTED]` before export.
#[derive(Debug)]
struct RedactingSpanExporter<E> {
    inner: E,
    redactor: Redactor,
}

pub(crate) fn redact_attributes(redactor: &Redactor, attributes: &mut [KeyValue]) {
    for kv in attributes {
        if redactor.is_sensitive(kv.key.as_str()) {
            kv.value = Value::from(appenv_config::REDACTED);
        }
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for RedactingSpanExporter<E>
{
    fn export(
        &self,
        mut batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            redact_attributes(&self.redactor, &mut span.attributes);
            for event in &mut span.events.events {
                redact_attributes(&self.redactor, &mut event.attributes);
            }
        }
        self.inner.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use appenv_config::{AppEnv, Section};

    use super::*;

    #[cfg(feature = "tls")]
    #[test]
    fn https_endpoints_build_with_tls_for_both_protocols() {
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            let mut config = TelemetryConfig::defaults(AppEnv::Production);
            config.otlp_endpoint = "https://collector.example.com:4317".into();
            config.otlp_protocol = protocol.into();
            let providers = build("production", &config).expect("TLS exporters build");
            assert!(providers.meter.is_some() && providers.logger.is_some());
        }
    }

    #[test]
    fn resource_names_service_version_and_environment() {
        let config = TelemetryConfig::defaults(AppEnv::Production).with_service("svc", "9.9.9");
        let resource = resource("production", &config);
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|v| v.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("svc"));
        assert_eq!(get("service.version").as_deref(), Some("9.9.9"));
        assert_eq!(
            get("deployment.environment.name").as_deref(),
            Some("production")
        );
        // A named environment reports its own name.
        let named = super::resource("preview", &config);
        assert_eq!(
            named
                .get(&opentelemetry::Key::from_static_str(
                    "deployment.environment.name"
                ))
                .map(|v| v.to_string())
                .as_deref(),
            Some("preview")
        );
    }
}
