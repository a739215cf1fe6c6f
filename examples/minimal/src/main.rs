//! The smallest correct embedding of appenv (config, policy, telemetry, rate limit). Run: `cargo run -p example-minimal`
use appenv_config::{AppEnv, Registry, Section, ServerConfig};
use appenv_observability::TelemetryConfig;
use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
use axum::{Router, routing::get};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    server: ServerConfig,
    rate_limit: RateLimitConfig,
    telemetry: TelemetryConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        let (server, rate_limit) = (ServerConfig::defaults(env), RateLimitConfig::defaults(env));
        Config { server, rate_limit, telemetry: TelemetryConfig::defaults(env) }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<ServerConfig>("server").section::<RateLimitConfig>("rate_limit");
        reg.section::<TelemetryConfig>("telemetry");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loaded = appenv_config::load::<Config>().inspect_err(|e| eprintln!("{e}"));
    let loaded = loaded.unwrap_or_else(|e| std::process::exit(e.exit_code()));
    let (env, config) = (loaded.env(), loaded.config());
    let telemetry = appenv_observability::init(env, &config.telemetry)?;
    loaded.log_startup();
    let rate_limit = RateLimitLayer::builder(&config.rate_limit).client_addr(config.server.client_addr()).build()?;
    let app = Router::new().route("/", get(|| async { "hello\n" })).layer(rate_limit);
    let app = app.layer(telemetry.http_layer()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind(config.server.bind_addr()).await?;
    let shutdown = async { drop(tokio::signal::ctrl_c().await) };
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(telemetry.shutdown()?) // flushes logs, traces and metrics
}
