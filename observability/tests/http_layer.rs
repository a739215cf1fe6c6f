//! `HttpTelemetryLayer` on a plain tower service (no axum routing): generic
//! bodies, request ids, method-only span names, no query or headers
//! recorded, service errors.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;

use appenv_config::{AppEnv, Section};
use appenv_observability::{HttpTelemetryLayer, RequestId, TelemetryBuilder, TelemetryConfig};
use http::{Method, Request, Response, StatusCode};
use serde_json::Value;
use support::Capture;
use tower::{Layer, ServiceExt, service_fn};

const SENTINEL: &str = "SENTINEL-h77p";

async fn handler(req: Request<String>) -> Result<Response<Vec<u8>>, Infallible> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .expect("request id extension")
        .clone();
    tracing::info!(request = %id, "inside the handler");
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(b"done".to_vec())
        .unwrap())
}

fn lines(capture: &Capture) -> Vec<Value> {
    capture
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn plain_tower_service_gets_request_id_and_semconv_span_without_query_or_headers() {
    let config = TelemetryConfig::defaults(AppEnv::Staging);
    let capture = Capture::default();
    let (dispatch, _guard) = TelemetryBuilder::new(AppEnv::Staging, &config)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let svc = HttpTelemetryLayer::new().layer(service_fn(handler));

    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!(
            "https://api.example.com/v1/items?api_key={SENTINEL}"
        ))
        .header("authorization", format!("Bearer {SENTINEL}"))
        .header("x-api-key", SENTINEL)
        .header("x-request-id", "bad id with spaces")
        .body(String::from("payload"))
        .unwrap();
    req.extensions_mut()
        .insert("203.0.113.9:5555".parse::<SocketAddr>().unwrap());
    let response = svc.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "bad id with spaces", "malformed ids are replaced");
    assert_eq!(id.len(), 36);

    let out = capture.text();
    assert!(!out.contains(SENTINEL), "query or header leaked:\n{out}");
    let lines = lines(&capture);
    let inside = lines
        .iter()
        .find(|l| l["message"] == "inside the handler")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(inside["fields"]["request"], id.as_str());
    let span = &inside["span"];
    assert_eq!(span["name"], "HTTP request");
    assert_eq!(
        span["otel.name"], "POST",
        "no route known: the method alone"
    );
    assert_eq!(span["http.request.method"], "POST");
    assert_eq!(span["url.path"], "/v1/items");
    assert_eq!(span["url.scheme"], "https");
    assert_eq!(span["client.address"], "203.0.113.9");
    assert_eq!(span["request_id"], id.as_str());
    assert_eq!(inside["trace_id"].as_str().map(str::len), Some(32));
}

#[tokio::test]
async fn unknown_methods_are_other_and_service_errors_mark_the_span() {
    let config = TelemetryConfig::defaults(AppEnv::Staging);
    let capture = Capture::default();
    let (dispatch, _guard) = TelemetryBuilder::new(AppEnv::Staging, &config)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let failing = service_fn(|_req: Request<()>| async {
        Err::<Response<()>, std::io::Error>(std::io::Error::other("backend gone"))
    });
    let svc = HttpTelemetryLayer::new().layer(failing);
    let req = Request::builder()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri("/cache")
        .body(())
        .unwrap();
    assert!(svc.oneshot(req).await.is_err());
    let lines = lines(&capture);
    let failed = lines
        .iter()
        .find(|l| l["message"] == "request failed in the service")
        .unwrap_or_else(|| panic!("{}", capture.text()));
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["span"]["otel.name"], "HTTP");
    assert_eq!(failed["span"]["http.request.method"], "_OTHER");
    assert_eq!(failed["span"]["otel.status_code"], "ERROR");
    assert_eq!(failed["span"]["error.type"], "std::io::error::Error");
}
