//! example-api: a small events API embedding the four appenv crates. The
//! environment comes from `APP_ENV`; everything that differs between local,
//! staging and production comes from the crates, not from `if`s here.
//!
//! Run with: `cargo run -p example-api` (local: SQLite under `./data/`,
//! migrations applied, <http://127.0.0.1:3001>, pretty logs).
//!
//! ```text
//! example-api [serve]                      serve the API (default)
//! example-api config explain [--format json]
//! example-api config check [--format json] exit 78 on policy violations
//! example-api migrate status|plan|up|verify|lint|baseline
//! example-api token --sub alice            a bearer token signed with JWT_SECRET
//! ```

mod auth;
mod config;
mod db;
mod events;
mod problem;

use std::process::ExitCode;

use appenv_config::{
    ConfigArgs, EXIT_CONFIG, ExitCoded, Failure, LiveExplain, Loaded, ServerConfig,
};
use appenv_migrate::{CredentialRotation, MigrateArgs, Migrator, StartupOutcome};
use appenv_observability::{
    DatabaseIdentity, Health, HttpTelemetryLayer, REQUEST_ID_HEADER, TelemetryBuilder,
    TelemetryGuard,
};
use appenv_rate_limit::{RESPONSE_HEADERS, RateLimitLayer};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use clap::{Parser, Subcommand};
use tower_http::cors::CorsLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::JwtKey;
use crate::config::Config;
use crate::db::Db;
use crate::problem::Problem;

#[derive(Debug, Parser)]
#[command(name = "example-api", version, about = "A small events API on appenv")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Show or check the effective configuration.
    Config(ConfigArgs),
    /// Database migrations (the ones compiled into this binary).
    Migrate(MigrateArgs),
    /// Print a bearer token for `POST /v1/events`, signed with JWT_SECRET.
    Token {
        /// The subject (recorded as the events' actor).
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

/// What the router needs; built once in [`serve`].
#[derive(Debug, Clone)]
struct AppState {
    db: Db,
    jwt: JwtKey,
    health: Health,
    rate_limit: RateLimitLayer,
    telemetry: HttpTelemetryLayer,
    cors: Option<CorsLayer>,
    /// The redacted explain document as it is now (rotated secrets with
    /// their current fingerprint), present only while debug endpoints are on.
    debug_config: Option<LiveExplain>,
}

/// The header naming the API version on every response.
const API_VERSION_HEADER: &str = "x-api-version";

/// The HTTP API. Every response carries `X-API-Version: 1`; `/v1/*` is rate
/// limited; `/debug/config` exists only while debug endpoints are on.
fn app(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/events", get(events::list).post(events::create))
        .layer(state.rate_limit.clone());
    let mut router = Router::new().merge(v1).merge(state.health.clone().router());
    if let Some(explain) = state.debug_config.clone() {
        router = router.route(
            "/debug/config",
            get(move || async move { Json(explain.current().to_json()) }),
        );
    }
    let mut router = router
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(state.clone());
    if let Some(cors) = state.cors {
        router = router.layer(cors);
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(API_VERSION_HEADER),
            HeaderValue::from_static("1"),
        ))
        .layer(state.telemetry)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let loader = config::loader();
    let command = cli.command.unwrap_or(Command::Serve);
    // `config explain/check` load through the same loader and checks as
    // `serve`, and report load errors as documents too.
    if let Command::Config(args) = &command {
        return exit(args.run::<Config>(&loader));
    }
    let loaded = match loader.load::<Config>() {
        Ok(loaded) => loaded,
        Err(err) => return config_error(&err),
    };
    match command {
        Command::Serve => serve(loaded).await,
        Command::Config(_) => unreachable!("handled above"),
        Command::Migrate(args) => migrate(loaded, args).await,
        Command::Token { sub, ttl } => token(loaded.config(), sub, ttl),
    }
}

