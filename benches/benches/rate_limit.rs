//! Rate limiting per request through a tower service, in memory, keyed by
//! peer IP, with rate-limit headers on:
//!
//! - `allowed`: the bare service, a raw governor `check_key` (the floor
//!   any governor-based layer pays), tower_governor and appenv's layer over
//!   the same bare service;
//! - `limited`: the 429 path of tower_governor and appenv, next to appenv's
//!   allowed path.
//!
//! Clients cycle through 1024 addresses; the allowed benches use a quota no
//! client reaches (10^9 per second), the 429 benches one every client has
//! used up (1 per hour).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use appenv_benches::{bare_service, client_ips, run_requests};
use appenv_config::{AppEnv, Section};
use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use tower::Layer;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::PeerIpKeyExtractor;

const CLIENTS: usize = 1024;
const HUGE: u32 = 1_000_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// appenv's production defaults (IETF headers, strict) with `max` per
/// `window`.
fn appenv_layer(max: u32, window: Duration) -> RateLimitLayer {
    let config = RateLimitConfig::defaults(AppEnv::Production);
    RateLimitLayer::builder(&config)
        .quota(max, window)
        .build()
        .expect("valid rate-limit config")
}

/// tower_governor keyed by peer IP with its `x-ratelimit-*` headers on.
fn tower_governor_layer(
    period: Duration,
    burst: u32,
) -> GovernorLayer<
    PeerIpKeyExtractor,
    governor::middleware::StateInformationMiddleware,
    axum::body::Body,
> {
    let config = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(burst)
        .key_extractor(PeerIpKeyExtractor)
        .use_headers()
        .finish()
        .expect("valid governor config");
    GovernorLayer::new(config)
}

fn allowed(c: &mut Criterion) {
    let rt = runtime();
    let ips = client_ips(CLIENTS);
    let mut group = c.benchmark_group("rate_limit/allowed");

    group.bench_function("bare_service", |b| {
        let mut svc = bare_service();
        b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
    });

    group.bench_function("governor_check_key", |b| {
        let limiter = RateLimiter::keyed(Quota::per_second(
            NonZeroU32::new(HUGE).expect("non-zero quota"),
        ));
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % ips.len();
            let key: IpAddr = ips[i];
            assert!(limiter.check_key(&key).is_ok());
        });
    });

    group.bench_function("tower_governor", |b| {
        let mut svc = tower_governor_layer(Duration::from_nanos(1), HUGE).layer(bare_service());
        b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
    });

    group.bench_function("appenv", |b| {
        let mut svc = appenv_layer(HUGE, Duration::from_secs(1)).layer(bare_service());
        b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
    });
    group.finish();
}

fn limited(c: &mut Criterion) {
    let rt = runtime();
    let ips = client_ips(CLIENTS);
    let mut group = c.benchmark_group("rate_limit/limited");

    group.bench_function("tower_governor_429", |b| {
        let mut svc = tower_governor_layer(Duration::from_secs(3600), 1).layer(bare_service());
        // Use up every client's single request first.
        rt.block_on(run_requests(&mut svc, &ips, CLIENTS as u64, 200));
        b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 429)));
    });

    group.bench_function("appenv_429", |b| {
        let mut svc = appenv_layer(1, Duration::from_secs(3600)).layer(bare_service());
        rt.block_on(run_requests(&mut svc, &ips, CLIENTS as u64, 200));
        b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 429)));
    });

    group.bench_function("appenv_allowed", |b| {
        let mut svc = appenv_layer(HUGE, Duration::from_secs(1)).layer(bare_service());
        b.iter_custom(|iters| rt.block_on(run_requests(&mut svc, &ips, iters, 200)));
    });
    group.finish();
}

criterion_group!(benches, allowed, limited);
criterion_main!(benches);
