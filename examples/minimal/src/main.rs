//! The smallest correct embedding of appenv. Run: `cargo run -p example-minimal`
use appenv_config::{Section, ServerConfig};
use appenv_observability::{Health, LifecycleConfig, TelemetryConfig};
use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
use axum::{Router, routing::get};

#[derive(Debug, serde::Serialize, serde::Deserialize, Section)]
struct Config {
    #[config(section)]
    server: ServerConfig,
    #[config(section)]
    rate_limit: RateLimitConfig,
    #[config(section)]
    telemetry: TelemetryConfig,
    #[config(section)]
    lifecycle: LifecycleConfig,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loaded = appenv_config::load::<Config>().inspect_err(|e| eprintln!("{e}"));
    let loaded = loaded.unwrap_or_else(|e| std::process::exit(e.exit_code()));
    let config = loaded.config();
    let telemetry = appenv_observability::init(loaded.env(), &config.telemetry)?;
    loaded.log_startup();
    let health = Health::new();
    let rate_limit = RateLimitLayer::builder(&config.rate_limit).client_addr(config.server.client_addr()).build()?;
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .layer(rate_limit)
        .layer(telemetry.http_layer().with_client_addr(config.server.client_addr()))
        .merge(health.clone().router());
    let listener = tokio::net::TcpListener::bind(config.server.bind_addr()).await?;
    appenv_observability::serve(listener, app, telemetry, &health, &config.lifecycle).await?;
    Ok(())
}
