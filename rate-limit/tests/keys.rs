//! The keys production needs: a key the service supplies (the user an auth
//! middleware verified), composite keys, the allow-list, and per-route
//! quotas from configuration (TOML and one variable) and from code. Time is
//! tokio's paused clock.

use std::net::SocketAddr;

use appenv_config::{AppEnv, Loaded, Loader, Registry, Section};
use appenv_rate_limit::{
    ClientKey, RATELIMIT, RATELIMIT_POLICY, RateLimitConfig, RateLimitLayer, RouteQuota,
};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    rate_limit: RateLimitConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            rate_limit: RateLimitConfig::defaults(env),
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<RateLimitConfig>("rate_limit");
    }
}

fn load_from(
    config_dir: &std::path::Path,
    vars: &[(&str, &str)],
) -> Result<Loaded<Config>, appenv_config::Error> {
    Loader::hermetic(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .dotenv_dir("/nonexistent-appenv-rate-limit-tests")
        .config_dir(config_dir)
        .load::<Config>()
}

fn load(vars: &[(&str, &str)]) -> Result<Loaded<Config>, appenv_config::Error> {
    load_from(
        std::path::Path::new("/nonexistent-appenv-rate-limit-tests"),
        vars,
    )
}

fn production(max: u32) -> RateLimitConfig {
    let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
    cfg.max = max;
    cfg.window_ms = 60_000;
    cfg
}

/// What the service's authentication middleware leaves in the extensions
/// once it verified a bearer token.
#[derive(Clone)]
struct Claims {
    sub: String,
}

/// A stand-in for JWT verification: `authorization: Bearer <sub>` becomes
/// the verified claims (the limiter only reads what the middleware left).
async fn authenticate(mut req: Request, next: Next) -> Response {
    let sub = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(sub) = sub {
        req.extensions_mut().insert(Claims { sub });
    }
    next.run(req).await
}

fn request(method: &str, path: &str, peer: [u8; 4], headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut req = builder.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    req
}

async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    app.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test(start_paused = true)]
async fn a_user_supplied_key_limits_per_user_whatever_the_address() {
    let layer = RateLimitLayer::builder(&production(2))
        .key_with(|req| match req.extensions().get::<Claims>() {
            Some(claims) => Some(ClientKey::from_identity(&claims.sub)),
            None => req.client_ip().map(ClientKey::from_ip),
        })
        .build()
        .unwrap();
    // The limiter sits inside the auth middleware, so the claims are there.
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer.clone())
        .layer(middleware::from_fn(authenticate));
    let alice = [("authorization", "Bearer alice")];
    let bob = [("authorization", "Bearer bob")];

    // Alice from two addresses shares one quota of 2.
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &alice)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/", [198, 51, 100, 9], &alice)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/", [203, 0, 113, 4], &alice)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Bob from Alice's address has his own.
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &bob)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &bob)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &bob)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Anonymous requests fall back to the address: a fresh one passes.
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &[])).await,
        StatusCode::OK
    );
    // No claims and no address: unidentified, never a 500.
    let mut bare = Request::builder().uri("/").body(Body::empty()).unwrap();
    bare.extensions_mut().clear();
    assert_eq!(status(&app, bare).await, StatusCode::OK);
    let stats = layer.stats();
    assert_eq!(
        (stats.allowed, stats.limited, stats.unidentified),
        (6, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn composite_keys_from_configuration_count_per_address_and_tenant() {
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_MAX", "1"),
        ("RATE_LIMIT_KEY", "ip+header:x-tenant"),
    ])
    .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(RateLimitLayer::new(&loaded.config().rate_limit).unwrap());
    let acme = [("x-tenant", "acme")];
    let globex = [("x-tenant", "globex")];
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &acme)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &acme)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 1], &globex)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/", [192, 0, 2, 2], &acme)).await,
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn allow_listed_clients_are_never_limited() {
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_MAX", "1"),
        ("RATE_LIMIT_KEY", "header:x-api-key"),
        ("RATE_LIMIT_ALLOW", "10.0.0.0/8, key:monitoring-key"),
    ])
    .unwrap();
    assert!(loaded.policy().is_ok(), "{}", loaded.policy());
    let cfg = &loaded.config().rate_limit;
    assert_eq!(cfg.allow, ["10.0.0.0/8", "key:monitoring-key"]);
    // An API key allow-listed in code by the digest the logs show.
    let partner = ClientKey::from_header_value(b"sk_partner_key");
    let layer = RateLimitLayer::builder(cfg)
        .allow(partner.to_string())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer.clone());

    for (peer, key) in [
        ([10, 1, 2, 3], "any-key"),
        ([192, 0, 2, 1], "sk_partner_key"),
    ] {
        for _ in 0..50 {
            let res = app
                .clone()
                .oneshot(request("GET", "/", peer, &[("x-api-key", key)]))
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{key}");
            assert!(res.headers().get(RATELIMIT).is_none());
        }
    }
    // Everyone else keeps the quota of 1.
    let other = || request("GET", "/", [192, 0, 2, 1], &[("x-api-key", "customer")]);
    assert_eq!(status(&app, other()).await, StatusCode::OK);
    assert_eq!(status(&app, other()).await, StatusCode::TOO_MANY_REQUESTS);
    // `key:` names a verified identity, never a header value: a client that
    // sends the allow-listed name as its API key keeps the quota of 1.
    let spoof = || {
        request(
            "GET",
            "/",
            [192, 0, 2, 9],
            &[("x-api-key", "monitoring-key")],
        )
    };
    assert_eq!(status(&app, spoof()).await, StatusCode::OK);
    assert_eq!(status(&app, spoof()).await, StatusCode::TOO_MANY_REQUESTS);
    let stats = layer.stats();
    assert_eq!(stats.allow_listed, 100);
    assert_eq!((stats.allowed, stats.limited), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_key_entry_allows_the_verified_identity_and_not_a_header_of_that_value() {
    #[derive(Clone)]
    struct Verified(&'static str);
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_MAX", "1"),
        ("RATE_LIMIT_ALLOW", "key:monitoring"),
    ])
    .unwrap();
    let layer = RateLimitLayer::builder(&loaded.config().rate_limit)
        .key_with(|req| match req.extensions().get::<Verified>() {
            Some(Verified(user)) => Some(ClientKey::from_identity(user)),
            None => req
                .headers()
                .get("x-api-key")
                .map(|v| ClientKey::from_header_value(v.as_bytes())),
        })
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer.clone());
    for _ in 0..5 {
        let mut req = request("GET", "/", [192, 0, 2, 1], &[]);
        req.extensions_mut().insert(Verified("monitoring"));
        assert_eq!(status(&app, req).await, StatusCode::OK);
    }
    let anonymous = || request("GET", "/", [192, 0, 2, 2], &[("x-api-key", "monitoring")]);
    assert_eq!(status(&app, anonymous()).await, StatusCode::OK);
    assert_eq!(
        status(&app, anonymous()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(layer.stats().allow_listed, 5);
}

#[test]
fn a_bad_allow_list_entry_is_refused_by_check_and_constructor_alike() {
    let loaded = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_ALLOW", "10.0.0.0/8,sk_live_pasted_by_mistake"),
    ])
    .unwrap();
    assert!(!loaded.policy().is_ok());
    let check = loaded.policy().to_string();
    let build = RateLimitLayer::new(&loaded.config().rate_limit)
        .unwrap_err()
        .to_string();
    for err in [check, build] {
        assert!(err.contains("rate_limit.allow"), "{err}");
        assert!(err.contains("entry 2"), "{err}");
        assert!(!err.contains("sk_live_pasted"), "{err}");
    }
    assert!(loaded.policy().to_string().contains("rate-limit.invalid"));
}

