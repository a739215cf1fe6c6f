//! The smallest correct embedding of appenv. Run: `cargo run -p example-minimal`
use appenv_config::{Failure, Section, ServerConfig};
use appenv_observability::{Health, LifecycleConfig, TelemetryConfig};
use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};

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
async fn main() -> std::process::ExitCode {
    appenv_config::exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let loaded = appenv_config::load::<Config>()?;
    let config = loaded.config();
    let telemetry = appenv_observability::init(loaded.env(), &config.telemetry)?;
    loaded.log_startup();
    let client = config.server.client_addr();
    let rate_limit = RateLimitLayer::builder(&config.rate_limit).client_addr(client.clone());
    let health = Health::new();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hello\n" }))
        .layer(rate_limit.build()?)
        .layer(telemetry.http_layer().with_client_addr(client))
        .merge(health.clone().router());
    let listener = tokio::net::TcpListener::bind(config.server.bind_addr()).await?;
    appenv_observability::serve(listener, app, telemetry, &health, &config.lifecycle).await?;
    Ok(())
}
