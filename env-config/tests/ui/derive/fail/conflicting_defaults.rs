use appenv_config::{AppEnv, Section};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[config(default_fn = port, production = 443)]
    port: u16,
    #[config(default = 1, local = 2, staging = 3, production = 4)]
    workers: u16,
    #[config(default = 1, default = 2)]
    retries: u16,
    #[config(secret = true)]
    token: String,
    #[config(alias = "API_TOKEN")]
    api_token: String,
    #[config(alias = "api_token")]
    other_token: String,
}

fn port(_: AppEnv) -> u16 {
    3001
}

fn main() {}
