use appenv_config::Section;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
#[config(secret)]
struct Config {
    #[config(rule(id = "svc.port", check = check_port))]
    port: u16,
}

fn main() {}
