//! OTLP export against an in-process collector, over gRPC and HTTP/protobuf.

mod support;

use std::time::{Duration, Instant};

use appenv_config::{AppEnv, Loader, Section};
use appenv_observability::{OtlpProtocol, TelemetryBuilder, TelemetryConfig};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use support::{Capture, Collector, attr, body_text, hex, wait_for};
use tower::ServiceExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const SENTINEL: &str = "SENTINEL-7f3a";
/// What `TRACE_SPAN_DETAILS` adds to spans (off by default).
const DETAIL_KEYS: &[&str] = &[
    "code.file.path",
    "code.line.number",
    "code.module.name",
    "thread.id",
    "thread.name",
    "busy_ns",
    "idle_ns",
];

fn config(protocol: OtlpProtocol, endpoint: String) -> TelemetryConfig {
    let mut config = TelemetryConfig::defaults(AppEnv::Staging).with_service("orders", "1.2.3");
    config.otlp_endpoint = endpoint;
    config.otlp_protocol = protocol.into();
    config.metric_export_interval_ms = 60_000;
    config.shutdown_timeout_ms = 5_000;
    config
}

fn app(layer: appenv_observability::HttpTelemetryLayer) -> Router {
    Router::new()
        .route(
            "/orders/{id}",
            get(|| async {
                tracing::info!(
                    password = SENTINEL,
                    api_key = SENTINEL,
                    user = "ada",
                    "handling order"
                );
                "ok"
            }),
        )
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(layer)
}

