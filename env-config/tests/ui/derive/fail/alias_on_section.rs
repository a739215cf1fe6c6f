use appenv_config::{Section, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[config(section, alias = "SERVER")]
    server: ServerConfig,
    #[config(alias_inverted = "NO_ADMIN", section)]
    admin: ServerConfig,
}

fn main() {}
