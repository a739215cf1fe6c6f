use appenv_config::{Section, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[config(section, default = ServerConfig::defaults(appenv_config::AppEnv::Local))]
    server: ServerConfig,
    #[config(section, production = ServerConfig::defaults(appenv_config::AppEnv::Staging))]
    admin: ServerConfig,
}

fn main() {}
