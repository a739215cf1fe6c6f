//! Telemetry cost per event and per request, against plain
//! tracing-subscriber and tower-http:
//!
//! - `filtered_debug`: a `debug!` that production's `info` level filters
//!   out, under appenv's production subscriber and under a plain
//!   tracing-subscriber JSON subscriber with the same `info` filter;
//! - `json_info`: one `info!` with three fields written as a JSON line
//!   (to a sink) by both;
//! - `http`: one request through `HttpTelemetryLayer` (server span exported
//!   to OpenTelemetry, duration and active-request metrics) and through
//!   tower-http's `TraceLayer` (INFO span, so it reaches OpenTelemetry too;
//!   and with its defaults), over the same bare service, under the same
//!   subscriber: tracing-opentelemetry at `info` with an exporter that
//!   discards spans.
//!
//! - `access_log`: appenv's access line against the event a user of plain
//!   tracing-subscriber would write per request (same fields, JSON, to a
//!   sink): the line alone under each subscriber, and in place, as the
//!   difference between requests through `HttpTelemetryLayer` with
//!   `LOG_ACCESS=on` and with `off` under appenv's production subscriber
//!   (there the line also carries the request span's trace id and fields).
//!
//! Each bench builds its own subscriber and uses its own callsites, so the
//! interest tracing caches per callsite reflects only that subscriber.

use std::time::Duration;

use appenv_benches::{DiscardMetrics, DiscardSpans, bare_service, client_ips, run_requests};
use appenv_config::{AppEnv, Section};
use appenv_observability::{
    ACCESS_LOG_TARGET, AccessLog, HttpTelemetryLayer, TelemetryBuilder, TelemetryConfig,
};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::Layer;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::{Dispatch, Level};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer as _};

/// appenv's production subscriber (JSON console at `info`), writing to a
/// sink. The guard must outlive the dispatch's use.
fn appenv_production() -> (Dispatch, appenv_observability::TelemetryGuard) {
    let config = TelemetryConfig::defaults(AppEnv::Production);
    TelemetryBuilder::new(AppEnv::Production, &config)
        .with_writer(std::io::sink)
        .build()
        .expect("production telemetry builds")
}

/// What a user of plain tracing-subscriber writes for production: JSON
/// lines with an `info` filter, to the same sink.
fn plain_json() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(EnvFilter::new("info"))
            .with_writer(std::io::sink)
            .finish(),
    )
}

fn filtered_debug(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry/filtered_debug");
    group.bench_function("tracing_subscriber", |b| {
        let dispatch = plain_json();
        tracing::dispatcher::with_default(&dispatch, || {
            b.iter(|| tracing::debug!(user_id = 42, "cache lookup"));
        });
    });
    group.bench_function("appenv", |b| {
        let (dispatch, guard) = appenv_production();
        tracing::dispatcher::with_default(&dispatch, || {
            b.iter(|| tracing::debug!(user_id = 42, "cache lookup"));
        });
        drop(guard);
    });
    group.finish();
}

fn json_info(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry/json_info_3_fields");
    group.bench_function("tracing_subscriber", |b| {
        let dispatch = plain_json();
        tracing::dispatcher::with_default(&dispatch, || {
            b.iter(|| {
                tracing::info!(
                    user_id = 42,
                    route = "/v1/events",
                    latency_ms = 3.5,
                    "request handled"
                );
            });
        });
    });
    group.bench_function("appenv", |b| {
        let (dispatch, guard) = appenv_production();
        tracing::dispatcher::with_default(&dispatch, || {
            b.iter(|| {
                tracing::info!(
                    user_id = 42,
                    route = "/v1/events",
                    latency_ms = 3.5,
                    "request handled"
                );
            });
        });
        drop(guard);
    });
    group.finish();
}

/// The subscriber of the HTTP benches: every `info` span to OpenTelemetry,
/// handed to a discarding exporter on the calling thread (the simple
/// processor: a batch processor's background thread competes for the CPU
/// and drops spans when its queue is full, which made runs swing by 2x). No console layer: a
/// tracing-subscriber fmt layer would add the cost of formatting each span's
/// fields, which depends on the console format rather than on the HTTP
/// layer.
fn http_subscriber() -> (Dispatch, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(DiscardSpans)
        .build();
    let subscriber = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bench"))
            .with_filter(LevelFilter::INFO),
    );
    (Dispatch::new(subscriber), provider)
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ips = client_ips(1024);
    let (dispatch, tracer_provider) = http_subscriber();
    let meter_provider = SdkMeterProvider::builder()
        .with_periodic_exporter(DiscardMetrics)
        .build();

    let mut group = c.benchmark_group("telemetry/http_request");
    group.warm_up_time(Duration::from_secs(2));
    tracing::dispatcher::with_default(&dispatch, || {
        group.bench_function("bare_service", |b| {
            let mut svc = bare_service();
            b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
        });
        group.bench_function("tower_http_trace_default", |b| {
            let mut svc = TraceLayer::new_for_http().layer(bare_service());
            b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
        });
        group.bench_function("tower_http_trace_info_span", |b| {
            let mut svc = TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .layer(bare_service());
            b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
        });
        group.bench_function("appenv", |b| {
            let mut svc =
                HttpTelemetryLayer::with_meter_provider(&meter_provider).layer(bare_service());
            b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
        });
    });
    group.finish();
    tracer_provider.shutdown().ok();
    meter_provider.shutdown().ok();
}

/// One access line's fields, as `HttpTelemetryLayer` writes them.
macro_rules! access_line {
    ($target:expr) => {
        tracing::info!(
            target: $target,
            duration_ms = 1.234,
            http.request.method = "GET",
            http.route = "/v1/events",
            http.response.status_code = 200_u16,
            request_id = "3f0c1c9e-8a47-4a8e-9d0b-2f4c8e2b7a51",
            client.address = "203.0.113.7",
            "request completed"
        )
    };
}

fn access_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry/access_log");
    group.bench_function("tracing_subscriber_json_event", |b| {
        let dispatch = plain_json();
        tracing::dispatcher::with_default(&dispatch, || {
            b.iter(|| access_line!("access"));
        });
    });
    group.bench_function("appenv_access_line", |b| {
        let (dispatch, guard) = appenv_production();
        tracing::dispatcher::with_default(&dispatch, || {
            b.iter(|| access_line!(ACCESS_LOG_TARGET));
        });
        drop(guard);
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ips = client_ips(1024);
    for (name, access) in [
        ("appenv_request_access_off", AccessLog::Off),
        ("appenv_request_access_on", AccessLog::On),
    ] {
        group.bench_function(name, |b| {
            let (dispatch, guard) = appenv_production();
            tracing::dispatcher::with_default(&dispatch, || {
                let mut svc = guard
                    .http_layer()
                    .with_access_log(access)
                    .layer(bare_service());
                b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
            });
            drop(guard);
        });
    }
    group.finish();
}

criterion_group!(benches, filtered_debug, json_info, http, access_log);
criterion_main!(benches);
