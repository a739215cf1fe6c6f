//! A service-shaped configuration used by the integration tests, and a
//! scratch directory helper.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use appenv_config::{
    AppEnv, Loaded, Loader, Registry, SecretString, SecretUrl, Section, ServerConfig,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Database {
    pub url: SecretUrl,
    pub max_connections: u32,
}

impl Section for Database {
    fn defaults(env: AppEnv) -> Self {
        Database {
            url: SecretUrl::from("sqlite://data/app.db"),
            max_connections: if env.is_production() { 20 } else { 5 },
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.database_url("url");
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RateLimit {
    pub enabled: bool,
    pub window_ms: u64,
    pub max: u32,
}

impl Section for RateLimit {
    fn defaults(env: AppEnv) -> Self {
        RateLimit {
            enabled: !env.is_local(),
            window_ms: 60_000,
            max: 100,
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.alias_inverted("DISABLE_RATE_LIMITING", "enabled").rule(
            "rate-limit.disabled",
            |check, rl: &RateLimit| {
                if !rl.enabled {
                    check.violation(
                        "enabled",
                        "rate limiting is off",
                        "unset DISABLE_RATE_LIMITING",
                    );
                }
                Ok(())
            },
        );
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Config {
    pub server: ServerConfig,
    pub database: Database,
    pub rate_limit: RateLimit,
    pub jwt_secret: Option<SecretString>,
    pub name: String,
    pub tags: Vec<String>,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            server: ServerConfig::defaults(env),
            database: Database::defaults(env),
            rate_limit: RateLimit::defaults(env),
            jwt_secret: None,
            name: "events".into(),
            tags: Vec::new(),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<ServerConfig>("server")
            .section::<Database>("database")
            .section::<RateLimit>("rate_limit")
            .secret("jwt_secret");
    }
}

/// A strong secret for tests that need production to pass.
pub const STRONG: &str = "k3J9x2Lm8Qw7Zp4Rt6Yv1Bn5Hc0Df3Gs9Ua2We8";
/// A sentinel that must never appear in any output.
pub const SENTINEL: &str = "SENTINEL-b7e1c9d3a5f2e8b4c6d0a1f3e5b7c9d2";
/// A database password sentinel.
pub const DB_SENTINEL: &str = "DBPASS-sentinel-4f8a2c6e";

/// A scratch directory with `config/` inside.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        Scratch { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::write(&path, text).unwrap();
        path
    }
    pub fn loader<'a>(&self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Loader {
        Loader::hermetic(vars)
            .config_dir(self.config_dir())
            .dotenv_dir(self.path())
    }
    pub fn load<'a>(
        &self,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Loaded<Config>, appenv_config::Error> {
        self.loader(vars).load::<Config>()
    }
}

/// Production variables that pass every built-in rule.
pub fn production_ok() -> Vec<(&'static str, &'static str)> {
    vec![
        ("APP_ENV", "production"),
        ("JWT_SECRET", STRONG),
        (
            "DATABASE_URL",
            "postgres://app:pw@db.internal:5432/events?sslmode=require",
        ),
    ]
}
