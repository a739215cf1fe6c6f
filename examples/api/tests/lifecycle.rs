//! The process lifecycle of the real binary: SIGTERM turns readiness 503
//! while requests are still served, slow clients do not hold the exit past
//! the drain deadline, and the spans of completed requests are flushed to
//! the collector before the process exits 0.

#[path = "support/collector.rs"]
mod collector;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use collector::Collector;
use support::*;

#[test]
fn readiness_is_503_from_sigterm_while_requests_are_still_served() {
    let setup = Setup::new(&[("SHUTDOWN_DELAY_MS", "4000"), ("SHUTDOWN_DRAIN_MS", "2000")]);
    let server = setup.spawn().ready();
    assert_eq!(server.get("/readyz").status(), 200);

    server.terminate();
    // The signal reaches the process asynchronously; readiness must turn
    // 503 long before the 4 s delay ends (the bound only catches a hang).
    let start = Instant::now();
    loop {
        let response = server.get("/readyz");
        if response.status() == 503 {
            let body: serde_json::Value = response.json().unwrap();
            assert_eq!(body["status"], "shutting_down", "{body}");
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "readiness still 200 after SIGTERM:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // During the delay the service still serves, on new connections too.
    assert_eq!(server.get("/v1/events").status(), 200);
    assert_eq!(server.get("/healthz").status(), 200);
    assert_eq!(server.get("/readyz").status(), 503);

    let (code, output) = server.wait();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("readiness answers 503"), "{output}");
    assert!(output.contains("requests drained"), "{output}");
}

#[test]
fn a_half_sent_request_does_not_delay_exit_past_the_drain_deadline() {
    let collector = Collector::start();
    let endpoint = collector.endpoint();
    let setup = Setup::new(&[
        ("JWT_SECRET", SENTINEL_JWT),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("SHUTDOWN_DELAY_MS", "0"),
        ("SHUTDOWN_DRAIN_MS", "1000"),
        // Only the drain deadline can close the slow clients below.
        ("HTTP_HEADER_READ_TIMEOUT_MS", "120000"),
    ]);
    let server = setup.spawn().ready();
    for _ in 0..3 {
        assert_eq!(server.get("/v1/events").status(), 200);
    }

    // One client stops in the middle of its headers, another in the middle
    // of its body (the handler is waiting for the JSON).
    let addr = format!("127.0.0.1:{}", server.port);
    let mut half_headers = TcpStream::connect(&addr).unwrap();
    half_headers
        .write_all(b"GET /v1/events HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .unwrap();
    let mut half_body = TcpStream::connect(&addr).unwrap();
    let token = token(SENTINEL_JWT, "slowpoke");
    half_body
        .write_all(
            format!(
                "POST /v1/events HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\n\
                 content-type: application/json\r\ncontent-length: 200\r\n\r\n{{\"type\":"
            )
            .as_bytes(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let signalled = Instant::now();
    server.terminate();
    let (code, output) = server.wait();
    let took = signalled.elapsed();
    assert_eq!(code, Some(0), "{output}");
    // Drain deadline 1 s plus the telemetry flush; without the deadline the
    // slow clients would hold the process for the 120 s header timeout.
    // The bound is generous (a loaded machine), far below either.
    assert!(
        took < Duration::from_secs(20),
        "exit took {took:?}:\n{output}"
    );
    assert!(output.contains("drain deadline passed"), "{output}");

    // Both slow connections were closed by the server.
    for stream in [&mut half_headers, &mut half_body] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = Vec::new();
        let read = stream.read_to_end(&mut buf);
        assert!(read.is_ok(), "connection left open: {read:?}");
    }

    // The completed requests' spans were flushed before the exit.
    let names: Vec<String> = collector.spans().into_iter().map(|s| s.name).collect();
    let listed = names.iter().filter(|n| *n == "GET /v1/events").count();
    assert!(listed >= 3, "spans received: {names:?}");
    assert_no_secret("output", &output);
}
