use appenv_config::{Check, Error, Section};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Section)]
#[config(rule(check = check_port))]
#[config(rule(id = "svc.port"))]
#[config(rule(id = "Service Port", check = check_port))]
#[config(rule(id = "svc.port", check = check_port), rule(id = "svc.port", check = check_port))]
#[config(rule = check_port)]
struct Config {
    port: u16,
}

fn check_port(_: &mut Check<'_>, _: &Config) -> Result<(), Error> {
    Ok(())
}

fn main() {}
