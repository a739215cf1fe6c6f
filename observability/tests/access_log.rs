//! The access log: one INFO line per request in every environment (JSON
//! outside local, one pretty line in local), health probes left out (and
//! untraced) by default, `LOG_ACCESS=off` and `all`.

mod support;

use std::net::SocketAddr;

use appenv_config::{AppEnv, ClientAddrResolver, Loader, Registry, Section};
use appenv_observability::{
    ACCESS_LOG_TARGET, AccessLog, Health, TelemetryBuilder, TelemetryConfig,
};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use serde_json::Value;
use support::Capture;
use tower::ServiceExt;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Config {
    telemetry: TelemetryConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            telemetry: TelemetryConfig::defaults(env),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<TelemetryConfig>("telemetry");
    }
}

fn telemetry(vars: &[(&str, &str)]) -> (AppEnv, TelemetryConfig) {
    let loaded = Loader::hermetic(vars.iter().copied())
        .load::<Config>()
        .unwrap();
    (loaded.env(), loaded.into_config().telemetry)
}

/// Sends each `(method, path)` through a router with the health routes
/// inside the telemetry layer (as a service typically mounts them) and
/// returns the console output and the response request ids.
async fn run(
    env: AppEnv,
    config: &TelemetryConfig,
    requests: &[(&str, &str)],
) -> (String, Vec<String>) {
    run_behind(env, config, requests, ClientAddrResolver::direct(), None).await
}

/// As [`run`], the peer being 198.51.100.7, with `client_addr` resolving
/// `client.address` and `x-forwarded-for` set to `forwarded_for`.
async fn run_behind(
    env: AppEnv,
    config: &TelemetryConfig,
    requests: &[(&str, &str)],
    client_addr: ClientAddrResolver,
    forwarded_for: Option<&str>,
) -> (String, Vec<String>) {
    let capture = Capture::default();
    let (dispatch, guard) = TelemetryBuilder::new(env, config)
        .with_writer(capture.clone())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let health = Health::new();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ada" }))
        .merge(health.router())
        .layer(guard.http_layer().with_client_addr(client_addr));
    let mut ids = Vec::new();
    for (method, path) in requests {
        let mut request = axum::http::Request::builder()
            .method(*method)
            .uri(*path)
            .body(Body::empty())
            .unwrap();
        if let Some(xff) = forwarded_for {
            request
                .headers_mut()
                .insert("x-forwarded-for", xff.parse().unwrap());
        }
        request.extensions_mut().insert(ConnectInfo(
            "198.51.100.7:40000".parse::<SocketAddr>().unwrap(),
        ));
        let response = app.clone().oneshot(request).await.unwrap();
        ids.push(
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    drop(_scope);
    guard.shutdown().unwrap();
    (capture.text(), ids)
}

fn access_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == ACCESS_LOG_TARGET)
        .collect()
}

