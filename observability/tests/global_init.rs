//! The global `init`: once per process, a second call is an error, never a
//! panic. (Alone in its test binary because it installs the global
//! subscriber.)

use appenv_config::{AppEnv, Section};
use appenv_observability::{Error, TelemetryConfig, init};

#[tokio::test]
async fn second_init_returns_an_error_and_the_first_keeps_working() {
    let config = TelemetryConfig::defaults(AppEnv::Staging).with_service("svc", "0.1.0");
    let guard = init(AppEnv::Staging, &config).expect("first init");
    let second = init(AppEnv::Staging, &config);
    assert!(
        matches!(second, Err(Error::AlreadyInitialized)),
        "{second:?}"
    );
    let third = init(
        AppEnv::Production,
        &TelemetryConfig::defaults(AppEnv::Production),
    );
    assert!(matches!(third, Err(Error::AlreadyInitialized)), "{third:?}");

    // The first subscriber is the global one, with the W3C propagator.
    assert!(tracing::dispatcher::has_been_set());
    let mut carrier = std::collections::HashMap::new();
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let span = tracing::info_span!("outgoing");
        let cx = span.context();
        opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    }
    assert!(carrier.contains_key("traceparent"), "{carrier:?}");

    // `inject_context` writes the current span's context into an outgoing
    // request's headers with those propagators.
    let mut headers = http::HeaderMap::new();
    appenv_observability::inject_context(&mut headers);
    assert!(headers.is_empty(), "no span, nothing injected: {headers:?}");
    let span = tracing::info_span!("calling inventory");
    let expected = {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        format!("00-{}-{}-01", sc.trace_id(), sc.span_id())
    };
    span.in_scope(|| appenv_observability::inject_context(&mut headers));
    assert_eq!(headers["traceparent"], expected.as_str());
    // Dropped inside an async context: must neither panic nor hang.
    drop(guard);
}