/// Loads nothing more than the database section needs: the release step
/// runs `migrate up` without the service's other settings being final.
/// The migrations are those of the backend the URL names (`lint --dialect
/// D` lints those of D without a database).
async fn migrate(loaded: Loaded<Config>, args: MigrateArgs) -> ExitCode {
    let env = loaded.env();
    let config = loaded.into_config();
    let url = config.database.url.expose();
    exit(
        args.run_per_backend(env, &config.database, url, db::migrations)
            .await,
    )
}

async fn serve(loaded: Loaded<Config>) -> ExitCode {
    // Production refuses every policy violation here, all listed at once.
    let loaded = match loaded.enforce() {
        Ok(loaded) => loaded,
        Err(err) => return config_error(&err),
    };
    let config = loaded.config();

    // The environment's name (`preview`) is telemetry's
    // `deployment.environment.name`; the database names the backend and
    // database on the spans of sqlx statements.
    let mut telemetry = TelemetryBuilder::new(loaded.environment().clone(), &config.telemetry);
    if let Some(database) = DatabaseIdentity::from_url(config.database.url.expose()) {
        telemetry = telemetry.with_database(database);
    }
    let telemetry = match telemetry.init() {
        Ok(guard) => guard,
        Err(err) => return config_error(&err),
    };
    loaded.log_startup();

    match run(&loaded, telemetry).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.exit_code(),
    }
}

/// What serving needs, made by [`prepare`].
struct Ready {
    listener: tokio::net::TcpListener,
    state: AppState,
    db: Db,
    /// Reports the rate limiter's decisions while it lives.
    _rate_limit_metrics: Option<appenv_observability::RateLimitMetrics>,
}

/// Serves until SIGTERM or SIGINT, then drains and flushes `telemetry`.
/// A failure is logged here, while `telemetry` still exports it (the
/// refusal of a production start reaches the log backend, not only
/// stdout); `Err` carries its exit status.
async fn run(loaded: &Loaded<Config>, telemetry: TelemetryGuard) -> Result<(), Failure> {
    let ready = match prepare(loaded, &telemetry).await {
        Ok(ready) => ready,
        Err(failure) => {
            tracing::error!(exit_code = failure.code(), "{failure}");
            return Err(failure);
        }
    };
    let health = ready.state.health.clone();
    // SIGTERM/SIGINT: readiness 503, pre-drain delay, drain, telemetry flush.
    let lifecycle = &loaded.config().lifecycle;
    let served = appenv_observability::serve(
        ready.listener,
        app(ready.state),
        telemetry,
        &health,
        lifecycle,
    )
    .await;
    ready.db.close().await;
    served.map_err(|err| {
        tracing::error!("server error: {err}");
        Failure::from(err)
    })
}

