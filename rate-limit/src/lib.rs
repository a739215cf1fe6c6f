//! Tower rate limiting on governor's GCRA that picks its behaviour from
//! `APP_ENV`: off in local, on in staging, strict in production; with
//! trusted-proxy client keys, IETF `RateLimit` fields, bounded memory and a
//! Redis backend shared by every replica.
//!
//! ```
//! use appenv_config::{AppEnv, Section};
//! use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
//! use axum::{Router, routing::get};
//!
//! let config = RateLimitConfig::defaults(AppEnv::Production); // or from the loader
//! let app: Router = Router::new()
//!     .route("/v1/events", get(|| async { "ok" }))
//!     .layer(RateLimitLayer::new(&config).expect("valid rate-limit config"));
//! // Serve with `app.into_make_service_with_connect_info::<SocketAddr>()`
//! // so the layer sees the peer address.
//! ```
//!
//! | feature | default | what |
//! |---|---|---|
//! | `axum` | on | reads the peer address from axum's `ConnectInfo<SocketAddr>` |
//! | `redis-tls` | on | `rediss://` through rustls (ring provider), private CA through `redis_ca_file` |
//! | `redis-cluster` | on | several comma-separated node URLs mean a Redis Cluster |
//!
//! MSRV: the workspace's `rust-version` (1.94).
#![doc = include_str!("docs/overview.md")]

mod allow;
mod body;
#[cfg(feature = "redis")]
mod breaker;
mod clock;
mod config;
mod decision;
mod error;
mod future;
mod headers;
mod key;
mod layer;
mod limiter;
mod local;
#[cfg(feature = "redis")]
mod redis_backend;
#[cfg(feature = "redis")]
mod redis_url;
mod route;
mod service;
mod stats;
mod store;

pub use body::ResponseBody;
pub use config::{
    DEFAULT_REDIS_CONNECT_TIMEOUT_MS, DEFAULT_REDIS_TIMEOUT_MS, FailureMode, HeaderStyle, KeyKind,
    KeyPart, Overflow, RateLimitConfig, StateStore,
};
pub use decision::{Decision, DecisionSource};
pub use error::Error;
pub use future::ResponseFuture;
pub use headers::{
    PROBLEM_QUOTA_EXCEEDED, PROBLEM_REDUCED_CAPACITY, RATELIMIT, RATELIMIT_POLICY,
    RESPONSE_HEADERS, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
pub use key::{ClientKey, KeyRequest};
pub use layer::{RateLimitBuilder, RateLimitLayer};
pub use route::RouteQuota;
pub use service::RateLimit;
pub use stats::Stats;
