//! Prints the effective configuration for the current `APP_ENV`, or the
//! configuration error (exit status 78).
//!
//! Run with: `cargo run -p example-api`

use appenv_config::{AppEnv, Registry, Section, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    server: ServerConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            server: ServerConfig::defaults(env),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<ServerConfig>("server");
    }
}

fn main() {
    match appenv_config::load::<Config>() {
        Ok(loaded) => print!("{}", loaded.explain()),
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(err.exit_code());
        }
    }
}
