use appenv_config::Section;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize, Section)]
struct Config {
    #[serde(skip)]
    #[config(alias = "CACHE")]
    cache: u32,
    #[serde(flatten)]
    #[config(secret)]
    extra: BTreeMap<String, String>,
}

fn main() {}
