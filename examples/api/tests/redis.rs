//! Two example-api processes sharing Redis share one quota.

mod support;

use support::*;

#[test]
fn two_processes_sharing_redis_share_one_quota() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique("example-api-test");
    let vars = [
        ("DISABLE_RATE_LIMITING", "false"),
        ("RATE_LIMIT_BACKEND", "redis"),
        ("RATE_LIMIT_REDIS_URL", redis.as_str()),
        ("RATE_LIMIT_REDIS_PREFIX", prefix.as_str()),
        // Never fail open: a broken Redis would make this test pass falsely.
        ("RATE_LIMIT_FAILURE_MODE", "closed"),
        ("RATE_LIMIT_REDIS_TIMEOUT_MS", "2000"),
        ("RATE_LIMIT_MAX", "4"),
        ("RATE_LIMIT_WINDOW_MS", "3600000"),
    ];
    let (setup_a, setup_b) = (Setup::new(&vars), Setup::new(&vars));
    let (a, b) = (setup_a.spawn().ready(), setup_b.spawn().ready());

    for server in [&a, &b, &a, &b] {
        let response = server.get("/v1/events");
        assert_eq!(response.status(), 200, "{}", server.output());
    }
    // Four requests spent the shared quota: both replicas refuse now.
    for server in [&a, &b] {
        let response = server.get("/v1/events");
        assert_eq!(response.status(), 429, "{}", server.output());
        assert!(response.headers().get("retry-after").is_some());
    }
}
