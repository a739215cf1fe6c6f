use appenv_config::{Section, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[config(section, secret)]
    server: ServerConfig,
    #[config(database_url, section)]
    admin: ServerConfig,
}

fn main() {}