fn routed_app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/v1/search", get(|| async { "ok" }))
        .route("/v1/login", post(|| async { "ok" }))
        .route("/v1/users/{id}/export", get(|| async { "ok" }))
        .route("/v1/events", get(|| async { "ok" }))
        .layer(layer)
}

#[tokio::test(start_paused = true)]
async fn per_route_quotas_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        r#"
[rate_limit]
max = 100
window_ms = 60000

[rate_limit.routes]
"/v1/search" = { max = 2, window_ms = 60000 }
"POST /v1/login" = { max = 1, window_ms = 60000, policy = "login" }
"/v1/users/{id}/export" = { max = 3, window_ms = 60000, burst = 1 }
"#,
    )
    .unwrap();
    let loaded = load_from(dir.path(), &[("APP_ENV", "production")]).unwrap();
    assert!(loaded.policy().is_ok(), "{}", loaded.policy());
    let cfg = &loaded.config().rate_limit;
    assert_eq!(cfg.routes.len(), 3);
    let layer = RateLimitLayer::new(cfg).unwrap();
    let app = routed_app(layer.clone());
    let peer = [192, 0, 2, 1];

    // /v1/search: 2, with its own policy in the fields.
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let res = app
            .clone()
            .oneshot(request("GET", "/v1/search", peer, &[]))
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
        assert!(
            res.headers()[RATELIMIT_POLICY]
                .to_str()
                .unwrap()
                .starts_with("\"/v1/search\";q=2;w=60"),
            "{:?}",
            res.headers()[RATELIMIT_POLICY]
        );
    }
    // A longer path under the pattern shares the route's quota.
    assert_eq!(
        status(&app, request("GET", "/v1/search/saved", peer, &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // POST /v1/login: 1, named `login`; GET /v1/login is not that route.
    let res = app
        .clone()
        .oneshot(request("POST", "/v1/login", peer, &[]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[RATELIMIT]
            .to_str()
            .unwrap()
            .starts_with("\"login\";r=0")
    );
    assert_eq!(
        status(&app, request("POST", "/v1/login", peer, &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A parameter segment: every user id is the same route; burst 1.
    assert_eq!(
        status(&app, request("GET", "/v1/users/1/export", peer, &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("GET", "/v1/users/2/export", peer, &[])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everything else counts against the layer's own 100, untouched by the
    // routes above.
    let res = app
        .clone()
        .oneshot(request("GET", "/v1/events", peer, &[]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[RATELIMIT], "\"default\";r=99;t=1");
    let stats = layer.stats();
    assert_eq!((stats.allowed, stats.limited), (5, 4));
}

#[tokio::test(start_paused = true)]
async fn per_route_quotas_from_one_variable_and_from_code() {
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_ROUTES", "/v1/search=1/60s, POST /v1/login=2/1m"),
    ])
    .unwrap();
    assert!(loaded.policy().is_ok(), "{}", loaded.policy());
    let cfg = &loaded.config().rate_limit;
    assert_eq!(cfg.routes["/v1/search"], RouteQuota::new(1, 60_000));
    // Code adds a route and replaces one.
    let layer = RateLimitLayer::builder(cfg)
        .route("/v1/events", RouteQuota::new(1, 60_000))
        .route("POST /v1/login", RouteQuota::new(1, 60_000))
        .build()
        .unwrap();
    let app = routed_app(layer);
    let peer = [192, 0, 2, 1];
    for (method, path) in [
        ("GET", "/v1/search"),
        ("GET", "/v1/events"),
        ("POST", "/v1/login"),
    ] {
        assert_eq!(
            status(&app, request(method, path, peer, &[])).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, request(method, path, peer, &[])).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{method} {path}"
        );
    }
}

#[test]
fn bad_routes_are_refused_by_check_and_constructor_alike() {
    let err = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_ROUTES", "/v1/search=ten/60s"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("rate_limit.routes"), "{err}");
    assert!(err.contains("`ten` is not a number"), "{err}");

    let loaded = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_ROUTES", "v1/search=0/60s"),
    ])
    .unwrap();
    assert!(!loaded.policy().is_ok());
    let check = loaded.policy().to_string();
    let build = RateLimitLayer::new(&loaded.config().rate_limit)
        .unwrap_err()
        .to_string();
    assert!(check.contains("rate-limit.invalid"), "{check}");
    for err in [check, build] {
        assert!(err.contains("rate_limit.routes"), "{err}");
        assert!(err.contains("`v1/search`"), "{err}");
    }
}
