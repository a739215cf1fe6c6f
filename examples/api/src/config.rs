//! The service's configuration: the four crates' sections composed into
//! one struct, loaded once.

use std::path::{Path, PathBuf};

use appenv_config::{AppEnv, Check, Loader, SecretString, Section, ServerConfig};
use appenv_migrate::DatabaseConfig;
use appenv_observability::{LifecycleConfig, TelemetryConfig};
use appenv_rate_limit::RateLimitConfig;
use serde::{Deserialize, Serialize};

/// Where the local SQLite database lives when `DATABASE_URL` is unset.
pub(crate) const LOCAL_DATABASE_URL: &str = "sqlite://data/example-api.db";

/// Everything example-api reads from its environment.
///
/// | key | variables |
/// |---|---|
/// | `server` | `HOST`, `PORT`, `ENABLE_DEBUG_ENDPOINTS`, `CORS_ORIGIN`, `TRUSTED_PROXIES`, `CLIENT_IP_HEADER` |
/// | `database` | `DATABASE_URL`, `MIGRATE_ON_STARTUP`, `DATABASE__MAX_CONNECTIONS`, … |
/// | `rate_limit` | `DISABLE_RATE_LIMITING`, `RATE_LIMIT_MAX`, `RATE_LIMIT_WINDOW_MS`, `RATE_LIMIT_BACKEND`, `RATE_LIMIT_REDIS_URL`, … |
/// | `telemetry` | `LOG_LEVEL`, `LOG_FORMAT`, `RUST_LOG`, `OTEL_*` |
/// | `lifecycle` | `SHUTDOWN_DELAY_MS`, `SHUTDOWN_DRAIN_MS`, `HTTP_HEADER_READ_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS` |
/// | `jwt_secret` | `JWT_SECRET` (or `JWT_SECRET_FILE`) |
#[derive(Debug, Serialize, Deserialize, Section)]
#[serde(deny_unknown_fields)]
#[config(rule(id = "example-api.database-url", check = database_configured))]
pub(crate) struct Config {
    #[config(section)]
    pub(crate) server: ServerConfig,
    #[config(section, default_fn = database_defaults)]
    pub(crate) database: DatabaseConfig,
    #[config(section)]
    pub(crate) rate_limit: RateLimitConfig,
    #[config(section, default_fn = telemetry_defaults)]
    pub(crate) telemetry: TelemetryConfig,
    #[config(section)]
    pub(crate) lifecycle: LifecycleConfig,
    /// The HS256 key that signs the bearer tokens `POST /v1/events` accepts.
    #[config(secret)]
    pub(crate) jwt_secret: Option<SecretString>,
}

/// The database defaults, with a SQLite file under `./data/` locally so
/// there is nothing to set up.
fn database_defaults(env: AppEnv) -> DatabaseConfig {
    let mut database = DatabaseConfig::defaults(env);
    if env.is_local() {
        database.url = LOCAL_DATABASE_URL.into();
    }
    database
}

/// The telemetry defaults, naming this service and its version.
fn telemetry_defaults(env: AppEnv) -> TelemetryConfig {
    TelemetryConfig::defaults(env).with_service(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// `example-api.database-url`: the service cannot run without a database.
fn database_configured(check: &mut Check<'_>, cfg: &Config) -> Result<(), appenv_config::Error> {
    if cfg.database.url.is_empty() {
        check.forbid(
            "database.url",
            format!("no database is configured for {}", check.env()),
            "set DATABASE_URL (postgres://, mysql:// or sqlite://)",
        );
    }
    Ok(())
}

/// The config directory when `APP_CONFIG_DIR` is unset: `./config` when
/// the working directory has one, else (under `cargo run`, which sets
/// `CARGO_MANIFEST_DIR` at run time) this example's own `config/`. Nothing
/// is read from where the binary was built: a copied binary reads only its
/// working directory.
fn config_dir() -> PathBuf {
    let here = PathBuf::from("config");
    if here.is_dir() {
        return here;
    }
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if Path::new(&dir).join("config").is_dir() => Path::new(&dir).join("config"),
        _ => here,
    }
}

/// The loader `serve`, `migrate` and `config explain/check` share: the
/// process environment, `.env` files in the working directory (local
/// only), and [`config_dir`] unless `APP_CONFIG_DIR` names one.
pub(crate) fn loader() -> Loader {
    // The example's own placeholders, compiled in: a container without
    // `.env.example` still refuses them as secrets.
    let loader =
        Loader::from_process_env().placeholders(appenv_config::placeholders!(".env.example"));
    if std::env::var_os(appenv_config::CONFIG_DIR_VAR).is_some() {
        loader
    } else {
        loader.config_dir(config_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(vars: &[(&str, &str)]) -> appenv_config::Loaded<Config> {
        Loader::hermetic(vars.iter().copied())
            .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
            .dotenv_dir(env!("CARGO_MANIFEST_DIR"))
            .load::<Config>()
            .expect("configuration loads")
    }

    #[test]
    fn local_needs_no_variables() {
        let loaded = load_with(&[]);
        let config = loaded.config();
        assert_eq!(loaded.env(), AppEnv::Local);
        assert_eq!(config.database.url.expose(), LOCAL_DATABASE_URL);
        assert_eq!(config.server.bind_addr().to_string(), "127.0.0.1:3001");
        assert!(!config.rate_limit.enabled);
        assert!(loaded.policy().is_ok(), "{}", loaded.policy());
    }

    #[test]
    fn staging_without_a_database_is_refused() {
        let loaded = load_with(&[("APP_ENV", "staging"), ("JWT_SECRET", &"k".repeat(40))]);
        let report = loaded.policy();
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.rule == "example-api.database-url" && v.key == "database.url"),
            "{report}"
        );
    }

    #[test]
    fn flat_variables_reach_every_section() {
        let loaded = load_with(&[
            ("PORT", "4100"),
            ("DATABASE_URL", "postgres://app@db/events"),
            ("RATE_LIMIT_MAX", "7"),
            ("LOG_FORMAT", "json"),
        ]);
        let config = loaded.config();
        assert_eq!(config.server.port, 4100);
        assert_eq!(config.database.url.expose(), "postgres://app@db/events");
        assert_eq!(config.rate_limit.max, 7);
        assert_eq!(
            config.telemetry.log_format,
            appenv_observability::LogFormat::Json
        );
    }
}
