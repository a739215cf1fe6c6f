//! Resident memory growth after many distinct client keys: appenv's
//! in-memory limiter with its default key cap against governor's keyed
//! limiter, which keeps every key until the user calls `retain_recent`.
//!
//! Each side runs in its own child process (this binary re-executed with
//! `APPENV_MEMORY_CASE`), so one side's freed memory cannot hide the
//! other's growth. Prints MiB; asserts nothing about the numbers.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::process::Command;

use appenv_benches::{client_ips, resident_mb, short_run};
use appenv_config::{AppEnv, Section};
use appenv_rate_limit::{ClientKey, RateLimitConfig, RateLimitLayer};
use governor::{Quota, RateLimiter};

const CASE_VAR: &str = "APPENV_MEMORY_CASE";
const KEYS_VAR: &str = "APPENV_MEMORY_KEYS";

fn main() {
    match std::env::var(CASE_VAR) {
        Ok(case) => child(&case),
        Err(_) => parent(),
    }
}

fn parent() {
    let keys: usize = if short_run() { 10_000 } else { 1_000_000 };
    println!("rate_limit_memory: resident growth after {keys} distinct client keys");
    for case in ["appenv", "governor"] {
        let exe = std::env::current_exe().expect("own executable");
        let output = Command::new(exe)
            .env(CASE_VAR, case)
            .env(KEYS_VAR, keys.to_string())
            .output()
            .expect("run the memory case");
        assert!(
            output.status.success(),
            "memory case {case} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

fn child(case: &str) {
    let keys: usize = std::env::var(KEYS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("key count");
    let ips = client_ips(keys);
    let before = resident_mb().unwrap_or(f64::NAN);
    // Each case reads the resident size while its limiter is still alive.
    let (after, detail) = match case {
        "appenv" => appenv(&ips),
        "governor" => governor_keyed(&ips),
        other => panic!("unknown memory case {other}"),
    };
    println!(
        "  {case:<9} growth {:>8.1} MiB  (rss {before:.1} -> {after:.1} MiB; {detail})",
        after - before
    );
}

/// Production defaults: 100 per minute, `max_tracked_keys` 100 000.
/// Returns the resident size with the limiter alive, and what it holds.
fn appenv(ips: &[IpAddr]) -> (f64, String) {
    let config = RateLimitConfig::defaults(AppEnv::Production);
    let layer = RateLimitLayer::new(&config).expect("valid rate-limit config");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        for ip in ips {
            std::hint::black_box(layer.check(&ClientKey::from_ip(*ip), 1).await);
        }
    });
    let after = resident_mb().unwrap_or(f64::NAN);
    let stats = layer.stats();
    let detail = format!(
        "tracked {} keys, {} decisions in overflow; cap {}",
        stats.tracked_keys, stats.overflowed, config.max_tracked_keys
    );
    (after, detail)
}

/// governor's keyed limiter with the same quota and no `retain_recent`.
fn governor_keyed(ips: &[IpAddr]) -> (f64, String) {
    let limiter = RateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(100).expect("non-zero quota"),
    ));
    for ip in ips {
        std::hint::black_box(limiter.check_key(ip).is_ok());
    }
    let after = resident_mb().unwrap_or(f64::NAN);
    (after, format!("tracked {} keys, unbounded", limiter.len()))
}