const TRAFFIC: [(&str, &str); 5] = [
    ("GET", "/users/7?token=SENTINEL-q"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/nope"),
    ("GET", "/healthz"),
];

#[tokio::test]
async fn production_logs_one_info_line_per_request_and_none_for_probes() {
    let (env, config) = telemetry(&[("APP_ENV", "production")]);
    let (out, ids) = run(env, &config, &TRAFFIC).await;
    let lines = access_lines(&out);
    assert_eq!(lines.len(), 2, "one line per non-probe request:\n{out}");

    let user = &lines[0];
    assert_eq!(user["level"], "INFO");
    assert_eq!(user["environment"], "production");
    let fields = &user["fields"];
    assert_eq!(fields["http.request.method"], "GET");
    assert_eq!(fields["http.route"], "/users/{id}");
    assert_eq!(fields["http.response.status_code"], 200);
    assert!(fields["duration_ms"].as_f64().unwrap() >= 0.0, "{user}");
    assert_eq!(fields["request_id"], ids[0].as_str());
    assert_eq!(fields["client.address"], "198.51.100.7");
    assert!(
        user["trace_id"].as_str().is_some_and(|t| t.len() == 32),
        "{user}"
    );

    // No route matched: the path (never the query) names it.
    let missing = &lines[1]["fields"];
    assert_eq!(missing["http.request.method"], "POST");
    assert_eq!(missing["url.path"], "/nope");
    assert_eq!(missing["http.response.status_code"], 404);
    assert!(missing.get("http.route").is_none(), "{missing}");

    // Probes leave no trace at all: no access line, no span, no event.
    assert!(
        !out.contains("/healthz") && !out.contains("/readyz"),
        "{out}"
    );
    assert!(!out.contains("SENTINEL-q"), "query leaked:\n{out}");
}

#[tokio::test]
async fn log_access_off_silences_it_and_all_includes_probes() {
    let (env, off) = telemetry(&[("APP_ENV", "staging"), ("LOG_ACCESS", "off")]);
    assert_eq!(off.log_access, AccessLog::Off);
    let (out, _) = run(env, &off, &TRAFFIC).await;
    assert!(access_lines(&out).is_empty(), "{out}");

    let (env, all) = telemetry(&[("APP_ENV", "staging"), ("LOG_ACCESS", "all")]);
    let (out, _) = run(env, &all, &TRAFFIC).await;
    assert_eq!(access_lines(&out).len(), 5, "{out}");

    let err = Loader::hermetic([("LOG_ACCESS", "sometimes")])
        .load::<Config>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("LOG_ACCESS") && err.contains("on, off, all"),
        "{err}"
    );
}

#[tokio::test]
async fn local_access_lines_are_one_pretty_line_each() {
    let (env, config) = telemetry(&[]);
    let (out, ids) = run(env, &config, &[("GET", "/users/1"), ("GET", "/readyz")]).await;
    let access: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(ACCESS_LOG_TARGET))
        .collect();
    assert_eq!(access.len(), 1, "{out}");
    let line = access[0];
    assert!(line.contains(" INFO "), "{line}");
    for part in [
        "http.request.method: \"GET\"",
        "http.route: \"/users/{id}\"",
        "http.response.status_code: 200",
        "duration_ms: ",
        "trace_id=",
        "client.address: \"198.51.100.7\"",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(line.contains(&ids[0]), "{line}");
    // Nothing after it belongs to it (no location or span lines).
    let after = out.split(line).nth(1).unwrap_or("");
    assert!(!after.starts_with("\n    at "), "{out}");
}

#[tokio::test]
async fn client_address_behind_a_trusted_proxy_is_the_client() {
    let server = Loader::hermetic([("TRUSTED_PROXIES", "198.51.100.0/24")])
        .load::<appenv_config::ServerConfig>()
        .unwrap()
        .into_config();
    let (env, config) = telemetry(&[("APP_ENV", "production")]);
    // The peer 198.51.100.7 is the trusted proxy; it appended the client it
    // saw (203.0.113.50) to what the client wrote itself (6.6.6.6).
    let (out, _) = run_behind(
        env,
        &config,
        &[("GET", "/users/1")],
        server.client_addr(),
        Some("6.6.6.6, 203.0.113.50"),
    )
    .await;
    let lines = access_lines(&out);
    assert_eq!(
        lines[0]["fields"]["client.address"], "203.0.113.50",
        "{out}"
    );
    assert_eq!(lines[0]["span"]["client.address"], "203.0.113.50", "{out}");

    // Without trusted proxies the header is never read.
    let (out, _) = run_behind(
        env,
        &config,
        &[("GET", "/users/1")],
        ClientAddrResolver::direct(),
        Some("6.6.6.6, 203.0.113.50"),
    )
    .await;
    assert_eq!(
        access_lines(&out)[0]["fields"]["client.address"],
        "198.51.100.7"
    );
}
