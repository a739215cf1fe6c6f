//! The layer in memory: quotas, headers, client keys, key cap, shadow mode,
//! per-route quotas, under axum and a plain tower service. Time is tokio's
//! paused clock.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use appenv_config::{AppEnv, ClientAddrResolver, ClientIpHeader, Section};
use appenv_rate_limit::{
    ClientKey, HeaderStyle, KeyKind, Overflow, RATELIMIT, RATELIMIT_POLICY, RateLimitConfig,
    RateLimitLayer,
};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};

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

fn request(peer: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().uri("/");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut req = builder.body(Body::empty()).unwrap();
    let peer: std::net::IpAddr = peer.parse().unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(peer, 40000)));
    req
}

async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    app.clone().oneshot(req).await.unwrap().status()
}

/// `RateLimit` / `RateLimit-Policy` parsed back with sfv's parser: one
/// (policy name, integer parameters) per list member.
fn parse_all(headers: &HeaderMap, name: &http::HeaderName) -> Vec<(String, Vec<(String, i64)>)> {
    let raw = headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_str()
        .unwrap();
    let list: sfv::List = sfv::Parser::new(raw)
        .parse()
        .expect("valid structured field");
    list.iter()
        .map(|entry| {
            let sfv::ListEntry::Item(item) = entry else {
                panic!("{name} member is not an item: {raw}");
            };
            let policy = item
                .bare_item
                .as_string()
                .expect("policy name is an sf-string")
                .as_str()
                .to_owned();
            let params = item
                .params
                .iter()
                .map(|(k, v)| {
                    let v = v.as_integer().expect("integer parameter");
                    (k.as_str().to_owned(), i64::from(v))
                })
                .collect();
            (policy, params)
        })
        .collect()
}

/// The only member of a field.
fn parse_field(headers: &HeaderMap, name: &http::HeaderName) -> (String, Vec<(String, i64)>) {
    let mut all = parse_all(headers, name);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn param(params: &[(String, i64)], name: &str) -> i64 {
    params
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("parameter {name} missing in {params:?}"))
        .1
}

