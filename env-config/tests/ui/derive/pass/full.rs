//! Every attribute together, from a crate that names only `appenv_config`
//! (and serde for its own derives).

use appenv_config::{AppEnv, Check, Error, Loader, SecretString, SecretUrl, Section, ServerConfig};
use serde::{Deserialize, Serialize};

const RULE_POOL: &str = "svc.pool";

#[derive(Debug, Serialize, Deserialize, Section)]
#[serde(deny_unknown_fields)]
#[config(rule(id = "svc.token-prefix", check = token_prefix))]
#[config(rule(id = RULE_POOL, check = |check: &mut Check<'_>, cfg: &Config| {
    if cfg.database.pool == 0 {
        check.deny("database.pool", "no connections", "set DATABASE_POOL");
    }
    Ok(())
}))]
struct Config {
    #[config(section)]
    server: ServerConfig,
    #[config(section, default_fn = database)]
    database: Database,
    #[config(secret, alias = "API_TOKEN", alias = "TOKEN")]
    api_token: Option<SecretString>,
    #[config(default = true, local = false, alias_inverted = "DISABLE_AUDIT")]
    audit: bool,
    #[config(default_fn = workers)]
    workers: usize,
    #[serde(rename = "type")]
    #[config(default = "api")]
    r#type: String,
    tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, Section)]
struct Database {
    #[config(database_url, secret, default = "sqlite://data/app.db")]
    url: SecretUrl,
    #[config(default = 5, staging = 10, production = 20)]
    pool: u32,
}

fn database(env: AppEnv) -> Database {
    Database::defaults(env)
}

fn workers(env: AppEnv) -> usize {
    if env.is_production() { 8 } else { 2 }
}

fn token_prefix(check: &mut Check<'_>, cfg: &Config) -> Result<(), Error> {
    if cfg.r#type.is_empty() {
        check.warn("type", "no type", "set TYPE");
    }
    Ok(())
}

fn main() {
    let loaded = Loader::hermetic([("DISABLE_AUDIT", "false")])
        .config_dir("/nonexistent")
        .load::<Config>()
        .unwrap();
    assert!(loaded.config().audit);
    assert_eq!(loaded.config().workers, 2);
}
