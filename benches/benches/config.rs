//! Config load: a realistic service config (server, database, rate limit,
//! telemetry and a secret) from `config/default.toml`, `config/staging.toml`
//! and 20 variables, by appenv's loader (load, policy check, explain as
//! JSON) against a bare figment extract of the same data.
//!
//! Both read the two files on every iteration. figment is given the
//! variables already typed and at their nested keys (what its own `Env`
//! provider would produce after mapping names), so the ratio is what
//! appenv's name mapping, string-first conversion, provenance and policy
//! cost on top of figment.

use appenv_config::{AppEnv, Loader, Registry, SecretString, Section, ServerConfig};
use appenv_migrate::DatabaseConfig;
use appenv_observability::TelemetryConfig;
use appenv_rate_limit::RateLimitConfig;
use criterion::{Criterion, criterion_group, criterion_main};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct AppConfig {
    server: ServerConfig,
    database: DatabaseConfig,
    rate_limit: RateLimitConfig,
    telemetry: TelemetryConfig,
    jwt_secret: SecretString,
}

impl Section for AppConfig {
    fn defaults(env: AppEnv) -> Self {
        AppConfig {
            server: ServerConfig::defaults(env),
            database: DatabaseConfig::defaults(env),
            rate_limit: RateLimitConfig::defaults(env),
            telemetry: TelemetryConfig::defaults(env),
            jwt_secret: SecretString::new(String::new()),
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<ServerConfig>("server")
            .section::<DatabaseConfig>("database")
            .section::<RateLimitConfig>("rate_limit")
            .section::<TelemetryConfig>("telemetry")
            .secret("jwt_secret");
    }
}

const DEFAULT_TOML: &str = r#"
[server]
port = 3001
cors_origin = ["https://app.example.com"]

[database]
max_connections = 10
min_connections = 1
connect_timeout_ms = 5000

[rate_limit]
window_ms = 60000
max = 100
key = "ip"

[telemetry]
log_format = "json"
service_name = "events-api"
"#;

const STAGING_TOML: &str = r#"
[server]
host = "0.0.0.0"

[database]
max_connections = 20
idle_timeout_ms = 600000

[rate_limit]
max = 300
redis_timeout_ms = 50

[telemetry]
log_level = "debug"
traces_sampler = "parentbased_traceidratio"
traces_sampler_arg = 0.5
"#;

/// The 20 variables, as the process environment would hold them.
const VARS: [(&str, &str); 20] = [
    ("APP_ENV", "staging"),
    ("PORT", "4001"),
    ("HOST", "0.0.0.0"),
    (
        "CORS_ORIGIN",
        "https://app.example.com,https://admin.example.com",
    ),
    (
        "DATABASE_URL",
        "postgres://events:s3cr3t-password@db.staging.internal:5432/events_staging?sslmode=require",
    ),
    ("DATABASE__MAX_CONNECTIONS", "25"),
    ("MIGRATE_ON_STARTUP", "false"),
    ("RATE_LIMIT_MAX", "200"),
    ("RATE_LIMIT_WINDOW_MS", "30000"),
    ("RATE_LIMIT_BURST", "50"),
    ("TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.0/16"),
    ("LOG_LEVEL", "info"),
    ("LOG_FORMAT", "json"),
    ("OTEL_SERVICE_NAME", "events-api"),
    ("SERVICE_VERSION", "1.4.2"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"),
    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
    ("JWT_SECRET", "0123456789abcdef0123456789abcdef-staging"),
    ("HOME", "/home/app"),
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
];

/// The same variables typed and at their nested keys, for figment.
fn figment_overrides(figment: Figment) -> Figment {
    figment
        .merge(Serialized::default("server.port", 4001))
        .merge(Serialized::default("server.host", "0.0.0.0"))
        .merge(Serialized::default(
            "server.cors_origin",
            ["https://app.example.com", "https://admin.example.com"],
        ))
        .merge(Serialized::default("database.url", VARS[4].1))
        .merge(Serialized::default("database.max_connections", 25))
        .merge(Serialized::default("database.migrate_on_startup", false))
        .merge(Serialized::default("rate_limit.max", 200))
        .merge(Serialized::default("rate_limit.window_ms", 30000))
        .merge(Serialized::default("rate_limit.burst", 50))
        .merge(Serialized::default(
            "server.trusted_proxies",
            ["10.0.0.0/8", "192.168.0.0/16"],
        ))
        .merge(Serialized::default("telemetry.log_level", "info"))
        .merge(Serialized::default("telemetry.log_format", "json"))
        .merge(Serialized::default("telemetry.service_name", "events-api"))
        .merge(Serialized::default("telemetry.service_version", "1.4.2"))
        .merge(Serialized::default(
            "telemetry.otlp_endpoint",
            "http://otel-collector:4317",
        ))
        .merge(Serialized::default(
            "telemetry.traces_sampler",
            "parentbased_traceidratio",
        ))
        .merge(Serialized::default("jwt_secret", VARS[17].1))
}

fn config_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("default.toml"), DEFAULT_TOML).expect("write default.toml");
    std::fs::write(dir.path().join("staging.toml"), STAGING_TOML).expect("write staging.toml");

    // Both sides must agree on the result before anything is measured.
    let ours = Loader::hermetic(VARS)
        .config_dir(dir.path())
        .load::<AppConfig>()
        .expect("appenv loads the config");
    let theirs: AppConfig = figment_overrides(
        Figment::from(Serialized::defaults(AppConfig::defaults(AppEnv::Staging)))
            .merge(Toml::file(dir.path().join("default.toml")))
            .merge(Toml::file(dir.path().join("staging.toml"))),
    )
    .extract()
    .expect("figment extracts the config");
    assert_eq!(
        serde_json::to_value(ours.config()).expect("serialize"),
        serde_json::to_value(&theirs).expect("serialize"),
        "appenv and figment must produce the same config"
    );

    let mut group = c.benchmark_group("config_load");
    group.bench_function("figment", |b| {
        b.iter(|| {
            figment_overrides(
                Figment::from(Serialized::defaults(AppConfig::defaults(AppEnv::Staging)))
                    .merge(Toml::file(dir.path().join("default.toml")))
                    .merge(Toml::file(dir.path().join("staging.toml"))),
            )
            .extract::<AppConfig>()
            .expect("figment extracts the config")
        })
    });
    group.bench_function("appenv", |b| {
        b.iter(|| {
            let loaded = Loader::hermetic(VARS)
                .config_dir(dir.path())
                .load::<AppConfig>()
                .expect("appenv loads the config");
            let violations = loaded.policy().violations.len();
            let explain = loaded.explain().to_json();
            (loaded, violations, explain)
        })
    });
    group.finish();
}

criterion_group!(benches, config_load);
criterion_main!(benches);
