//! Test support: a captured console writer and an in-process OTLP collector
//! speaking gRPC (opentelemetry-proto's tonic services) and HTTP/protobuf.
#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tonic::codec::CompressionEncoding;

/// Console output captured in memory.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[derive(Debug, Default)]
pub struct Received {
    /// The compression of every export request, as `"{transport} {encoding}"`
    /// (`grpc gzip`, `http identity`), in arrival order.
    pub encodings: Vec<String>,
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
}

/// Holds every export request until opened: a collector that accepts
/// connections and never answers, until the test releases it.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Gate {
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.open.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Received>>, Arc<Gate>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.1.wait().await;
        let encoding = grpc_encoding(&request);
        let mut received = self.0.lock().unwrap();
        received.encodings.push(encoding);
        received.traces.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.1.wait().await;
        let encoding = grpc_encoding(&request);
        let mut received = self.0.lock().unwrap();
        received.encodings.push(encoding);
        received.metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.1.wait().await;
        let encoding = grpc_encoding(&request);
        let mut received = self.0.lock().unwrap();
        received.encodings.push(encoding);
        received.logs.push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// The `grpc-encoding` of a gRPC export (tonic has already decoded it).
fn grpc_encoding<T>(request: &tonic::Request<T>) -> String {
    let encoding = request
        .metadata()
        .get("grpc-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    format!("grpc {encoding}")
}

/// The `Content-Encoding` of an HTTP export and its decoded body (gzip is
/// decoded as a collector does; anything else is refused by the test).
fn http_body(headers: &HeaderMap, body: Bytes) -> (String, Bytes) {
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_owned();
    let body = match encoding.as_str() {
        "identity" => body,
        "gzip" => {
            let mut decoded = Vec::new();
            io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut decoded)
                .expect("a gzip body that decodes");
            Bytes::from(decoded)
        }
        other => panic!("unexpected Content-Encoding {other}"),
    };
    (format!("http {encoding}"), body)
}

/// An OTLP collector on its own thread and runtime (so a test blocked in
/// shutdown does not stop it).
pub struct Collector {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    sink: Sink,
}

impl Collector {
    /// A collector that answers every export at once.
    pub fn start() -> Collector {
        let collector = Collector::start_hanging();
        collector.release();
        collector
    }

    /// A collector that accepts connections and requests but answers none
    /// (and records none) until [`Collector::release`].
    pub fn start_hanging() -> Collector {
        let sink = Sink::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread_sink = sink.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((grpc.local_addr().unwrap(), http.local_addr().unwrap()))
                    .unwrap();
                let s = thread_sink.clone();
                let app = axum::Router::new()
                    .route(
                        "/v1/traces",
                        post({
                            let s = s.clone();
                            move |headers: HeaderMap, body: Bytes| async move {
                                s.1.wait().await;
                                let (encoding, body) = http_body(&headers, body);
                                let req = ExportTraceServiceRequest::decode(body).unwrap();
                                let mut received = s.0.lock().unwrap();
                                received.encodings.push(encoding);
                                received.traces.push(req);
                                ExportTraceServiceResponse::default().encode_to_vec()
                            }
                        }),
                    )
                    .route(
                        "/v1/metrics",
                        post({
                            let s = s.clone();
                            move |headers: HeaderMap, body: Bytes| async move {
                                s.1.wait().await;
                                let (encoding, body) = http_body(&headers, body);
                                let req = ExportMetricsServiceRequest::decode(body).unwrap();
                                let mut received = s.0.lock().unwrap();
                                received.encodings.push(encoding);
                                received.metrics.push(req);
                                ExportMetricsServiceResponse::default().encode_to_vec()
                            }
                        }),
                    )
                    .route(
                        "/v1/logs",
                        post({
                            let s = s.clone();
                            move |headers: HeaderMap, body: Bytes| async move {
                                s.1.wait().await;
                                let (encoding, body) = http_body(&headers, body);
                                let req = ExportLogsServiceRequest::decode(body).unwrap();
                                let mut received = s.0.lock().unwrap();
                                received.encodings.push(encoding);
                                received.logs.push(req);
                                ExportLogsServiceResponse::default().encode_to_vec()
                            }
                        }),
                    );
                tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
                tonic::transport::Server::builder()
                    .add_service(
                        TraceServiceServer::new(thread_sink.clone())
                            .accept_compressed(CompressionEncoding::Gzip),
                    )
                    .add_service(
                        MetricsServiceServer::new(thread_sink.clone())
                            .accept_compressed(CompressionEncoding::Gzip),
                    )
                    .add_service(
                        LogsServiceServer::new(thread_sink)
                            .accept_compressed(CompressionEncoding::Gzip),
                    )
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc))
                    .await
                    .unwrap();
            });
        });
        let (grpc, http) = rx.recv().unwrap();
        Collector { grpc, http, sink }
    }

    /// Lets held and future exports through.
    pub fn release(&self) {
        self.sink.1.open();
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Everything received, as debug text (for "the secret is nowhere").
    pub fn dump(&self) -> String {
        format!("{:?}", self.sink.0.lock().unwrap())
    }

    /// The compression of every export so far (`grpc gzip`, `http identity`).
    pub fn encodings(&self) -> Vec<String> {
        self.sink.0.lock().unwrap().encodings.clone()
    }

    pub fn spans(&self) -> Vec<Span> {
        let r = self.sink.0.lock().unwrap();
        r.traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    pub fn span_resources(&self) -> Vec<Vec<KeyValue>> {
        let r = self.sink.0.lock().unwrap();
        r.traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .filter_map(|rs| rs.resource.as_ref().map(|res| res.attributes.clone()))
            .collect()
    }

    pub fn metrics(&self) -> Vec<Metric> {
        let r = self.sink.0.lock().unwrap();
        r.metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| sm.metrics.clone())
            .collect()
    }

    pub fn logs(&self) -> Vec<LogRecord> {
        let r = self.sink.0.lock().unwrap();
        r.logs
            .iter()
            .flat_map(|l| &l.resource_logs)
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| sl.log_records.clone())
            .collect()
    }
}

/// The string form of an attribute value.
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            any_value::Value::IntValue(i) => i.to_string(),
            any_value::Value::BoolValue(b) => b.to_string(),
            any_value::Value::DoubleValue(d) => d.to_string(),
            other => format!("{other:?}"),
        })
}

pub fn body_text(body: &Option<AnyValue>) -> Option<String> {
    match body.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits (real time, bounded) until `check` holds; collector delivery is
/// asynchronous.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
