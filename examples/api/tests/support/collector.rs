//! An in-process OTLP/HTTP (protobuf) collector for the spawned binary:
//! decodes exported spans with opentelemetry-proto's messages.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// Receives `POST /v1/traces`; other signals are accepted and dropped.
pub struct Collector {
    pub addr: SocketAddr,
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

impl Collector {
    pub fn start() -> Collector {
        let traces = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&traces);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new()
                    .route(
                        "/v1/traces",
                        post(move |body: Bytes| async move {
                            let request = ExportTraceServiceRequest::decode(body).unwrap();
                            sink.lock().unwrap().push(request);
                            ExportTraceServiceResponse::default().encode_to_vec()
                        }),
                    )
                    .route("/v1/metrics", post(|| async { Vec::<u8>::new() }))
                    .route("/v1/logs", post(|| async { Vec::<u8>::new() }));
                axum::serve(listener, app).await.unwrap();
            });
        });
        Collector {
            addr: rx.recv().unwrap(),
            traces,
        }
    }

    /// The base endpoint, for `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.traces
            .lock()
            .unwrap()
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }
}

/// The string form of a span attribute.
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            any_value::Value::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}
