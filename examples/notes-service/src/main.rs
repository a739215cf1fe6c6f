//! notes-service: appenv embedded from outside its workspace, Postgres only.
use appenv_config::{ConfigArgs, Failure, Loader, Section, ServerConfig, code_to_exit, exit};
use appenv_migrate::{DatabaseConfig, MigrateArgs, Migrator, embed_migrations};
use appenv_observability::{Health, LifecycleConfig, TelemetryConfig};
use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
use axum::routing::get;
use clap::Parser;

#[derive(Debug, serde::Serialize, serde::Deserialize, Section)]
struct Config {
    #[config(section)]
    server: ServerConfig,
    #[config(section)]
    database: DatabaseConfig,
    #[config(section)]
    rate_limit: RateLimitConfig,
    #[config(section)]
    telemetry: TelemetryConfig,
    #[config(section)]
    lifecycle: LifecycleConfig,
}

/// notes-service: `serve`, `config explain|check`, `migrate status|plan|up|…`.
#[derive(clap::Parser)]
enum Cli {
    Serve,
    Config(ConfigArgs),
    Migrate(MigrateArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match Cli::parse() {
        Cli::Serve => exit(serve().await),
        Cli::Config(args) => code_to_exit(args.run::<Config>(&Loader::from_process_env())),
        Cli::Migrate(args) => exit(migrate(args).await),
    }
}

async fn migrate(args: MigrateArgs) -> Result<i32, Failure> {
    let loaded = Loader::from_process_env().load::<Config>()?;
    let db = &loaded.config().database;
    let migrations = embed_migrations!("migrations")?;
    Ok(args
        .run(loaded.env(), db, db.url.expose(), migrations)
        .await)
}

async fn serve() -> Result<(), Failure> {
    let loaded = appenv_config::load::<Config>()?;
    let (env, config) = (loaded.env(), loaded.config());
    let telemetry = appenv_observability::init(env, &config.telemetry)?;
    loaded.log_startup();
    let migrations = embed_migrations!("migrations")?;
    let pool = config.database.connect_lazy::<sqlx::Postgres>()?;
    appenv_migrate::run_startup(env, &config.database, &pool, migrations.clone()).await?;
    let migrator = Migrator::with_config(&pool, migrations, env, &config.database)?;
    let health = Health::new()
        .sqlx_pool("database", pool.clone())
        .migrations("migrations", migrator);
    let client = config.server.client_addr();
    let limit = RateLimitLayer::builder(&config.rate_limit).client_addr(client.clone());
    let app = axum::Router::new()
        .route(
            "/notes",
            get(|| async { "[]\n" }).post(|note: String| async { note }),
        )
        .layer(limit.build()?)
        .layer(telemetry.http_layer().with_client_addr(client))
        .merge(health.clone().router());
    let listener = tokio::net::TcpListener::bind(config.server.bind_addr()).await?;
    Ok(appenv_observability::serve(listener, app, telemetry, &health, &config.lifecycle).await?)
}
