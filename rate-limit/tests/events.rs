//! Rate-limit decisions are `tracing` events under the target
//! `appenv_rate_limit`, with the fields the observability crate turns into
//! metrics. In a binary of its own so the recording subscriber is global.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use appenv_config::{AppEnv, Section};
use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt;

fn config(env: AppEnv, max: u32, window_ms: u64) -> RateLimitConfig {
    let mut cfg = RateLimitConfig::defaults(env);
    cfg.enabled = true;
    cfg.max = max;
    cfg.window_ms = window_ms;
    cfg
}

fn app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer)
}

fn request(peer: &str) -> Request<Body> {
    let mut req = Request::builder().uri("/").body(Body::empty()).unwrap();
    let peer: std::net::IpAddr = peer.parse().unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(peer, 40000)));
    req
}

async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    app.clone().oneshot(req).await.unwrap().status()
}

/// Records the events under the crate's target.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "appenv_rate_limit" {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut fields = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[tokio::test(start_paused = true)]
async fn decisions_are_tracing_events_with_metric_fields() {
    use tracing_subscriber::layer::SubscriberExt;
    let recorder = Recorder::default();
    // The only test in this binary, so the subscriber can be the global
    // default: a thread-scoped one races with other tests' first use of the
    // same callsites (tracing caches each callsite's interest globally).
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .unwrap();

    let app = app(RateLimitLayer::new(&config(AppEnv::Production, 1, 60_000)).unwrap());
    status(&app, request("192.0.2.1")).await;
    status(&app, request("192.0.2.1")).await;

    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].contains("event=\"decision\""), "{events:?}");
    assert!(events[0].contains("outcome=\"allowed\""), "{events:?}");
    assert!(events[0].contains("source=\"memory\""), "{events:?}");
    assert!(events[1].starts_with("INFO"), "{events:?}");
    assert!(events[1].contains("outcome=\"limited\""), "{events:?}");
    assert!(events[1].contains("policy=default"), "{events:?}");
    assert!(events[1].contains("client=ip:192.0.2.1"), "{events:?}");
}