#[tokio::test(start_paused = true)]
async fn quota_is_exact_at_the_boundary() {
    // 5 per 10 s: one request every 2 s, burst 5.
    let app = app(RateLimitLayer::new(&config(AppEnv::Staging, 5, 10_000)).unwrap());
    for i in 0..5 {
        assert_eq!(
            status(&app, request("192.0.2.1", &[])).await,
            StatusCode::OK,
            "request {i}"
        );
    }
    assert_eq!(
        status(&app, request("192.0.2.1", &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // One interval later, exactly one more request passes; a nanosecond
    // earlier, none does.
    tokio::time::advance(Duration::from_secs(2) - Duration::from_nanos(1)).await;
    assert_eq!(
        status(&app, request("192.0.2.1", &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::advance(Duration::from_nanos(1)).await;
    assert_eq!(
        status(&app, request("192.0.2.1", &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("192.0.2.1", &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // After a whole window the full burst is back, and not one more.
    tokio::time::advance(Duration::from_secs(10)).await;
    for _ in 0..5 {
        assert_eq!(
            status(&app, request("192.0.2.1", &[])).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        status(&app, request("192.0.2.1", &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn headers_parse_back_and_retry_after_matches_t() {
    // 3 per 1.5 s: an interval of 500 ms, so every wait is sub-second at
    // some point and must still round up to 1.
    let app = app(RateLimitLayer::new(&config(AppEnv::Production, 3, 1_500)).unwrap());

    let mut remaining = Vec::new();
    let mut resets = Vec::new();
    for _ in 0..3 {
        let res = app
            .clone()
            .oneshot(request("192.0.2.7", &[]))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (policy, params) = parse_field(res.headers(), &RATELIMIT);
        assert_eq!(policy, "default");
        remaining.push(param(&params, "r"));
        resets.push(param(&params, "t"));
        let (policy, params) = parse_field(res.headers(), &RATELIMIT_POLICY);
        assert_eq!(policy, "default");
        // The burst of 3 comes back in 1.5 s, advertised as 2 s: never
        // more at once than passes.
        assert_eq!((param(&params, "q"), param(&params, "w")), (3, 2));
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    // The whole burst is back 0.5 s, 1 s and 1.5 s later: rounded up.
    assert_eq!(resets, vec![1, 1, 2]);

    for step_ms in [0u64, 1, 200, 298] {
        tokio::time::advance(Duration::from_millis(step_ms)).await;
        let res = app
            .clone()
            .oneshot(request("192.0.2.7", &[]))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: i64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1, "Retry-After {retry_after}");
        let (_, params) = parse_field(res.headers(), &RATELIMIT);
        assert_eq!(param(&params, "r"), 0);
        assert_eq!(param(&params, "t"), retry_after, "Retry-After and t agree");
        // The quota really is available after Retry-After seconds.
        assert!(retry_after == 1);
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        status(&app, request("192.0.2.7", &[])).await,
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn the_policy_advertises_what_a_client_can_do_at_once() {
    // (max, window_ms, burst) → the advertised (q, w).
    for (max, window_ms, burst, advertised) in [
        (100, 60_000, 0, (100, 60)),
        (100, 60_000, 10, (10, 6)),
        (10, 1_000, 50, (50, 5)),
        (10, 500, 0, (10, 1)),
        (20, 250, 5, (5, 1)),
        (3, 1_500, 0, (3, 2)),
        // 60 s / 7 is rounded up to the nanosecond: the burst is back
        // 4 ns after the minute.
        (7, 60_000, 0, (7, 61)),
    ] {
        let mut cfg = config(AppEnv::Production, max, window_ms);
        cfg.burst = burst;
        cfg.header_style = HeaderStyle::Both;
        let app = app(RateLimitLayer::new(&cfg).unwrap());
        let first = app
            .clone()
            .oneshot(request("192.0.2.7", &[]))
            .await
            .unwrap();
        let (_, params) = parse_field(first.headers(), &RATELIMIT_POLICY);
        let (q, w) = (param(&params, "q"), param(&params, "w"));
        assert_eq!(
            (q, w),
            advertised,
            "max {max} per {window_ms} ms, burst {burst}"
        );
        assert_eq!(first.headers()["x-ratelimit-limit"], q.to_string().as_str());
        // `q` requests back to back pass (the first was one), the next
        // does not ...
        for i in 1..q {
            assert_eq!(
                status(&app, request("192.0.2.7", &[])).await,
                StatusCode::OK,
                "request {} of q={q}",
                i + 1
            );
        }
        assert_eq!(
            status(&app, request("192.0.2.7", &[])).await,
            StatusCode::TOO_MANY_REQUESTS,
            "request {} of q={q}",
            q + 1
        );
        // ... and after `w` seconds all `q` pass again.
        tokio::time::advance(Duration::from_secs(u64::try_from(w).unwrap())).await;
        for i in 0..q {
            assert_eq!(
                status(&app, request("192.0.2.7", &[])).await,
                StatusCode::OK,
                "after w: request {} of q={q}",
                i + 1
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn rejection_is_a_problem_document_with_legacy_headers_on_request() {
    let mut cfg = config(AppEnv::Production, 1, 60_000);
    cfg.header_style = HeaderStyle::Both;
    let app = app(RateLimitLayer::new(&cfg).unwrap());
    let ok = app
        .clone()
        .oneshot(request("192.0.2.9", &[]))
        .await
        .unwrap();
    assert_eq!(ok.headers()["x-ratelimit-limit"], "1");
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(ok.headers()["x-ratelimit-reset"], "60");

    let res = app
        .clone()
        .oneshot(request("192.0.2.9", &[]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["retry-after"], "60");
    assert_eq!(res.headers()["x-ratelimit-reset"], "60");
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc["type"],
        "https://iana.org/assignments/http-problem-types#quota-exceeded"
    );
    assert_eq!(doc["status"], 429);
    assert_eq!(doc["retry_after"], 60);
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("retry in 60 seconds")
    );
}

#[tokio::test(start_paused = true)]
async fn spoofed_forwarding_headers_from_an_untrusted_peer_do_not_change_the_key() {
    let cfg = config(AppEnv::Production, 2, 60_000);
    let app = app(behind(&cfg, &["10.0.0.0/8"], ClientIpHeader::XForwardedFor));
    let spoofs = [
        ("x-forwarded-for", "1.1.1.1"),
        ("x-forwarded-for", "2.2.2.2, 10.0.0.1"),
        ("forwarded", "for=3.3.3.3"),
        ("x-forwarded-for", "4.4.4.4"),
    ];
    let mut codes = Vec::new();
    for spoof in spoofs {
        codes.push(status(&app, request("203.0.113.50", &[spoof])).await);
    }
    assert_eq!(
        codes,
        vec![
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn trusted_proxy_chains_resolve_to_the_client() {
    let cfg = config(AppEnv::Production, 1, 60_000);
    let app = app(behind(
        &cfg,
        &["10.0.0.0/8", "192.168.0.0/16"],
        ClientIpHeader::XForwardedFor,
    ));
    // Client A behind two proxies, with a spoofed entry of its own.
    let a = [("x-forwarded-for", "6.6.6.6, 198.51.100.1, 192.168.0.5")];
    assert_eq!(status(&app, request("10.0.0.2", &a)).await, StatusCode::OK);
    assert_eq!(
        status(&app, request("10.0.0.2", &a)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Changing its spoofed part does not help A.
    let a2 = [("x-forwarded-for", "7.7.7.7, 198.51.100.1, 192.168.0.5")];
    assert_eq!(
        status(&app, request("10.0.0.3", &a2)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Client B through the same proxies has its own quota.
    let b = [("x-forwarded-for", "198.51.100.2, 192.168.0.5")];
    assert_eq!(status(&app, request("10.0.0.2", &b)).await, StatusCode::OK);
    // Behind a proxy that writes RFC 7239 Forwarded, the same walk.
    let forwarded = crate::app(behind(
        &cfg,
        &["10.0.0.0/8", "192.168.0.0/16"],
        ClientIpHeader::Forwarded,
    ));
    let a3 = [("forwarded", "for=198.51.100.1;proto=https, for=192.168.0.5")];
    assert_eq!(
        status(&forwarded, request("10.0.0.2", &a3)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&forwarded, request("10.0.0.2", &a3)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// A layer behind proxies in `trusted`, reading `header` from them.
fn behind(cfg: &RateLimitConfig, trusted: &[&str], header: ClientIpHeader) -> RateLimitLayer {
    let nets = trusted.iter().map(|s| s.parse().unwrap());
    RateLimitLayer::builder(cfg)
        .client_addr(ClientAddrResolver::new(nets, header))
        .build()
        .unwrap()
}

fn request_bytes(peer: &str, headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut req = request(peer, &[]);
    for (name, value) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    req
}

#[tokio::test(start_paused = true)]
async fn behind_a_trusted_proxy_no_other_header_changes_the_key() {
    // nginx with `$proxy_add_x_forwarded_for` appends the client it saw and
    // passes the client's own Forwarded, X-Real-IP, ... through untouched.
    let app = app(behind(
        &config(AppEnv::Production, 1, 60_000),
        &["10.0.0.0/8"],
        ClientIpHeader::XForwardedFor,
    ));
    let xff = ("x-forwarded-for", "198.51.100.1");
    assert_eq!(
        status(&app, request("10.0.0.2", &[xff])).await,
        StatusCode::OK
    );
    for (i, spoof) in [
        "forwarded",
        "x-real-ip",
        "fly-client-ip",
        "cf-connecting-ip",
        "true-client-ip",
    ]
    .into_iter()
    .enumerate()
    {
        let value = if spoof == "forwarded" {
            format!("for=203.0.113.{i}")
        } else {
            format!("203.0.113.{i}")
        };
        assert_eq!(
            status(&app, request("10.0.0.2", &[(spoof, &value), xff])).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{spoof} changed the key"
        );
    }
    // And the reverse: behind a proxy writing Forwarded, a client's
    // X-Forwarded-For is not read.
    let forwarded = crate::app(behind(
        &config(AppEnv::Production, 1, 60_000),
        &["10.0.0.0/8"],
        ClientIpHeader::Forwarded,
    ));
    let fwd = ("forwarded", "for=198.51.100.1");
    assert_eq!(
        status(&forwarded, request("10.0.0.2", &[fwd])).await,
        StatusCode::OK
    );
    let spoof = ("x-forwarded-for", "203.0.113.9");
    assert_eq!(
        status(&forwarded, request("10.0.0.2", &[spoof, fwd])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_hop_does_not_make_the_real_client_unidentified() {
    // Staging passes unidentified requests unlimited: if the odd byte
    // poisoned the line, the client would never be limited.
    let cfg = config(AppEnv::Staging, 1, 60_000);
    assert_eq!(cfg.overflow, Overflow::Pass);
    let layer = behind(&cfg, &["10.0.0.0/8"], ClientIpHeader::XForwardedFor);
    let app = app(layer.clone());
    let line: &[u8] = b"\xff\xfe, 198.51.100.1";
    let req = || request_bytes("10.0.0.2", &[("x-forwarded-for", line)]);
    assert_eq!(status(&app, req()).await, StatusCode::OK);
    assert_eq!(status(&app, req()).await, StatusCode::TOO_MANY_REQUESTS);
    // The same client with a clean line is the same key.
    let clean = request("10.0.0.2", &[("x-forwarded-for", "198.51.100.1")]);
    assert_eq!(status(&app, clean).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(layer.stats().unidentified, 0);
}

#[tokio::test(start_paused = true)]
async fn each_platform_header_keys_by_its_value_from_trusted_peers_only() {
    for header in [
        ClientIpHeader::FlyClientIp,
        ClientIpHeader::CfConnectingIp,
        ClientIpHeader::TrueClientIp,
        ClientIpHeader::XRealIp,
    ] {
        let app = app(behind(
            &config(AppEnv::Production, 1, 60_000),
            &["10.0.0.0/8"],
            header,
        ));
        let name = header.as_str();
        let a = [(name, "198.51.100.1")];
        assert_eq!(status(&app, request("10.0.0.2", &a)).await, StatusCode::OK);
        // Another proxy replica, the same client: same key.
        assert_eq!(
            status(&app, request("10.0.0.3", &a)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{name}"
        );
        let b = [(name, "2001:db8::1")];
        assert_eq!(status(&app, request("10.0.0.2", &b)).await, StatusCode::OK);
        // From an untrusted peer the header is the client's word: ignored,
        // so a rotating value does not give a fresh quota.
        let c1 = [(name, "198.51.100.50")];
        let c2 = [(name, "198.51.100.51")];
        assert_eq!(
            status(&app, request("203.0.113.7", &c1)).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, request("203.0.113.7", &c2)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{name}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn ipv6_clients_are_grouped_by_their_64() {
    let app = app(RateLimitLayer::new(&config(AppEnv::Production, 2, 60_000)).unwrap());
    assert_eq!(
        status(&app, request("2001:db8:1:1::1", &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("2001:db8:1:1:ffff::2", &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("2001:db8:1:1:1234:5678:9abc:def0", &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, request("2001:db8:1:2::1", &[])).await,
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn key_cap_holds_under_one_million_distinct_keys() {
    const CAP: usize = 10_000;
    let mut cfg = config(AppEnv::Production, 5, 60_000);
    cfg.max_tracked_keys = CAP;
    assert_eq!(cfg.overflow, Overflow::Shared);
    let layer = RateLimitLayer::new(&cfg).unwrap();

    let mut allowed = 0u64;
    for i in 0..1_000_000u32 {
        // Rotating IPv6 /64s: each is a distinct key.
        let ip = std::net::Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(i) << 64));
        let decision = layer.check(&ClientKey::from_ip(ip.into()), 1).await;
        allowed += u64::from(decision.allowed);
        if i % 100_000 == 0 {
            assert!(layer.stats().tracked_keys <= CAP);
        }
    }
    let stats = layer.stats();
    assert_eq!(stats.tracked_keys, CAP);
    assert_eq!(stats.overflowed, 1_000_000 - CAP as u64);
    // Production: every tracked key got its first request; all the keys
    // beyond the cap shared one bucket of the same quota (5).
    assert_eq!(allowed, CAP as u64 + 5);

    // Once the keys' state has expired, the limiter drops them by itself
    // and new clients are tracked again.
    tokio::time::advance(Duration::from_secs(61)).await;
    let fresh = ClientKey::from_ip("198.51.100.77".parse().unwrap());
    assert!(layer.check(&fresh, 1).await.allowed);
    let stats = layer.stats();
    assert!(
        stats.tracked_keys <= 1,
        "tracked after expiry: {}",
        stats.tracked_keys
    );
    let again = ClientKey::from_ip("198.51.100.78".parse().unwrap());
    assert!(layer.check(&again, 1).await.allowed);
    assert_eq!(
        layer.stats().tracked_keys,
        1 + usize::from(stats.tracked_keys == 1)
    );
}

#[tokio::test(start_paused = true)]
async fn tracked_clients_keep_their_quota_under_a_key_flood() {
    const CAP: usize = 1_000;
    // 10 per second: one request's worth comes back every 100 ms.
    let mut cfg = config(AppEnv::Production, 10, 1_000);
    cfg.max_tracked_keys = CAP;
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let tracked = ClientKey::from_ip("192.0.2.1".parse().unwrap());
    for _ in 0..10 {
        assert!(layer.check(&tracked, 1).await.allowed);
    }
    assert!(!layer.check(&tracked, 1).await.allowed);

    let mut flooder = 0u32;
    let mut flood = |n: u32| {
        let keys: Vec<ClientKey> = (flooder..flooder + n)
            .map(|i| ClientKey::from_ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into()))
            .collect();
        flooder += n;
        keys
    };
    for step in 0..30u32 {
        tokio::time::advance(Duration::from_millis(100)).await;
        // A quarter of the cap of new addresses every 100 ms, one request
        // each: each is active for 100 ms, then at rest. (Keys spread over
        // the store's shards by a random hash; a quarter leaves every shard
        // room for the newcomer below whatever the spread.)
        for key in flood(CAP as u32 / 4) {
            layer.check(&key, 1).await;
        }
        // The tracked client got back exactly one request's worth, decided
        // against its own state (the overflow bucket would refuse it).
        assert!(layer.check(&tracked, 1).await.allowed, "step {step}");
        assert!(!layer.check(&tracked, 1).await.allowed, "step {step}");
        // A new client gets its own quota too: the flood's keys at rest
        // made room for it, so it is not thrown into the overflow bucket.
        let newcomer = ClientKey::from_ip(std::net::Ipv4Addr::from(0xc633_6400 + step).into());
        let first = layer.check(&newcomer, 1).await;
        assert!(first.allowed, "step {step} {first:?} {:?}", layer.stats());
        assert!(first.allowed, "step {step}: {first:?} {:?}", layer.stats());
        assert!(layer.stats().tracked_keys <= CAP);
    }
    // Keys at rest were dropped, not overflowed.
    assert_eq!(layer.stats().overflowed, 0);

    // Only genuinely active keys force the overflow bucket: five times the
    // cap at once fills it with active keys, and the excess shares one
    // bucket; the tracked client still has its own quota.
    tokio::time::advance(Duration::from_millis(100)).await;
    let mut allowed_flood = 0u64;
    for key in flood(CAP as u32 * 5) {
        allowed_flood += u64::from(layer.check(&key, 1).await.allowed);
    }
    let stats = layer.stats();
    assert!(stats.overflowed >= CAP as u64 * 4, "{stats:?}");
    assert!(stats.tracked_keys <= CAP);
    // Each key the store could hold got its first request, the overflow
    // bucket its quota of 10 and no more.
    assert!(allowed_flood <= CAP as u64 + 10 + 1, "{allowed_flood}");
    assert!(layer.check(&tracked, 1).await.allowed);
    assert!(!layer.check(&tracked, 1).await.allowed);
}

#[tokio::test(start_paused = true)]
async fn staging_lets_keys_beyond_the_cap_pass_untracked() {
    let mut cfg = config(AppEnv::Staging, 1, 60_000);
    cfg.max_tracked_keys = 100;
    let layer = RateLimitLayer::new(&cfg).unwrap();
    for i in 0..1_000u32 {
        let key = ClientKey::from_ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into());
        assert!(layer.check(&key, 1).await.allowed);
    }
    assert_eq!(layer.stats().tracked_keys, 100);
    assert_eq!(layer.stats().overflowed, 900);
}

#[tokio::test(start_paused = true)]
async fn unidentified_requests_follow_the_overflow_rule() {
    let bare = || Request::builder().uri("/").body(Body::empty()).unwrap();

    // Production: one shared bucket, never a 500.
    let layer = RateLimitLayer::new(&config(AppEnv::Production, 2, 60_000)).unwrap();
    let prod = app(layer.clone());
    assert_eq!(status(&prod, bare()).await, StatusCode::OK);
    assert_eq!(status(&prod, bare()).await, StatusCode::OK);
    assert_eq!(status(&prod, bare()).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(layer.stats().unidentified, 3);

    // Staging: they pass, without rate-limit fields.
    let staging = app(RateLimitLayer::new(&config(AppEnv::Staging, 1, 60_000)).unwrap());
    for _ in 0..5 {
        let res = staging.clone().oneshot(bare()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(RATELIMIT).is_none());
    }

    // Header keys: a missing API key is unidentified too.
    let mut cfg = config(AppEnv::Production, 1, 60_000);
    cfg.key = KeyKind::Header(http::HeaderName::from_static("x-api-key"));
    let by_key = app(RateLimitLayer::new(&cfg).unwrap());
    let keyed = |k: &str| {
        Request::builder()
            .uri("/")
            .header("x-api-key", k)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(status(&by_key, keyed("alpha")).await, StatusCode::OK);
    assert_eq!(
        status(&by_key, keyed("alpha")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&by_key, keyed("beta")).await, StatusCode::OK);
    assert_eq!(status(&by_key, bare()).await, StatusCode::OK);
    assert_eq!(status(&by_key, bare()).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn local_default_is_off_and_global_key_is_shared() {
    let local = RateLimitConfig::defaults(AppEnv::Local);
    let app_local = app(RateLimitLayer::new(&local).unwrap());
    for _ in 0..500 {
        let res = app_local
            .clone()
            .oneshot(request("192.0.2.1", &[]))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(RATELIMIT).is_none());
    }

    let mut cfg = config(AppEnv::Production, 2, 60_000);
    cfg.key = KeyKind::Global;
    let global = app(RateLimitLayer::new(&cfg).unwrap());
    assert_eq!(
        status(&global, request("192.0.2.1", &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&global, request("192.0.2.2", &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&global, request("192.0.2.3", &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_counts_but_never_rejects() {
    let mut cfg = config(AppEnv::Staging, 2, 60_000);
    cfg.shadow = true;
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let app = app(layer.clone());
    for _ in 0..10 {
        let res = app
            .clone()
            .oneshot(request("192.0.2.1", &[]))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(RATELIMIT).is_none());
    }
    let stats = layer.stats();
    assert_eq!(
        (stats.allowed, stats.shadow_limited, stats.limited),
        (2, 8, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn per_route_quotas_and_request_weight() {
    let cfg = config(AppEnv::Production, 100, 60_000);
    let search = RateLimitLayer::builder(&cfg)
        .policy("search")
        .quota(10, Duration::from_secs(60))
        .weight(4)
        .build()
        .unwrap();
    let writes = RateLimitLayer::builder(&cfg)
        .policy("writes")
        .quota(6, Duration::from_secs(60))
        .weigh_with(|parts| {
            if parts.method == http::Method::POST {
                3
            } else {
                1
            }
        })
        .build()
        .unwrap();
    let app = Router::new()
        .route("/search", get(|| async { "results" }).route_layer(search))
        .route(
            "/items",
            get(|| async { "items" })
                .post(|| async { "created" })
                .route_layer(writes),
        )
        .layer(RateLimitLayer::new(&cfg).unwrap());

    let call = |method: http::Method, uri: &str| {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
        app.clone().oneshot(req)
    };

    // Search costs 4 of 10: two pass, the third is refused.
    let first = call(http::Method::GET, "/search").await.unwrap();
    // Both policies that applied are listed, the route's own first.
    let fields = parse_all(first.headers(), &RATELIMIT);
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(
        (fields[0].0.as_str(), param(&fields[0].1, "r")),
        ("search", 6)
    );
    assert_eq!(
        (fields[1].0.as_str(), param(&fields[1].1, "r")),
        ("default", 99)
    );
    let policies = parse_all(first.headers(), &RATELIMIT_POLICY);
    assert_eq!(param(&policies[0].1, "q"), 10);
    assert_eq!(param(&policies[1].1, "q"), 100);
    assert_eq!(
        call(http::Method::GET, "/search").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        call(http::Method::GET, "/search").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other routes have their own quotas: POST costs 3 of 6.
    assert_eq!(
        call(http::Method::POST, "/items").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        call(http::Method::POST, "/items").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        call(http::Method::POST, "/items").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    // 10 s gave back one unit: a GET (weight 1) passes, a POST would not.
    assert_eq!(
        call(http::Method::GET, "/items").await.unwrap().status(),
        StatusCode::OK
    );
}

#[derive(Clone)]
struct Greeter;

impl<B: Send + 'static> Service<Request<B>> for Greeter {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::from_static(b"\x00\x00\x00\x00\x00")));
        res.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        std::future::ready(Ok(res))
    }
}

#[tokio::test(start_paused = true)]
async fn works_in_a_tonic_style_service_with_a_plain_socket_addr() {
    let mut cfg = config(AppEnv::Production, 1, 60_000);
    cfg.policy = "grpc".to_owned();
    let mut svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(&cfg).unwrap())
        .service(Greeter);
    let req = || {
        let mut req = Request::builder()
            .uri("/helloworld.Greeter/SayHello")
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 44], 5000)));
        req
    };
    let ok = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .unwrap()
        .call(req())
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["content-type"], "application/grpc");
    let (policy, _) = parse_field(ok.headers(), &RATELIMIT);
    assert_eq!(policy, "grpc");
    assert_eq!(ok.into_body().collect().await.unwrap().to_bytes().len(), 5);
    let refused = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .unwrap()
        .call(req())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_exceed_the_quota() {
    // 50 per hour: nothing comes back while the test runs.
    let layer = RateLimitLayer::new(&config(AppEnv::Production, 50, 3_600_000)).unwrap();
    let app = app(layer.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..100 {
                if status(&app, request("192.0.2.99", &[])).await == StatusCode::OK {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap();
    }
    assert_eq!(ok, 50);
    let stats = layer.stats();
    assert_eq!((stats.allowed, stats.limited), (50, 750));
}
