//! appenv-rate-limit's decisions as OpenTelemetry metrics.

use appenv_rate_limit::RateLimitLayer;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{MeterProvider, ObservableCounter, ObservableGauge};

/// The observable instruments reading a [`RateLimitLayer`]'s counters at
/// each metric collection. Keep it alive as long as the metrics should be
/// reported.
///
/// Instruments (all with the attribute `rate_limit.policy`):
/// - `appenv.rate_limit.decisions` (counter, `{request}`), by `decision`:
///   `allowed`, `limited`, `shadow_limited`, `unidentified`, `allow_listed`,
///   `overflowed`, `fallback`, `fail_open`, `fail_closed`;
/// - `appenv.rate_limit.backend_errors` (counter, `{error}`);
/// - `appenv.rate_limit.backend_outages` (counter, `{outage}`): times the
///   Redis backend was declared down (its breaker opened from healthy,
///   an unreachable Redis at startup included);
/// - `appenv.rate_limit.tracked_keys` (gauge, `{key}`);
/// - `appenv.rate_limit.backend_down` (gauge, 1 while Redis is considered down).
#[derive(Debug)]
#[must_use = "the metrics are reported while this is alive"]
pub struct RateLimitMetrics {
    _decisions: ObservableCounter<u64>,
    _backend_errors: ObservableCounter<u64>,
    _backend_outages: ObservableCounter<u64>,
    _tracked_keys: ObservableGauge<u64>,
    _backend_down: ObservableGauge<u64>,
}

/// Reports `layer`'s decisions through `provider` (for the global one:
/// `&opentelemetry::global::meter_provider()`, or
/// [`TelemetryGuard::meter_provider`](crate::TelemetryGuard::meter_provider)).
/// `policy` names the layer (its route group) in the attributes.
pub fn rate_limit_metrics<P: MeterProvider + ?Sized>(
    layer: &RateLimitLayer,
    policy: &str,
    provider: &P,
) -> RateLimitMetrics {
    let meter = provider.meter("appenv-observability");
    let policy = KeyValue::new("rate_limit.policy", policy.to_owned());

    let (l, p) = (layer.clone(), policy.clone());
    let decisions = meter
        .u64_observable_counter("appenv.rate_limit.decisions")
        .with_unit("{request}")
        .with_description("Rate-limit decisions by outcome.")
        .with_callback(move |observer| {
            let s = l.stats();
            for (decision, value) in [
                ("allowed", s.allowed),
                ("limited", s.limited),
                ("shadow_limited", s.shadow_limited),
                ("unidentified", s.unidentified),
                ("allow_listed", s.allow_listed),
                ("overflowed", s.overflowed),
                ("fallback", s.fallback),
                ("fail_open", s.fail_open),
                ("fail_closed", s.fail_closed),
            ] {
                observer.observe(value, &[p.clone(), KeyValue::new("decision", decision)]);
            }
        })
        .build();

    let (l, p) = (layer.clone(), policy.clone());
    let backend_errors = meter
        .u64_observable_counter("appenv.rate_limit.backend_errors")
        .with_unit("{error}")
        .with_description("Redis calls that failed or timed out.")
        .with_callback(move |observer| {
            observer.observe(l.stats().backend_errors, std::slice::from_ref(&p))
        })
        .build();

    let (l, p) = (layer.clone(), policy.clone());
    let backend_outages = meter
        .u64_observable_counter("appenv.rate_limit.backend_outages")
        .with_unit("{outage}")
        .with_description("Times the Redis backend was declared down.")
        .with_callback(move |observer| {
            observer.observe(l.stats().backend_outages, std::slice::from_ref(&p))
        })
        .build();

    let (l, p) = (layer.clone(), policy.clone());
    let tracked_keys = meter
        .u64_observable_gauge("appenv.rate_limit.tracked_keys")
        .with_unit("{key}")
        .with_description("Client keys tracked in memory.")
        .with_callback(move |observer| {
            let keys = u64::try_from(l.stats().tracked_keys).unwrap_or(u64::MAX);
            observer.observe(keys, std::slice::from_ref(&p));
        })
        .build();

    let (l, p) = (layer.clone(), policy);
    let backend_down = meter
        .u64_observable_gauge("appenv.rate_limit.backend_down")
        .with_description("1 while the Redis backend is considered down.")
        .with_callback(move |observer| {
            observer.observe(u64::from(l.stats().backend_down), std::slice::from_ref(&p));
        })
        .build();

    RateLimitMetrics {
        _decisions: decisions,
        _backend_errors: backend_errors,
        _backend_outages: backend_outages,
        _tracked_keys: tracked_keys,
        _backend_down: backend_down,
    }
}
