//! Redis backend throughput: decisions per second from 16 concurrent tasks
//! on loopback, with p50/p99 per decision, for appenv's Redis backend
//! (`RateLimitLayer::check`) against the raw `redis` crate running the same
//! Lua script with `EVALSHA` over one shared `ConnectionManager`.
//!
//! Needs Redis at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`);
//! skips with a message when it cannot be reached (fails under `CI`).
//! Prints the numbers; asserts only that every decision came from Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use appenv_benches::{Service, client_ips, service_url, short_run, unreachable};
use appenv_config::{AppEnv, SecretUrl, Section};
use appenv_rate_limit::{ClientKey, DecisionSource, RateLimitConfig, RateLimitLayer, StateStore};

const TASKS: usize = 16;
const CLIENTS: usize = 1024;
/// 1 000 000 per minute: no client of the bench reaches it.
const MAX: u32 = 1_000_000;
const WINDOW: Duration = Duration::from_secs(60);

/// The GCRA script of appenv's Redis backend, taken from its source so both
/// sides run exactly the same script (the crate does not export it).
fn appenv_script() -> &'static str {
    let source = include_str!("../../rate-limit/src/redis_backend.rs");
    let start = source
        .find("const GCRA_LUA: &str = r#\"")
        .expect("appenv-rate-limit keeps its script in GCRA_LUA")
        + "const GCRA_LUA: &str = r#\"".len();
    let len = source[start..].find("\"#;").expect("end of GCRA_LUA");
    &source[start..start + len]
}

struct Run {
    decisions: usize,
    elapsed: Duration,
    latencies_ns: Vec<u64>,
}

impl Run {
    fn report(&mut self, name: &str) -> f64 {
        self.latencies_ns.sort_unstable();
        let pct = |p: f64| {
            let i = ((self.latencies_ns.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_ns[i] as f64 / 1000.0
        };
        let rate = self.decisions as f64 / self.elapsed.as_secs_f64();
        println!(
            "  {name:<16} {rate:>10.0} decisions/s   p50 {:>7.1} us   p99 {:>7.1} us   ({} decisions in {:.1} s)",
            pct(0.50),
            pct(0.99),
            self.decisions,
            self.elapsed.as_secs_f64()
        );
        rate
    }
}

/// Runs `TASKS` tasks calling `decide(task, i)` in a loop for `duration`.
async fn drive<F, Fut>(duration: Duration, decide: F) -> Run
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let decide = Arc::new(decide);
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let decide = Arc::clone(&decide);
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut i = task;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                decide(task, i).await;
                latencies.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
                i += TASKS;
            }
            latencies
        }));
    }
    let mut latencies_ns = Vec::new();
    for handle in handles {
        latencies_ns.extend(handle.await.expect("bench task"));
    }
    Run {
        decisions: latencies_ns.len(),
        elapsed: start.elapsed(),
        latencies_ns,
    }
}

fn main() {
    let short = short_run();
    let duration = if short {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(5)
    };
    let url = service_url(Service::Redis);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let client = match redis::Client::open(url.as_str()) {
            Ok(client) => client,
            Err(err) => return unreachable(Service::Redis, "rate_limit_redis", &err),
        };
        let conn = match tokio::time::timeout(
            Duration::from_secs(2),
            redis::aio::ConnectionManager::new(client),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return unreachable(Service::Redis, "rate_limit_redis", &err),
            Err(_) => return unreachable(Service::Redis, "rate_limit_redis", &"timed out"),
        };
        let prefix = format!("appenv-bench-{}", std::process::id());
        let ips = Arc::new(client_ips(CLIENTS));

        let mut config = RateLimitConfig::defaults(AppEnv::Production);
        config.backend = StateStore::Redis;
        config.redis_url = SecretUrl::new(url.clone());
        config.redis_prefix = prefix.clone();
        let layer = RateLimitLayer::builder(&config)
            .policy("ours")
            .quota(MAX, WINDOW)
            .build()
            .expect("valid rate-limit config");

        // The arguments appenv sends for this quota: the emission interval
        // and the tolerance in microseconds, burst = max.
        let t_us = u64::try_from((WINDOW / MAX).as_micros()).expect("interval fits");
        let tau_us = t_us * u64::from(MAX - 1);
        let script = Arc::new(redis::Script::new(appenv_script()));

        println!(
            "rate_limit_redis: {TASKS} tasks, {CLIENTS} client keys, {:.1} s per side",
            duration.as_secs_f64()
        );
        let mut rates = Vec::new();
        // Warm both sides up (connections, script cache), then measure.
        for (round, measure) in [(duration / 5, false), (duration, true)] {
            let appenv_side = {
                let layer = layer.clone();
                let ips = Arc::clone(&ips);
                drive(round, move |_, i| {
                    let layer = layer.clone();
                    let key = ClientKey::from_ip(ips[i % ips.len()]);
                    async move {
                        let decision = layer.check(&key, 1).await;
                        assert_eq!(
                            decision.source,
                            DecisionSource::Redis,
                            "decided without Redis"
                        );
                        assert!(decision.allowed);
                    }
                })
                .await
            };
            let raw_side = {
                let ips = Arc::clone(&ips);
                let prefix = format!("{prefix}:raw:");
                let conn = conn.clone();
                let script = Arc::clone(&script);
                drive(round, move |_, i| {
                    let mut conn = conn.clone();
                    let script = Arc::clone(&script);
                    let key = format!("{prefix}ip:{}", ips[i % ips.len()]);
                    async move {
                        let (allowed, ..): (i64, i64, i64, i64) = script
                            .key(key)
                            .arg(t_us)
                            .arg(tau_us)
                            .arg(1)
                            .invoke_async(&mut conn)
                            .await
                            .expect("EVALSHA");
                        assert_eq!(allowed, 1);
                    }
                })
                .await
            };
            if measure {
                let (mut ours, mut raw) = (appenv_side, raw_side);
                rates.push(ours.report("appenv"));
                rates.push(raw.report("raw EVALSHA"));
            }
        }
        println!("  ratio appenv / raw: {:.2}", rates[0] / rates[1]);

        // Clean up every key of this run.
        let mut conn = conn;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(500) {
            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
        }
    });
}