async fn exercise(protocol: OtlpProtocol, endpoint: String, collector: &Collector) {
    let capture = Capture::default();
    let cfg = config(protocol, endpoint);
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(capture.clone())
        .build()
        .expect("telemetry builds");
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let app = app(guard.http_layer());

    let response = app
        .clone()
        .oneshot(
            Request::get(format!("/orders/7?token={SENTINEL}&page=2"))
                .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
                .header("tracestate", "vendor=abc")
                .header("user-agent", "test-agent/1.0")
                .header("x-request-id", "req-42")
                .header("authorization", format!("Bearer {SENTINEL}"))
                .header("cookie", format!("session={SENTINEL}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "req-42");

    let response = app
        .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID request id is generated");

    drop(_scope);
    // Shutdown blocks this (current-thread or multi-thread) runtime's thread;
    // the exporters run on their own runtime, so nothing is lost.
    guard.shutdown().expect("shutdown flushes everything");
    wait_for("spans", || collector.spans().len() >= 2);
    wait_for("metrics", || !collector.metrics().is_empty());
    wait_for("logs", || !collector.logs().is_empty());

    let spans = collector.spans();
    let order = spans
        .iter()
        .find(|s| s.name == "GET /orders/{id}")
        .unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(
        hex(&order.trace_id),
        TRACE_ID,
        "continues the incoming trace"
    );
    assert_eq!(
        hex(&order.parent_span_id),
        PARENT_ID,
        "child of the incoming span"
    );
    assert_eq!(order.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        order.trace_state, "vendor=abc",
        "tracestate is carried over"
    );
    let a = &order.attributes;
    assert_eq!(attr(a, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr(a, "url.path").as_deref(), Some("/orders/7"));
    assert_eq!(attr(a, "url.scheme").as_deref(), Some("http"));
    assert_eq!(attr(a, "http.route").as_deref(), Some("/orders/{id}"));
    assert_eq!(attr(a, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(
        attr(a, "user_agent.original").as_deref(),
        Some("test-agent/1.0")
    );
    assert_eq!(attr(a, "request_id").as_deref(), Some("req-42"));
    assert_eq!(attr(a, "error.type"), None);
    assert_ne!(
        order.status.as_ref().map(|s| s.code),
        Some(2),
        "2xx is not an error"
    );

    let boom = spans
        .iter()
        .find(|s| s.name == "GET /boom")
        .expect("5xx span");
    assert_eq!(
        boom.status.as_ref().map(|s| s.code),
        Some(2),
        "5xx is STATUS_CODE_ERROR"
    );
    assert_eq!(attr(&boom.attributes, "error.type").as_deref(), Some("500"));
    assert_eq!(
        attr(&boom.attributes, "request_id").as_deref(),
        Some(generated.as_str())
    );

    for resource in collector.span_resources() {
        assert_eq!(
            attr(&resource, "deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert_eq!(attr(&resource, "service.name").as_deref(), Some("orders"));
        assert_eq!(attr(&resource, "service.version").as_deref(), Some("1.2.3"));
    }

    let metrics = collector.metrics();
    let duration = metrics
        .iter()
        .find(|m| m.name == "http.server.request.duration")
        .unwrap_or_else(|| panic!("no duration histogram: {metrics:#?}"));
    assert_eq!(duration.unit, "s");
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Histogram(histogram)) =
        &duration.data
    else {
        panic!("duration is not a histogram: {duration:?}");
    };
    let point = histogram
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "http.route").as_deref() == Some("/orders/{id}"))
        .expect("a data point for the route");
    assert_eq!(point.count, 1);
    assert_eq!(
        point.explicit_bounds,
        vec![
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
        ]
    );
    assert_eq!(
        attr(&point.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(
        metrics
            .iter()
            .any(|m| m.name == "http.server.active_requests")
    );

    let logs = collector.logs();
    let log = logs
        .iter()
        .find(|l| body_text(&l.body).as_deref() == Some("handling order"))
        .unwrap_or_else(|| panic!("no log record: {logs:#?}"));
    assert_eq!(
        hex(&log.trace_id),
        TRACE_ID,
        "log record carries the trace context"
    );
    assert_eq!(hex(&log.span_id), hex(&order.span_id));
    assert_ne!(log.time_unix_nano, 0, "the record carries its timestamp");
    assert!(
        log.time_unix_nano <= log.observed_time_unix_nano,
        "it happened before the SDK observed it"
    );
    assert_eq!(log.event_name, "", "no file:line event name");
    for span in &spans {
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        for unwanted in DETAIL_KEYS {
            assert!(
                !keys.contains(unwanted),
                "{} carries {unwanted} by default: {keys:?}",
                span.name
            );
        }
    }

    // The access line is a log record of its own, not an event of the
    // request span (whose attributes already say the same); the handler's
    // own event still is one.
    let access = logs
        .iter()
        .find(|l| body_text(&l.body).as_deref() == Some("request completed"))
        .unwrap_or_else(|| panic!("no access log record: {logs:#?}"));
    assert_eq!(hex(&access.trace_id), TRACE_ID);
    assert_eq!(
        attr(&access.attributes, "http.route").as_deref(),
        Some("/orders/{id}")
    );
    let event_names: Vec<&str> = order.events.iter().map(|e| e.name.as_str()).collect();
    assert!(
        event_names.contains(&"handling order"),
        "the handler's event is a span event: {event_names:?}"
    );
    assert!(
        !event_names.contains(&"request completed"),
        "the access line is not a span event: {event_names:?}"
    );

    assert_eq!(attr(&log.attributes, "user").as_deref(), Some("ada"));
    assert_eq!(
        attr(&log.attributes, "password").as_deref(),
        Some("[REDACTED]")
    );

    let transport = match protocol {
        OtlpProtocol::Grpc => "grpc",
        _ => "http",
    };
    for encoding in collector.encodings() {
        assert_eq!(
            encoding,
            format!("{transport} identity"),
            "uncompressed by default"
        );
    }

    let dump = collector.dump();
    assert!(!dump.contains(SENTINEL), "a secret reached the collector");
    let console = capture.text();
    assert!(console.contains("handling order"), "{console}");
    assert!(
        !console.contains(SENTINEL),
        "a secret reached the console:\n{console}"
    );
}

#[tokio::test]
async fn grpc_collector_receives_span_histogram_log_and_resource_on_current_thread_runtime() {
    let collector = Collector::start();
    let endpoint = collector.grpc_endpoint();
    exercise(OtlpProtocol::Grpc, endpoint, &collector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_collector_receives_span_histogram_log_and_resource() {
    let collector = Collector::start();
    let endpoint = collector.http_endpoint();
    exercise(OtlpProtocol::HttpProtobuf, endpoint, &collector).await;
}

#[tokio::test]
async fn unreachable_collector_keeps_serving_and_shutdown_meets_its_deadline() {
    // A listener that accepts connections and never answers: the worst case.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(
        OtlpProtocol::Grpc,
        format!("http://{}", silent.local_addr().unwrap()),
    );
    cfg.otlp_timeout_ms = 300;
    cfg.shutdown_timeout_ms = 1_000;
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(Capture::default())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let app = app(guard.http_layer());
    for _ in 0..200 {
        let response = app
            .clone()
            .oneshot(Request::get("/orders/1").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    drop(_scope);
    let start = Instant::now();
    let result = guard.shutdown();
    let took = start.elapsed();
    eprintln!("shutdown with a hanging collector: {took:?} -> {result:?}");
    assert!(
        took < Duration::from_millis(2_500),
        "shutdown took {took:?} with a 1s deadline ({result:?})"
    );
}

/// The SDK's batch queue and export batch sizes: its defaults unless the
/// standard variable is set in this process.
fn batch_sizes(queue_var: &str, batch_var: &str) -> (usize, usize) {
    let read = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let queue = read(queue_var, 2_048);
    (queue, read(batch_var, 512).min(queue))
}

#[tokio::test]
async fn hanging_collector_bounds_what_is_retained_to_one_queue_and_one_batch() {
    const REQUESTS: usize = 50_000;
    // Accepts connections and requests, answers none until released.
    let collector = Collector::start_hanging();
    let mut cfg = config(OtlpProtocol::Grpc, collector.grpc_endpoint());
    // No export times out during the burst: the first one of each signal
    // hangs until the collector is released.
    cfg.otlp_timeout_ms = 600_000;
    cfg.shutdown_timeout_ms = 60_000;
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(std::io::sink)
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let app = app(guard.http_layer());
    for _ in 0..REQUESTS {
        let response = app
            .clone()
            .oneshot(Request::get("/orders/1").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    drop(_scope);
    assert!(
        collector.spans().is_empty() && collector.logs().is_empty(),
        "the collector answered nothing while it hung"
    );

    // Released, the collector gets everything the SDK kept: the batch that
    // was in flight plus the full queue, and nothing else.
    collector.release();
    guard
        .shutdown()
        .expect("shutdown flushes once the collector answers");
    let spans = collector.spans().len();
    let logs = collector.logs().len();
    let (span_queue, span_batch) =
        batch_sizes("OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
    let (log_queue, log_batch) = batch_sizes(
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    );
    eprintln!(
        "{REQUESTS} requests against a hanging collector: {spans} spans and {logs} log records \
         kept and delivered on release (queue {span_queue}/{log_queue}, batch {span_batch}/{log_batch})"
    );
    assert!(
        (span_queue..=span_queue + span_batch).contains(&spans),
        "{spans} of {REQUESTS} spans retained, expected {span_queue}..={}",
        span_queue + span_batch
    );
    assert!(
        (log_queue..=log_queue + log_batch).contains(&logs),
        "{logs} of {REQUESTS} log records retained, expected {log_queue}..={}",
        log_queue + log_batch
    );
}

#[tokio::test]
async fn request_span_reaches_the_collector_whatever_the_console_level_and_drop_flushes() {
    let collector = Collector::start();
    let mut cfg = config(OtlpProtocol::Grpc, collector.grpc_endpoint());
    cfg.rust_log = "error".into();
    let capture = Capture::default();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let response = app(guard.http_layer())
        .oneshot(
            Request::get("/orders/9")
                .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(_scope);
    // Dropping the guard on this current-thread runtime flushes too.
    drop(guard);
    wait_for("the request span", || !collector.spans().is_empty());
    let span = &collector.spans()[0];
    assert_eq!(span.name, "GET /orders/{id}");
    assert_eq!(hex(&span.parent_span_id), PARENT_ID);
    assert!(
        !capture.text().contains("handling order"),
        "info filtered from the console"
    );
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`, loaded as a service loads it:
/// every export of every signal arrives gzip-compressed (gRPC's
/// `grpc-encoding`, HTTP's `Content-Encoding`) and decodes to the data.
async fn gzip_reaches_the_collector_compressed(protocol: &str) {
    let collector = Collector::start();
    let endpoint = match protocol {
        "grpc" => collector.grpc_endpoint(),
        _ => collector.http_endpoint(),
    };
    let cfg = Loader::hermetic([
        ("APP_ENV", "staging"),
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ])
    .load::<TelemetryConfig>()
    .expect("loads")
    .into_config();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(Capture::default())
        .build()
        .expect("telemetry builds");
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let response = app(guard.http_layer())
        .oneshot(Request::get("/orders/3").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(_scope);
    guard.shutdown().expect("shutdown flushes everything");

    assert!(
        collector
            .spans()
            .iter()
            .any(|s| s.name == "GET /orders/{id}"),
        "the span decodes: {:?}",
        collector.spans()
    );
    assert!(
        collector
            .logs()
            .iter()
            .any(|l| body_text(&l.body).as_deref() == Some("handling order"))
    );
    assert!(!collector.metrics().is_empty());
    let transport = if protocol == "grpc" { "grpc" } else { "http" };
    let encodings = collector.encodings();
    assert!(encodings.len() >= 3, "one export per signal: {encodings:?}");
    for encoding in &encodings {
        assert_eq!(encoding, &format!("{transport} gzip"), "{encodings:?}");
    }
}

#[tokio::test]
async fn gzip_compression_reaches_a_grpc_collector_compressed() {
    gzip_reaches_the_collector_compressed("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compression_reaches_an_http_collector_compressed() {
    gzip_reaches_the_collector_compressed("http/protobuf").await;
}

/// Semantic conventions on the server span, as the collector receives it:
/// `server.address`/`server.port` from the `Host` header (HTTP/1.1) or the
/// `:authority` (HTTP/2), `network.protocol.version`, and an unknown method
/// as `_OTHER` with `http.request.method_original`.
#[tokio::test]
async fn server_span_carries_server_address_protocol_version_and_the_original_method() {
    let collector = Collector::start();
    let cfg = config(OtlpProtocol::Grpc, collector.grpc_endpoint());
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(Capture::default())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let svc = tower::Layer::layer(
        &guard.http_layer(),
        tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(axum::http::Response::new(Body::empty()))
        }),
    );
    let requests = [
        Request::get("/h1")
            .header("host", "api.example.com:8443")
            .body(Body::empty())
            .unwrap(),
        Request::get("http://[2001:db8::1]:9000/h2")
            .version(axum::http::Version::HTTP_2)
            .body(Body::empty())
            .unwrap(),
        Request::builder()
            .method("PURGE")
            .uri("/cache")
            .version(axum::http::Version::HTTP_10)
            .header("host", "cache.example.com")
            .body(Body::empty())
            .unwrap(),
        Request::get("/bad-host")
            .header("host", "not a host")
            .body(Body::empty())
            .unwrap(),
    ];
    for request in requests {
        svc.clone().oneshot(request).await.unwrap();
    }
    drop(_scope);
    guard.shutdown().unwrap();

    let spans = collector.spans();
    let by_path = |path: &str| {
        spans
            .iter()
            .find(|s| attr(&s.attributes, "url.path").as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no span for {path}: {spans:#?}"))
            .attributes
            .clone()
    };
    let h1 = by_path("/h1");
    assert_eq!(
        attr(&h1, "server.address").as_deref(),
        Some("api.example.com")
    );
    assert_eq!(attr(&h1, "server.port").as_deref(), Some("8443"));
    assert_eq!(
        attr(&h1, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(attr(&h1, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr(&h1, "http.request.method_original"), None);

    let h2 = by_path("/h2");
    assert_eq!(
        attr(&h2, "server.address").as_deref(),
        Some("2001:db8::1"),
        "an IPv6 literal without brackets"
    );
    assert_eq!(attr(&h2, "server.port").as_deref(), Some("9000"));
    assert_eq!(attr(&h2, "network.protocol.version").as_deref(), Some("2"));

    let purge = spans
        .iter()
        .find(|s| attr(&s.attributes, "url.path").as_deref() == Some("/cache"))
        .expect("the PURGE span");
    assert_eq!(purge.name, "HTTP", "unknown methods do not name the span");
    let a = &purge.attributes;
    assert_eq!(attr(a, "http.request.method").as_deref(), Some("_OTHER"));
    assert_eq!(
        attr(a, "http.request.method_original").as_deref(),
        Some("PURGE")
    );
    assert_eq!(
        attr(a, "server.address").as_deref(),
        Some("cache.example.com")
    );
    assert_eq!(
        attr(a, "server.port"),
        None,
        "no port written, none guessed"
    );
    assert_eq!(attr(a, "network.protocol.version").as_deref(), Some("1.0"));

    let bad = by_path("/bad-host");
    assert_eq!(attr(&bad, "server.address"), None);
    assert_eq!(attr(&bad, "server.port"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_details_are_exported_when_trace_span_details_is_on() {
    let collector = Collector::start();
    let endpoint = collector.grpc_endpoint();
    let cfg = Loader::hermetic([
        ("APP_ENV", "staging"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("TRACE_SPAN_DETAILS", "true"),
    ])
    .load::<TelemetryConfig>()
    .expect("loads")
    .into_config();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &cfg)
        .with_writer(Capture::default())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    app(guard.http_layer())
        .oneshot(Request::get("/orders/5").body(Body::empty()).unwrap())
        .await
        .unwrap();
    drop(_scope);
    guard.shutdown().unwrap();
    let spans = collector.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "GET /orders/{id}")
        .expect("the request span");
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    for wanted in DETAIL_KEYS {
        assert!(keys.contains(wanted), "{wanted} missing: {keys:?}");
    }
}