/// Connects, migrates (local) or verifies (staging, production), builds
/// the layers and binds the listener.
async fn prepare(loaded: &Loaded<Config>, telemetry: &TelemetryGuard) -> Result<Ready, Failure> {
    let env = loaded.env();
    let config = loaded.config();

    let rotation = CredentialRotation::new();
    let db = Db::connect_lazy(&config.database, &rotation)
        .map_err(|err| Failure::new(err.exit_code(), format!("database.url: {err}")))?;
    // From DATABASE_URL_FILE the URL is re-read while serving: new
    // connections (the migrator's and readiness' too) use the new
    // credentials, connections opened with the old ones are retired.
    db.follow(&rotation, &loaded.secret_handle("database.url")?);
    let database = db.database()?;
    let migrations = db::migrations(db.backend())?;
    match appenv_migrate::run_startup(env, &config.database, &database, migrations.clone()).await {
        Ok(StartupOutcome::Applied(report)) => {
            tracing::info!(applied = ?report.files, "migrations applied")
        }
        Ok(_) => tracing::info!("migrations verified: the database is current"),
        Err(err) => {
            let message = format!("startup refused: migrations are not current: {err}");
            return Err(Failure::new(err.exit_code(), message));
        }
    }

    // Readiness: the database answers and no migration is pending.
    let migrator = Migrator::with_config(database, migrations, env, &config.database)?;
    let health = db
        .readiness(Health::new(), "database")
        .migrations("migrations", migrator);

    // The rate limiter keys clients by the address the server settings
    // resolve (trusted proxies, the header they write).
    let rate_limit = RateLimitLayer::builder(&config.rate_limit)
        .client_addr(config.server.client_addr())
        .build()?;
    // Connect to Redis before serving. A replica that cannot reach it still
    // starts, deciding with the failure mode (production: its own quota)
    // until Redis answers; the layer has logged a warning saying so.
    if let Err(err) = rate_limit.connect().await {
        tracing::info!(error = %err, "serving on the rate-limit failure mode for now");
    }
    // From RATE_LIMIT_REDIS_URL_FILE a rotated Redis password is taken
    // without a restart.
    if config.rate_limit.enabled && !config.rate_limit.redis_url.is_empty() {
        let redis_url = loaded.secret_handle("rate_limit.redis_url")?;
        drop(rate_limit.follow_redis_url(&redis_url));
    }
    // Its decisions as OpenTelemetry metrics (`appenv.rate_limit.*`) while
    // metrics are exported; reported until the server stops.
    let rate_limit_metrics = telemetry.meter_provider().map(|provider| {
        appenv_observability::rate_limit_metrics(&rate_limit, &config.rate_limit.policy, provider)
    });
    // The signing key and its previous keys, re-read while serving when
    // they come from files; a previous key that fails the secret rules
    // refuses startup like the key itself.
    let ring = match config.jwt_secret.as_ref() {
        Some(secret) if !secret.expose().is_empty() => Some(loaded.key_ring("jwt_secret")?),
        _ => None,
    };
    let state = AppState {
        db: db.clone(),
        jwt: JwtKey::new(ring),
        health,
        rate_limit,
        telemetry: telemetry
            .http_layer()
            .with_client_addr(config.server.client_addr()),
        cors: cors(&config.server),
        debug_config: config.server.debug_endpoints.then(|| loaded.live_explain()),
    };

    tracing::info!(
        database = %appenv_config::redact_url(config.database.url.expose()),
        "database ready"
    );
    if config
        .jwt_secret
        .as_ref()
        .is_some_and(|s| !s.expose().is_empty())
    {
        tracing::info!("POST /v1/events takes a bearer token: example-api token --sub <name>");
    } else {
        tracing::info!(
            "POST /v1/events is refused until JWT_SECRET is set; then example-api token --sub <name> prints a token"
        );
    }
    let addr = config.server.bind_addr();
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        Failure::new(
            1,
            format!("cannot listen on {addr} (server.host, server.port): {err}"),
        )
    })?;
    Ok(Ready {
        listener,
        state,
        db,
        _rate_limit_metrics: rate_limit_metrics,
    })
}

/// `CORS_ORIGIN` (none when empty; the origins come from the config, the
/// rest is this API's): browsers may call `GET`/`POST` with a bearer token
/// and read the quota, request id and version headers.
fn cors(server: &ServerConfig) -> Option<CorsLayer> {
    server.cors_layer().map(|cors| {
        let mut exposed = RESPONSE_HEADERS.to_vec();
        exposed.extend([
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static(API_VERSION_HEADER),
        ]);
        cors.allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers(exposed)
    })
}

/// `example-api token`: a short-lived HS256 token for trying the API.
fn token(config: &Config, sub: String, ttl: u64) -> ExitCode {
    let Some(secret) = config
        .jwt_secret
        .as_ref()
        .filter(|s| !s.expose().is_empty())
    else {
        eprintln!("error: jwt_secret is not set; set JWT_SECRET (or JWT_SECRET_FILE)");
        return exit(EXIT_CONFIG);
    };
    let exp = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0) + ttl;
    let claims = auth::Claims { sub, exp };
    match jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
    ) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot sign the token: {err}");
            exit(1)
        }
    }
}

/// Prints an error of startup before logging is set up (it names the key
/// and source, never a secret) and returns its exit status (78 for
/// configuration).
fn config_error(err: &(impl std::fmt::Display + ExitCoded)) -> ExitCode {
    eprintln!("example-api: {err}");
    exit(err.exit_code())
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
