use appenv_config::Section;
use serde::{Deserialize, Serialize};

const PORT: &str = "PORT";

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[config(alias = PORT)]
    port: u16,
    #[config(alias = 8080)]
    admin_port: u16,
    #[config(alias = "ADMIN-HOST")]
    admin_host: String,
}

fn main() {}
